"""The lifecycle chains against a scripted cluster (fake helm and kubectl that keep the release's state in a file,
and an ingress controller on 127.0.0.1 that serves what that state says): suspend ends suspended with the engine's
pods gone and the closed page served, resume ends ready and served, an upgrade that breaks a pod is rolled back
to the revision that served with the reason recorded, tenant values and secrets reach helm in the 0600 file only,
every step leaves a run row and every move an audit row; the fleet stops at its first failure; a worker killed
mid-upgrade leaves a store that recovery resumes and finishes."""

import contextlib
import http.server
import json
import os
import signal
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEvent
from backups.models import Backup
from backups.tests.conftest import s3, s3_endpoint  # noqa: F401  (fixtures: the backup an upgrade takes first)
from provisioning import concurrency, lifecycle
from provisioning.models import ProvisioningRun, RunStatus
from provisioning.recovery import recover
from provisioning.tests.celery_worker import spawn_worker, stop_worker, wait_for
from provisioning.values import ensure_secrets
from stores import services as store_services
from stores.models import LifecycleStatus, Store, StoreStatus
from stores.tests.factories import StoreFactory
from stores.tests.helpers import queued_tasks

S, L = StoreStatus, LifecycleStatus
# The steps of the backup an upgrade takes before helm upgrade (backups.services.backup_before_upgrade).
BACKUP_STEPS = [(name, RunStatus.SUCCEEDED) for name in ("backup_database", "backup_uploads", "backup_manifest")]
BACKUP_S3_SETTINGS = ("BACKUP_S3_ENDPOINT", "BACKUP_S3_BUCKET", "BACKUP_S3_ACCESS_KEY", "BACKUP_S3_SECRET_KEY")

# helm: upgrade writes what the release now runs (suspended? the WordPress image tag?) to STATE; rollback puts back
# the state of the revision it returns to; history answers from the revisions recorded so far.
FAKE_HELM = r"""
import json, os, stat, sys, time, yaml
ns = argv[argv.index("--namespace") + 1]
STATE = f"{STATE}.{ns}"
state = json.load(open(STATE)) if os.path.exists(STATE) else json.loads(FIRST)
cmd = argv[0]
def save():
    json.dump(state, open(STATE, "w"))
if cmd == "upgrade":
    files = [argv[i + 1] for i, a in enumerate(argv) if a == "-f"]
    values = yaml.safe_load(open(files[-1]))
    with open(RECORD, "a") as rec:
        rec.write(json.dumps({"argv": argv, "mode": oct(stat.S_IMODE(os.stat(files[-1]).st_mode)),
                              "values": values}) + "\n")
    if os.path.exists(STATE + ".slow"):
        open(STATE + ".pid", "w").write(str(os.getpid()))
        state["revisions"].append({"suspended": False, "tag": "", "status": "pending-upgrade"}); save()
        time.sleep(60)
    tag = ((values.get("wordpress") or {}).get("image") or {}).get("tag", "")
    shut = {"suspended": bool(values.get("suspended")), "maintenance": bool(values.get("maintenance"))}
    state["revisions"].append({**shut, "tag": tag, "status": "deployed"})
    for older in state["revisions"][:-1]:
        older["status"] = "superseded" if older["status"] == "deployed" else older["status"]
    save()
    print(json.dumps({"name": argv[2], "namespace": "ns", "version": len(state["revisions"]),
                      "info": {"status": "deployed"}}))
    sys.exit(0)
if cmd == "history":
    if not state["revisions"]:
        print("Error: release: not found", file=sys.stderr); sys.exit(1)
    print(json.dumps([{"revision": i + 1, "status": r["status"]} for i, r in enumerate(state["revisions"])]))
    sys.exit(0)
if cmd == "rollback":
    target = int(argv[2])
    with open(RECORD, "a") as rec:
        rec.write(json.dumps({"argv": argv}) + "\n")
    back = dict(state["revisions"][target - 1])
    for older in state["revisions"]:
        if older["status"] == "deployed":
            older["status"] = "superseded"
        elif older["status"].startswith("pending"):
            older["status"] = "failed"
    back["status"] = "deployed"
    state["revisions"].append(back); save()
    print("Rollback was a success!"); sys.exit(0)
print("unexpected helm call", argv, file=sys.stderr); sys.exit(3)
"""

# kubectl: pods and workloads as the release's current revision makes them.
FAKE_KUBECTL = r"""
import json, os, sys, time
args = [a for a in argv if not a.startswith("--request-timeout")]
ns = args[args.index("--namespace") + 1] if "--namespace" in args else "ns"
STATE = f"{STATE}.{ns}"
state = json.load(open(STATE)) if os.path.exists(STATE) else json.loads(FIRST)
current = next((r for r in reversed(state["revisions"]) if r["status"] == "deployed"), {"suspended": False, "tag": ""})
def pod(component, reason=None):
    status = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
              "containerStatuses": [{"name": component, "image": "img", "state": {"running": {}}}]}
    if reason:
        status = {"phase": "Pending", "containerStatuses": [{"name": component, "image": "storeplane.local/wordpress:"
                  + current["tag"], "state": {"waiting": {"reason": reason, "message": "not present"}}}]}
    return {"metadata": {"name": f"{ns}-{component}-0", "labels": {"app.kubernetes.io/component": component}},
            "status": status, "spec": {"containers": [{"name": component}]}}
if "exec" in args:  # a backup's dump or archive (the backups app's step before helm upgrade)
    container = args[args.index("-c") + 1]
    with open(RECORD, "a") as rec:
        rec.write(json.dumps({"argv": args}) + "\n")
    if "-i" in args and container == "mariadb" and os.path.exists(STATE + ".slowload"):  # a restore's load hangs
        open(STATE + ".pid", "w").write(str(os.getpid()))
        time.sleep(60)
    if container == "mariadb" and os.path.exists(STATE + ".dumpfail"):
        print("mariadb-dump: Got error: 2013: Lost connection to server during query", file=sys.stderr)
        sys.exit(2)
    sys.stdout.buffer.write(DUMPS[container].encode()); sys.exit(0)
if "get" in args and "secrets" in args:
    print(f"{ns}-mariadb mariadb-password mariadb-root-password"); sys.exit(0)
if "delete" in args and "pod" in args:
    with open(RECORD, "a") as rec:
        rec.write(json.dumps({"argv": args}) + "\n")
    sys.exit(0)
if "get" in args and "pods" in args:
    if "--selector" in args:  # component_pod: the ready pod of one component
        component = args[args.index("--selector") + 1].split("=")[1]
        print(json.dumps({"items": [pod(component)]})); sys.exit(0)
    if current["suspended"]:
        items = [pod("closed")]
    elif current["tag"] == "broken":
        items = [pod("wordpress", "ErrImageNeverPull"), pod("mariadb")]
    else:
        items = [pod("wordpress"), pod("mariadb")]
    print(json.dumps({"items": items})); sys.exit(0)
if "get" in args and "deployments,statefulsets" in args:
    n = 0 if current["suspended"] else 1
    ready = 0 if current["tag"] == "broken" else n
    def workload(kind, name):
        return {"kind": kind, "metadata": {"name": f"{ns}-{name}", "generation": 2},
                "spec": {"replicas": n}, "status": {"observedGeneration": 2, "replicas": n, "updatedReplicas": n,
                "readyReplicas": ready, "currentRevision": "r", "updateRevision": "r"}}
    print(json.dumps({"items": [workload("Deployment", "wordpress"), workload("StatefulSet", "mariadb")]}))
    sys.exit(0)
if "get" in args and "ingress" in args:
    print(json.dumps({"items": [{"metadata": {"name": ns}, "spec": {"rules": [{"host": ns + ".localhost"}]},
                                 "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}}]})); sys.exit(0)
print("unexpected kubectl call", args, file=sys.stderr); sys.exit(3)
"""


# What the store's pods print for a backup (mariadb-dump in the database's container, tar in WordPress's).
DUMPS = {"mariadb": "-- MariaDB dump\nINSERT INTO wp_posts VALUES (1);\n" * 1000, "wordpress": "TARDATA" * 100}
# Every release starts as the create chain left it: one revision, deployed, open, the platform's image tags.
FIRST = {"revisions": [{"suspended": False, "tag": "", "status": "deployed"}]}


class Controller:
    """The ingress controller's port: the closed page while the release's current revision is suspended or in
    maintenance, the shop otherwise (with the store API in JSON), as the real chart routes it."""

    def __init__(self, state: Path) -> None:
        def current(host: str) -> dict:
            path = Path(f"{state}.{host.split('.')[0]}")
            revisions = json.loads(path.read_text())["revisions"] if path.exists() else []
            return next((r for r in reversed(revisions) if r["status"] == "deployed"), {"suspended": False})

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                now = current(self.headers.get("Host", ""))
                if now.get("suspended") or now.get("maintenance"):
                    code, kind, reason = 503, "text/html", "suspended" if now.get("suspended") else "maintenance"
                    body = b'<html><meta name="storeplane-status" content="%s">closed</html>' % reason.encode()
                elif self.path.startswith("/store/"):
                    code, kind, body = 200, "application/json", b'{"regions": []}'
                else:
                    code, kind, body = 200, "text/html", b"<!doctype html><title>shop</title>"
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def life(fake_tool, settings, tmp_path, s3):  # noqa: F811  (the imported fixture)
    """The scripted cluster, and a real S3 endpoint (rclone serve s3) for the backup every upgrade takes first."""
    state, record = tmp_path / "release.json", tmp_path / "calls.jsonl"
    prelude = (
        f"STATE = {str(state)!r}\nRECORD = {str(record)!r}\nFIRST = {json.dumps(json.dumps(FIRST))}\n"
        f"DUMPS = {DUMPS!r}\n"
    )
    helm = fake_tool("helm", prelude + FAKE_HELM)
    kubectl = fake_tool("kubectl", prelude + FAKE_KUBECTL)
    controller = Controller(state)
    settings.HELM_BIN, settings.KUBECTL_BIN = str(helm.path), str(kubectl.path)
    settings.KUBECONFIG = str(tmp_path / "kubeconfig")
    settings.STORE_INGRESS_ADDRESS, settings.STORE_INGRESS_PORT = "127.0.0.1", controller.port
    settings.READINESS_TIMEOUT_SECONDS = settings.STORE_SERVE_TIMEOUT_SECONDS = 10
    monkey_poll = lifecycle.POLL_SECONDS
    lifecycle.POLL_SECONDS = 0.05

    def calls() -> list[dict]:
        return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []

    yield SimpleNamespace(
        state=state,
        calls=calls,
        helm=helm,
        kubectl=kubectl,
        port=controller.port,
        tmp=tmp_path,
        bucket=s3,
        revisions=lambda store: json.loads(Path(f"{state}.{store.namespace}").read_text())["revisions"],
        release=lambda store: Path(f"{state}.{store.namespace}"),
    )
    lifecycle.POLL_SECONDS = monkey_poll
    controller.server.shutdown()
    controller.server.server_close()


def ready_store(**kw) -> Store:
    store = StoreFactory(status=S.READY, **kw)
    ensure_secrets(Store.objects.select_related("owner").get(pk=store.pk))
    return Store.objects.get(pk=store.pk)


def steps(store: Store, operation: str) -> list[tuple[str, str]]:
    return list(
        ProvisioningRun.objects.filter(store=store, operation=operation).order_by("id").values_list("step", "status")
    )


def moves(store: Store) -> list[tuple[str | None, str | None]]:
    return [
        (e.previous_status, e.new_status)
        for e in AuditEvent.objects.filter(store_id=store.pk).order_by("id")
        if e.new_status
    ]


@pytest.mark.django_db
def test_suspend_then_resume_through_the_chains(life):
    store = ready_store()
    secrets = Store.objects.get(pk=store.pk).secrets
    store_services.store_request_suspend(store_id=store.id, actor=store.owner)
    assert lifecycle.suspend(store.id) == "suspended"
    store.refresh_from_db()
    assert store.status == L.SUSPENDED and store.suspended_at is not None
    assert steps(store, "suspend") == [
        ("release_check", RunStatus.SUCCEEDED),
        ("helm_suspend", RunStatus.SUCCEEDED),
        ("workloads_stopped", RunStatus.SUCCEEDED),
        ("closed_page", RunStatus.SUCCEEDED),
        ("suspended", RunStatus.SUCCEEDED),
    ]
    (install,) = [c for c in life.calls() if c["argv"][0] == "upgrade"]
    assert install["values"]["suspended"] is True and install["mode"] == "0o600"
    # The same secrets as at creation, and none of them on the command line or in a run row.
    assert install["values"]["mariadb"]["password"] == secrets["dbPassword"]
    recorded = json.dumps(list(ProvisioningRun.objects.filter(store=store).values("argv", "error")))
    for value in secrets.values():
        assert value not in json.dumps(install["argv"]) and value not in recorded
    # A suspended store holds no slot of the semaphore.
    assert concurrency.provisioning_semaphore().stats()["active"] == 0

    # The owner changed its password while the store was suspended: the change waits for the store to run again.
    store_services.store_set_pending_admin_password(store_id=store.id, password="changed-while-closed")
    store_services.store_request_resume(store_id=store.id, actor=store.owner)
    assert lifecycle.resume(store.id) == "ready"
    store.refresh_from_db()
    assert store.status == S.READY and store.suspended_at is None
    assert ("provisioning.update_store_password", [store.id]) in [(name, args) for name, args, _ in queued_tasks()]
    assert [s for s, _ in steps(store, "resume")] == ["release_check", "helm_resume", "readiness", "served", "ready"]
    assert life.revisions(store)[-1]["suspended"] is False
    assert moves(store) == [
        (S.READY, L.SUSPENDING),
        (L.SUSPENDING, L.SUSPENDED),
        (L.SUSPENDED, L.RESUMING),
        (L.RESUMING, S.READY),
    ]


@pytest.mark.django_db
def test_a_suspension_whose_closed_page_is_not_served_fails_with_the_reason(life, monkeypatch, settings):
    settings.STORE_SERVE_TIMEOUT_SECONDS = 1
    store = ready_store()
    monkeypatch.setattr(lifecycle, "CLOSED_MARKER", b"a marker no page carries (%s)")
    store_services.store_request_suspend(store_id=store.id, actor=store.owner)
    assert lifecycle.suspend(store.id) == "failed"
    store.refresh_from_db()
    assert store.status == S.FAILED
    assert store.failure_reason.startswith("Suspension failed: The closed page was not served at")
    assert steps(store, "suspend")[-1] == ("closed_page", RunStatus.FAILED)


@pytest.mark.django_db
def test_an_upgrade_that_serves_records_the_new_values(life):
    store = ready_store()
    values = {"wordpress": {"image": {"tag": "6.7.2"}}}
    store_services.store_request_upgrade(store_id=store.id, actor=store.owner, values=values)
    assert lifecycle.upgrade(store.id) == "upgraded"
    store.refresh_from_db()
    assert store.status == S.READY and store.pending_upgrade is None
    assert store.chart_values == values
    assert store.chart_version == store_services.available_chart_versions()[0]
    assert store.last_upgrade["outcome"] == "succeeded" and store.last_upgrade["fromRevision"] == 1
    (install,) = [c for c in life.calls() if c["argv"][0] == "upgrade"]
    assert install["values"]["wordpress"]["image"] == {"tag": "6.7.2"}
    assert install["values"]["wordpress"]["saltSeed"] == Store.objects.get(pk=store.pk).secrets["saltSeed"]
    assert "--wait" not in install["argv"]  # the health step waits, and fails fast on a broken pod
    # A later install (a retry) keeps the tenant's values: they are the store's now.
    from provisioning.values import helm_values

    assert helm_values(store, store.secrets)["wordpress"]["image"] == {"tag": "6.7.2"}


@pytest.mark.django_db
def test_an_upgrade_takes_a_backup_of_the_store_before_helm_upgrade(life, tenant, tenant_api):
    store = ready_store(owner=tenant)
    store_services.store_request_upgrade(
        store_id=store.id, actor=store.owner, values={"wordpress": {"image": {"tag": "6.7.2"}}}
    )
    assert lifecycle.upgrade(store.id) == "upgraded"
    assert steps(store, "upgrade") == [
        ("release_check", RunStatus.SUCCEEDED),
        ("previous_revision", RunStatus.SUCCEEDED),
        *BACKUP_STEPS,
        ("helm_upgrade", RunStatus.SUCCEEDED),
        ("health", RunStatus.SUCCEEDED),
        ("upgraded", RunStatus.SUCCEEDED),
    ]
    # The cluster saw the dumps first, then helm upgrade.
    order = [c["argv"][0] if c["argv"][0] == "upgrade" else c["argv"][c["argv"].index("-c") + 1] for c in life.calls()]
    assert order == ["mariadb", "wordpress", "upgrade"]
    (backup,) = Backup.objects.filter(store=store)
    assert (backup.status, backup.trigger, backup.requested_by) == ("succeeded", "upgrade", store.owner.email)
    folder = life.bucket / "stores" / store.id / backup.id
    assert (folder / "database.sql").read_text() == DUMPS["mariadb"] and (folder / "manifest.json").exists()
    # What the tenant reads: the backup in the store's backups, taken for the upgrade, and named by its outcome.
    listed = tenant_api.get(f"/api/v1/stores/{store.id}/backups").json()["backups"]
    assert [(b["id"], b["trigger"], b["restorable"]) for b in listed] == [(backup.id, "upgrade", True)]
    last = tenant_api.get(f"/api/v1/stores/{store.id}/lifecycle").json()["lifecycle"]["lastUpgrade"]
    assert (last["outcome"], last["backupId"]) == ("succeeded", backup.id)
    requested = AuditEvent.objects.get(
        store_id=store.pk, metadata__backupId=backup.id, metadata__backupStatus="requested"
    )
    assert requested.message.startswith(f"Backup {backup.id} requested before the upgrade to chart")


@pytest.mark.django_db
def test_an_upgrade_whose_backup_fails_does_not_start_and_helm_never_runs(life, tenant, tenant_api):
    store = ready_store(owner=tenant)
    Store.objects.filter(pk=store.pk).update(chart_values={"wordpress": {"image": {"tag": "good"}}})
    secrets = Store.objects.get(pk=store.pk).secrets
    Path(f"{life.release(store)}.dumpfail").write_text("")  # mariadb-dump fails in the store's pod
    life.release(store).write_text(json.dumps(FIRST))
    store_services.store_request_upgrade(
        store_id=store.id, actor=store.owner, values={"wordpress": {"image": {"tag": "6.7.2"}}}
    )
    assert lifecycle.upgrade(store.id) == "not_started"
    store.refresh_from_db()
    (backup,) = Backup.objects.filter(store=store)
    reason = (
        f"The backup taken before the upgrade to chart {store_services.available_chart_versions()[0]} ({backup.id})"
        " failed: The database dump failed: "
        "mariadb-dump: Got error: 2013: Lost connection to server during query"
    )
    # Nothing changed: the store serves as it was, on its values and secrets, and says why the upgrade did not start.
    assert (store.status, store.chart_values, store.pending_upgrade) == (
        S.READY,
        {"wordpress": {"image": {"tag": "good"}}},
        None,
    )
    assert store.secrets == secrets and life.revisions(store) == FIRST["revisions"]
    assert not [c for c in life.calls() if c["argv"][0] in ("upgrade", "rollback")]
    last = tenant_api.get(f"/api/v1/stores/{store.id}/lifecycle").json()["lifecycle"]["lastUpgrade"]
    assert (last["outcome"], last["reason"], last["backupId"]) == ("not_started", reason, backup.id)
    assert (backup.status, backup.trigger) == ("failed", "upgrade")
    assert (
        backup.failure_reason
        == "The database dump failed: mariadb-dump: Got error: 2013: Lost connection to server during query"
    )
    assert not (life.bucket / "stores" / store.id / backup.id / "manifest.json").exists()
    assert steps(store, "upgrade") == [
        ("release_check", RunStatus.SUCCEEDED),
        ("previous_revision", RunStatus.SUCCEEDED),
        ("backup_database", RunStatus.FAILED),
    ]
    assert moves(store) == [(S.READY, L.UPGRADING), (L.UPGRADING, S.READY)]
    finished = AuditEvent.objects.filter(store_id=store.pk, new_status=S.READY).latest("id")
    assert finished.event_type == "warning" and finished.message == f"Upgrade not started: {reason}"


@pytest.mark.django_db
def test_an_upgrade_that_breaks_the_store_is_rolled_back_and_the_reason_recorded(life):
    store = ready_store()
    Store.objects.filter(pk=store.pk).update(chart_values={"wordpress": {"image": {"tag": "good"}}})
    store_services.store_request_upgrade(
        store_id=store.id, actor=store.owner, values={"wordpress": {"image": {"tag": "broken"}}}
    )
    started = time.monotonic()
    assert lifecycle.upgrade(store.id) == "rolled_back"
    assert time.monotonic() - started < 8  # the broken pod failed the health check at once, not at the timeout
    store.refresh_from_db()
    assert store.status == S.READY
    assert store.chart_values == {"wordpress": {"image": {"tag": "good"}}}  # what it ran before
    outcome = store.last_upgrade
    assert (outcome["outcome"], outcome["fromRevision"]) == ("rolled_back", 1)
    # The backup taken before helm ran is the one a tenant would restore the data a failed version changed from.
    assert Backup.objects.get(pk=outcome["backupId"]).status == "succeeded"
    assert (
        outcome["reason"]
        == "wordpress container wordpress is ErrImageNeverPull (image storeplane.local/wordpress:broken)"
    )
    rollback = [c["argv"] for c in life.calls() if c["argv"][0] == "rollback"]
    assert rollback == [["rollback", store.helm_release, "1", "--namespace", store.namespace]]
    assert life.revisions(store)[-1] == {"suspended": False, "tag": "", "status": "deployed"}
    assert steps(store, "upgrade") == [
        ("release_check", RunStatus.SUCCEEDED),
        ("previous_revision", RunStatus.SUCCEEDED),
        *BACKUP_STEPS,
        ("helm_upgrade", RunStatus.SUCCEEDED),
        ("health", RunStatus.FAILED),
        ("rollback", RunStatus.SUCCEEDED),
        ("rollback_health", RunStatus.SUCCEEDED),
    ]
    assert moves(store) == [(S.READY, L.UPGRADING), (L.UPGRADING, S.READY)]
    finished = AuditEvent.objects.filter(store_id=store.pk).latest("id")
    assert finished.message.startswith("Upgrade rolled back to revision 1: wordpress container")
    assert finished.event_type == "warning"


@pytest.mark.django_db
def test_a_failed_rollback_leaves_the_store_failed_with_both_reasons(life, monkeypatch):
    store = ready_store()
    store_services.store_request_upgrade(
        store_id=store.id, actor=store.owner, values={"wordpress": {"image": {"tag": "broken"}}}
    )
    real = lifecycle._check_health
    calls = []

    def health(store, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # after the rollback too
            raise lifecycle.LifecycleFailed("workloads not ready")
        return real(store, **kwargs)

    monkeypatch.setattr(lifecycle, "_check_health", health)
    assert lifecycle.upgrade(store.id) == "failed"
    store.refresh_from_db()
    assert store.status == S.FAILED
    assert "ErrImageNeverPull" in store.failure_reason
    assert "the rollback to revision 1 failed too: workloads not ready" in store.failure_reason
    assert (store.last_upgrade["outcome"], store.last_upgrade["reason"]) == ("failed", store.failure_reason)
    assert store.pending_upgrade is None


@pytest.mark.django_db(transaction=True)  # each wave's upgrades run in threads of their own (own connections)
def test_the_fleet_goes_in_waves_and_stops_at_the_first_failure(life):
    first, second, third = (ready_store(name=f"fleet-{i}") for i in range(3))
    # The second store's upgrade breaks it (its recorded tenant tag is broken): rolled back, and the fleet stops.
    Store.objects.filter(pk=second.pk).update(chart_values={"wordpress": {"image": {"tag": "broken"}}})
    lines = lifecycle.fleet_upgrade([first.id, second.id, third.id], wave=1)
    assert lines[0] == f"wave 1/3: {first.id}"
    assert lines[1] == f"{first.id}: upgraded"
    assert lines[3].startswith(f"{second.id}: rolled_back (wordpress container wordpress is ErrImageNeverPull")
    assert lines[4] == "stopped after wave 2: a store did not upgrade; 1 store(s) left as they are"
    assert Store.objects.get(pk=third.pk).last_upgrade is None
    assert [Store.objects.get(pk=s.pk).status for s in (first, second, third)] == [S.READY] * 3


@pytest.mark.django_db(transaction=True)
def test_the_command_runs_the_fleet_and_exits_non_zero_when_it_stopped(life, capsys):
    good, bad = ready_store(name="cmd-good"), ready_store(name="cmd-bad")
    Store.objects.filter(pk=bad.pk).update(chart_values={"wordpress": {"image": {"tag": "broken"}}})
    call_command("upgrade_stores", "--wave", "2", "--dry-run")
    assert f"wave 1: {good.id}, {bad.id}" in capsys.readouterr().out
    assert Store.objects.get(pk=good.pk).last_upgrade is None
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="stopped at the first store"):
        call_command("upgrade_stores", "--wave", "2")
    out = capsys.readouterr().out
    assert f"{good.id}: upgraded" in out and f"{bad.id}: rolled_back" in out
    # Upgraded stores are on the shipped chart now: a second run selects only the one still off it.
    call_command("upgrade_stores", "--wave", "1", "--dry-run")
    assert f"wave 1: {bad.id}\n" in capsys.readouterr().out


@pytest.mark.django_db
def test_recovery_resumes_a_lifecycle_operation_whose_worker_was_lost(life, settings):
    settings.RECOVERY_GRACE_SECONDS = 0
    store = ready_store()
    store_services.store_request_upgrade(
        store_id=store.id, actor=store.owner, values={"wordpress": {"image": {"tag": "v2"}}}
    )
    # What a killed worker leaves: a step row still running, a release revision stuck pending, no lock.
    ProvisioningRun.objects.create(store=store, operation="upgrade", step="helm_upgrade")
    life.release(store).write_text(
        json.dumps(
            {
                "revisions": [
                    {"suspended": False, "tag": "", "status": "deployed"},
                    {"suspended": False, "tag": "v2", "status": "pending-upgrade"},
                ]
            }
        )
    )
    Store.objects.filter(pk=store.pk).update(updated_at=timezone.now() - timezone.timedelta(seconds=5))
    assert recover(dry_run=True) == [f"{store.id} upgrading: would resume the operation"]
    assert recover() == [f"{store.id} upgrading: operation resumed"]
    assert [t[:2] for t in queued_tasks()] == [("provisioning.upgrade_store", [store.id])]
    assert not ProvisioningRun.objects.filter(store=store, status=RunStatus.RUNNING).exists()
    # The task the recovery queued: the stuck release is rolled back first, then the upgrade runs again.
    assert lifecycle.upgrade(store.id) == "upgraded"
    store.refresh_from_db()
    assert store.status == S.READY and store.chart_values == {"wordpress": {"image": {"tag": "v2"}}}
    assert [c["argv"][:3] for c in life.calls() if c["argv"][0] == "rollback"] == [
        ["rollback", store.helm_release, "1"]
    ]
    assert AuditEvent.objects.filter(store_id=store.pk, metadata__action="lifecycle_resumed").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_upgrade_leaves_a_store_recovery_finishes(life, settings):
    """A real Celery worker (the fake CLI) is killed with SIGKILL while helm upgrade runs; recovery then resumes
    the upgrade and it finishes: the store is ready with the new values and no step row is left running."""
    settings.RECOVERY_GRACE_SECONDS = 0
    store = ready_store()
    slow = Path(f"{life.release(store)}.slow")
    slow.write_text("")  # helm upgrade hangs (the worker dies meanwhile)
    overlay = {
        "HELM_BIN": str(life.helm.path),
        "KUBECTL_BIN": str(life.kubectl.path),
        "KUBECONFIG": settings.KUBECONFIG,
        "STORE_INGRESS_PORT": str(life.port),
        **{name: str(getattr(settings, name)) for name in BACKUP_S3_SETTINGS},
    }
    worker = spawn_worker(overlay, concurrency=1)
    try:
        store_services.store_request_upgrade(
            store_id=store.id, actor=store.owner, values={"wordpress": {"image": {"tag": "v3"}}}
        )
        running = ProvisioningRun.objects.filter(store=store, step="helm_upgrade", status=RunStatus.RUNNING)
        wait_for(running.exists, 60, "the worker to run helm upgrade")
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        stop_worker(worker, timeout=5)
    pid_file = Path(f"{life.release(store)}.pid")
    if pid_file.exists():  # the fake helm the killed worker started (its own session survives the group kill)
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
    slow.unlink()
    concurrency.get_redis().delete(concurrency.store_lock_key(store.id))  # its lock would expire by itself
    Store.objects.filter(pk=store.pk).update(updated_at=timezone.now() - timezone.timedelta(seconds=5))
    assert Store.objects.get(pk=store.pk).status == L.UPGRADING
    assert recover() == [f"{store.id} upgrading: operation resumed"]
    assert lifecycle.upgrade(store.id) == "upgraded"  # what the queued task does
    store.refresh_from_db()
    assert store.status == S.READY and store.chart_values == {"wordpress": {"image": {"tag": "v3"}}}
    assert not ProvisioningRun.objects.filter(store=store, status=RunStatus.RUNNING).exists()
    interrupted = ProvisioningRun.objects.get(store=store, step="helm_upgrade", status=RunStatus.ERRORED)
    assert interrupted.error == "Interrupted: the worker stopped; resumed by recovery."


@pytest.mark.django_db
def test_an_upgrade_that_cannot_start_leaves_the_store_serving_as_it_was(life, monkeypatch):
    from contextlib import contextmanager

    from provisioning.errors import QueueFull

    no_release, queued_out = ready_store(name="no-release"), ready_store(name="queued-out")
    life.release(no_release).write_text(json.dumps({"revisions": []}))  # nothing ever served: nothing to go back to
    for store in (no_release, queued_out):
        store_services.store_request_upgrade(
            store_id=store.id, actor=store.owner, values={"wordpress": {"image": {"tag": "v9"}}}
        )
    assert lifecycle.upgrade(no_release.id) == "not_started"

    @contextmanager
    def full(store, operation):
        raise QueueFull("The provisioning queue is full (10 waiting, 3 running).")
        yield

    monkeypatch.setattr(lifecycle.services, "_slot", full)
    assert lifecycle.upgrade(queued_out.id) == "not_started"
    for store, why in (
        (no_release, "The release has no revision that served: nothing to roll back to."),
        (queued_out, "Upgrade deferred: The provisioning queue is full (10 waiting, 3 running)."),
    ):
        store.refresh_from_db()
        assert (store.status, store.chart_values, store.pending_upgrade) == (S.READY, {}, None)
        assert (store.last_upgrade["outcome"], store.last_upgrade["reason"]) == ("not_started", why)
    assert not [c for c in life.calls() if c["argv"][0] == "upgrade"]  # helm never changed anything


@pytest.mark.django_db(transaction=True)
def test_the_consoles_fleet_task_runs_the_same_fleet_upgrade(life, admin_user):
    store = ready_store(name="console-fleet")
    lines = lifecycle.upgrade_fleet.run([store.id], 1, str(admin_user.pk))
    assert lines == [f"wave 1/1: {store.id}", f"{store.id}: upgraded"]
    requested = AuditEvent.objects.filter(store_id=store.id, new_status=L.UPGRADING).get()
    assert requested.actor_email == admin_user.email and requested.metadata["action"] == "upgrade"
    assert Store.objects.get(pk=store.pk).pending_upgrade is None
