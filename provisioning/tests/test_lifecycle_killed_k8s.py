"""A real Celery worker SIGKILLed (its process group and every helm/kubectl it started) in the middle of a suspend,
a resume, a backup, an upgrade and a restore into the same store of one real WooCommerce store on the local cluster,
provisioned once for the module; then `manage.py recover_stores` as an operator runs it, and a fresh worker for what
recovery queued. What a user checks afterwards: the suspension finished (closed page through the ingress, engine and
database pods gone, no release left pending), the resumption finished (the storefront serves the product created
before), the backup is failed with a reason (never left running) and the next one succeeds, the upgrade killed while
its release was pending-upgrade finished (rolled back to the revision that served, backed up and upgraded again:
ready, served, `lastUpgrade` succeeded), the restore killed while the backup's uploads loaded finished (no second
safety backup, the shop open again with the backup's catalog); each time no step row left running, no store lock or
semaphore slot left held, and a recovery audit row."""

import contextlib
import io
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db import connection

from audit.models import AuditEvent
from backups import restore_in_place, storage
from backups import services as backup_services
from backups.models import Backup
from backups.tests.conftest import s3_endpoint  # noqa: F401  (a fixture: the bucket the backups go to)
from provisioning import concurrency, lifecycle, services
from provisioning.models import ProvisioningRun, RunStatus
from provisioning.setup import component_pod
from provisioning.tests.celery_worker import start_worker, stop_worker, wait_for
from provisioning.tests.module_cluster import on_the_cluster
from provisioning.tests.test_chain_k8s import explain
from provisioning.tests.test_lifecycle_k8s import pods_by_component, through_ingress
from stores import services as store_services
from stores.models import LifecycleStatus, Store, StoreStatus

pytestmark = [pytest.mark.k8s, pytest.mark.django_db(transaction=True)]
S, L = StoreStatus, LifecycleStatus
BUCKET = "k8s-killed"
PRODUCT = ("Killed Worker Kettle", "KWK-001")
# The workers' store lock TTL and slot lease (s): a dead worker's lock and slot expire in seconds, not a minute.
SHORT_TTL = "5"
INTERRUPTED = "Interrupted: the worker stopped; resumed by recovery."
# An upgrade a tenant may ask for that the local images can serve: the tag the store runs already (a re-apply).
UPGRADE = {"wordpress": {"image": {"tag": "local"}}}
AFTER_THE_BACKUP = ("After The Backup Mug", "ATB-001")
MAINTENANCE = (lifecycle.CLOSED_MARKER % b"maintenance").decode()  # the "briefly closed" page a restore shows


@pytest.fixture(scope="module")
def woo(k8s_cluster, s3_endpoint, django_db_setup, django_db_blocker):  # noqa: F811  (the imported fixture)
    """One WooCommerce store made ready by the real create chain, with a product of its own and 40 MB in its
    uploads (so a backup's archive streams for seconds: a window to kill it in); shared by the module's tests.
    Yields cluster, store, owner, env (of a worker on it) and bucket (its directory). Rows are committed (a worker
    is another process) and removed, with the release and namespace, at the end."""
    from accounts.tests.factories import UserFactory

    with on_the_cluster(k8s_cluster, s3_endpoint, bucket=BUCKET) as overridden, django_db_blocker.unblock():
        s3 = {name: value for name, value in overridden.items() if name.startswith("BACKUP_S3_")}  # for the worker
        worker_env = {**s3, "STORE_LOCK_TTL_SECONDS": SHORT_TTL, "PROVISIONING_LEASE_SECONDS": SHORT_TTL}
        # A worker runs recovery when it starts: not on this module's store, whose recovery is the operator's
        # command.
        worker_env["RECOVERY_GRACE_SECONDS"] = "3600"
        owner = UserFactory()
        store = store_services.store_create(owner=owner, name="killed-woo", engine="woocommerce")
        started = time.monotonic()
        try:
            assert services.provision(store.id) == "ready", explain(store)
            print(f"killed k8s: provisioned in {time.monotonic() - started:.0f}s")
            storage.ensure_bucket()
            store = Store.objects.select_related("owner").get(pk=store.pk)
            name, sku = PRODUCT
            in_wordpress = ("-n", store.namespace, "exec", component_pod(store, "wordpress"), "-c", "wordpress", "--")
            k8s_cluster.kubectl_run(
                *in_wordpress,
                *("wp", "wc", "product", "create", f"--name={name}", "--type=simple", "--regular_price=9.00"),
                *(f"--sku={sku}", "--status=publish", "--user=1", "--porcelain"),
            )
            k8s_cluster.kubectl_run(
                *in_wordpress, "sh", "-c", "head -c 41943040 /dev/urandom > /var/www/wp-content/uploads/big.bin"
            )
            yield SimpleNamespace(
                cluster=k8s_cluster, store=store, owner=owner, env=worker_env, bucket=s3_endpoint[1] / BUCKET
            )
        finally:
            k8s_cluster.helm_run("uninstall", store.id, "-n", store.id, "--wait", "--timeout", "60s", check=False)
            k8s_cluster.kubectl_run(
                "delete", "namespace", store.id, "--ignore-not-found", "--wait=true", "--timeout=120s", check=False
            )
            with connection.cursor() as cursor:  # the module's committed rows (audit rows have no ORM delete)
                cursor.execute("DELETE FROM audit_auditevent WHERE store_id = %s", [store.id])
            ProvisioningRun.objects.filter(store_id=store.id).delete()
            Backup.objects.filter(store_id=store.id).delete()
            Store.objects.filter(pk=store.id).delete()
            owner.delete()


@pytest.fixture
def committed(transactional_db, woo, settings):
    """A transactional test (the worker is another process: it sees committed rows only), whose flush at the end
    empties every table: the module's owner and store rows, as the test left them, are written back for the next
    one. Recovery acts on what is idle at once."""
    from accounts.models import User

    settings.RECOVERY_GRACE_SECONDS = 0
    if not Store.objects.filter(pk=woo.store.pk).exists():
        User.objects.bulk_create([woo.owner])
        Store.objects.bulk_create([woo.store])
    yield
    woo.owner = User.objects.get(pk=woo.owner.pk)
    woo.store = Store.objects.select_related("owner").get(pk=woo.store.pk)


def until(condition, timeout: float, what: str) -> None:
    """wait_for with a tenth of a second between polls: a step's window can be a few seconds long."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc): the runner starts helm and kubectl in sessions of their own, which a
    kill of the worker's process group misses."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                # The command name may hold spaces and parentheses: the fields after its last ")" are fixed.
                ppid = int(entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill(worker: subprocess.Popen) -> list[str]:
    """SIGKILL the worker, its pool and every process they started; returns the command names of the latter that
    are not the worker's own (helm, kubectl). The group is stopped first, so none starts a process meanwhile."""
    os.killpg(worker.pid, signal.SIGSTOP)
    below, names = [], []
    for pid in _descendants(worker.pid):
        with contextlib.suppress(OSError):
            if os.getpgid(pid) != worker.pid:
                names.append(Path(f"/proc/{pid}/comm").read_text().strip())
                below.append(pid)
    os.killpg(worker.pid, signal.SIGKILL)
    for pid in below:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    worker.wait(timeout=10)
    return names


def started_by(worker: subprocess.Popen, command: str, argument: bytes) -> int | None:
    """The pid of a process below the worker named `command` with `argument` among its arguments, else None: a step's
    row is running a moment before its process starts, and a kill in that moment would hit no helm or kubectl."""
    for pid in _descendants(worker.pid):
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if Path(f"/proc/{pid}/comm").read_text().strip() == command and argument in argv:
                return pid
    return None


def hold_helm_once_pending(worker: subprocess.Popen, cluster, store: Store, timeout: float = 60) -> None:
    """helm upgrade without --wait is pending for a second or less, too short to catch by polling: the worker's helm
    is run in slices of 50 ms (SIGSTOP, SIGCONT) until the release's pending revision is recorded, and left stopped
    there for the kill."""
    deadline = time.monotonic() + timeout
    pid = None

    def helm_started() -> bool:
        nonlocal pid
        pid = started_by(worker, "helm", b"upgrade")
        return pid is not None

    until(helm_started, timeout, "the worker's helm upgrade")
    try:
        os.kill(pid, signal.SIGSTOP)
    except ProcessLookupError:
        raise AssertionError("helm upgrade ended before it could be held") from None
    while helm_history(cluster, store)[-1]["status"] != "pending-upgrade":
        try:
            os.kill(pid, signal.SIGCONT)
            time.sleep(0.05)
            os.kill(pid, signal.SIGSTOP)
        except ProcessLookupError:
            raise AssertionError("helm upgrade ended before its pending revision was seen") from None
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the release to be pending-upgrade")


def recover_as_an_operator(store: Store) -> list[str]:
    """recover_stores once the dead worker's store lock and slot lease expired (they are not deleted for it)."""
    wait_for(lambda: not concurrency.is_store_locked(store.id), 30, "the dead worker's store lock to expire")
    wait_for(lambda: concurrency.stats()["active"] == 0, 30, "the dead worker's slot lease to expire")
    out = io.StringIO()
    call_command("recover_stores", stdout=out)
    return out.getvalue().splitlines()


def finish_with_a_fresh_worker(cluster, env, done) -> None:
    worker = start_worker(cluster, concurrency=1, extra_env=env)
    try:
        wait_for(done, 420, "the recovered operation to finish")
    finally:
        stop_worker(worker)


def helm_history(cluster, store: Store) -> list[dict]:
    return json.loads(cluster.helm_run("history", store.id, "-n", store.id, "-o", "json").stdout)


def assert_nothing_left_open(cluster, store: Store) -> None:
    assert not ProvisioningRun.objects.filter(store=store, status=RunStatus.RUNNING).exists(), explain(store)
    assert not concurrency.is_store_locked(store.id)
    assert concurrency.stats()["active"] == 0
    # The release as helm goes by (its latest revision) serves; helm keeps a rolled-back pending revision's record
    # as it was in the history, which blocks nothing.
    assert helm_history(cluster, store)[-1]["status"] == "deployed"


def status_of(store: Store) -> str:
    return Store.objects.filter(pk=store.pk).values_list("status", flat=True).get()


def bring_to(store: Store, wanted: str) -> None:
    """The state a test starts from, in-process, when the test before it did not leave it there (run alone)."""
    if status_of(store) == S.READY and wanted == L.SUSPENDED:
        store_services.store_request_suspend(store_id=store.id, actor=store.owner)
        assert lifecycle.suspend(store.id) == "suspended", explain(store)
    if status_of(store) == L.SUSPENDED and wanted == S.READY:
        store_services.store_request_resume(store_id=store.id, actor=store.owner)
        assert lifecycle.resume(store.id) == "ready", explain(store)
    assert status_of(store) == wanted, explain(store)


def recovery_rows(store: Store, action: str) -> int:
    return AuditEvent.objects.filter(store_id=store.id, event_type="recovery", metadata__action=action).count()


def test_a_worker_killed_mid_suspend_leaves_a_store_recovery_suspends(woo, committed):
    """Killed while helm scales the store to zero (its release pending-upgrade): recovery resumes the suspension,
    which rolls the pending release back and suspends again."""
    cluster, store, env = woo.cluster, woo.store, woo.env
    bring_to(store, S.READY)
    began = time.monotonic()
    worker = start_worker(cluster, concurrency=1, extra_env=env)
    try:
        store_services.store_request_suspend(store_id=store.id, actor=store.owner)

        def helm_pending() -> bool:
            return helm_history(cluster, store)[-1]["status"] == "pending-upgrade"

        running = ProvisioningRun.objects.filter(store=store, step="helm_suspend", status=RunStatus.RUNNING)
        until(running.exists, 120, "the worker to run helm_suspend")
        until(helm_pending, 60, "helm to start scaling the store down")
    finally:
        started = kill(worker)
    assert "helm" in started  # the group kill alone would have left it running
    assert status_of(store) == L.SUSPENDING
    pending_revision = helm_history(cluster, store)[-1]["revision"]
    assert helm_history(cluster, store)[-1]["status"] == "pending-upgrade"

    lines = recover_as_an_operator(store)
    assert f"{store.id} suspending: operation resumed" in lines
    finish_with_a_fresh_worker(cluster, env, lambda: status_of(store) != L.SUSPENDING)
    print(f"killed k8s: suspend killed, recovered and finished in {time.monotonic() - began:.0f}s")

    assert status_of(store) == L.SUSPENDED, explain(store)
    status, _, body = through_ingress(store, "/shop/")
    assert status == 503 and "This store is closed for now" in body
    assert pods_by_component(cluster, store) == {"closed": ["Running"]}
    assert_nothing_left_open(cluster, store)
    killed = ProvisioningRun.objects.get(store=store, step="helm_suspend", status=RunStatus.ERRORED)
    assert killed.error == INTERRUPTED
    # The resumed chain rolled the pending revision back to the one that served, then suspended again.
    after_the_kill = helm_history(cluster, store)[pending_revision:]
    assert after_the_kill[0]["description"] == f"Rollback to {pending_revision - 1}", after_the_kill
    assert recovery_rows(store, "lifecycle_resumed") >= 1


def test_a_worker_killed_mid_resume_leaves_a_store_recovery_reopens_with_its_data(woo, committed):
    """Killed while the store's pods come back (the readiness step): recovery resumes the resumption, and the
    storefront serves the product created before the suspension."""
    cluster, store, env = woo.cluster, woo.store, woo.env
    bring_to(store, L.SUSPENDED)
    resumes_before = recovery_rows(store, "lifecycle_resumed")
    began = time.monotonic()
    worker = start_worker(cluster, concurrency=1, extra_env=env)
    try:
        store_services.store_request_resume(store_id=store.id, actor=store.owner)
        running = ProvisioningRun.objects.filter(store=store, step="readiness", status=RunStatus.RUNNING)
        until(running.exists, 120, "the worker to wait for the store's pods")
    finally:
        kill(worker)
    assert status_of(store) == L.RESUMING

    lines = recover_as_an_operator(store)
    assert f"{store.id} resuming: operation resumed" in lines
    finish_with_a_fresh_worker(cluster, env, lambda: status_of(store) != L.RESUMING)
    print(f"killed k8s: resume killed, recovered and finished in {time.monotonic() - began:.0f}s")

    assert status_of(store) == S.READY, explain(store)
    status, _, shop = through_ingress(store, "/shop/")
    assert status == 200 and PRODUCT[0] in shop and "Classic T-Shirt" in shop
    assert "closed" not in pods_by_component(cluster, store)
    assert_nothing_left_open(cluster, store)
    killed = ProvisioningRun.objects.filter(store=store, operation="resume", status=RunStatus.ERRORED)
    assert list(killed.values_list("step", "error")) == [("readiness", INTERRUPTED)]
    assert recovery_rows(store, "lifecycle_resumed") == resumes_before + 1


def test_a_worker_killed_mid_backup_leaves_a_failed_backup_and_the_next_one_succeeds(woo, committed):
    """Killed while the uploads' archive streams into the bucket: recovery fails the backup with the reason (it
    would otherwise stay running), the store serves on, and a new backup succeeds."""
    cluster, store, env = woo.cluster, woo.store, woo.env
    bring_to(store, S.READY)
    began = time.monotonic()
    worker = start_worker(cluster, concurrency=1, extra_env=env)
    try:
        backup = backup_services.backup_request(store_id=store.id, actor=store.owner)
        running = ProvisioningRun.objects.filter(store=store, step="backup_uploads", status=RunStatus.RUNNING)
        until(running.exists, 120, "the worker to archive the uploads")
        until(lambda: started_by(worker, "kubectl", b"exec") is not None, 60, "the archive's kubectl exec")
    finally:
        started = kill(worker)
    assert "kubectl" in started  # the exec streaming the archive
    backup.refresh_from_db()
    assert backup.status == "running"  # mid-way: the database part is in, the archive and manifest are not
    assert not (woo.bucket / backup.prefix / backup_services.MANIFEST).exists()

    lines = recover_as_an_operator(store)
    assert f"{store.id} backup {backup.id} running: failed (worker lost)" in lines
    print(f"killed k8s: backup killed and failed by recovery in {time.monotonic() - began:.0f}s")
    backup.refresh_from_db()
    assert backup.status == "failed" and backup.failure_reason == backup_services.LOST_REASON
    killed = ProvisioningRun.objects.get(store=store, step="backup_uploads")
    assert (killed.status, killed.error) == (RunStatus.ERRORED, backup_services.LOST_STEP_REASON)
    assert recovery_rows(store, "backup_lost") == 1
    assert status_of(store) == S.READY
    status, _, shop = through_ingress(store, "/shop/")
    assert status == 200 and PRODUCT[0] in shop
    assert_nothing_left_open(cluster, store)

    again = backup_services.backup_request(store_id=store.id, actor=store.owner)
    finish_with_a_fresh_worker(cluster, env, lambda: Backup.objects.get(pk=again.pk).status in ("succeeded", "failed"))
    again.refresh_from_db()
    assert again.status == "succeeded", again.failure_reason
    assert (woo.bucket / again.prefix / backup_services.MANIFEST).exists()
    print(f"killed k8s: backup case with the next backup in {time.monotonic() - began:.0f}s")


def test_a_worker_killed_mid_upgrade_leaves_a_store_recovery_upgrades(woo, committed):
    """Killed while helm upgrades the release (its revision pending-upgrade), after the backup taken first: recovery
    resumes the upgrade, which rolls the pending release back, backs up and upgrades again, and the store serves."""
    cluster, store, env = woo.cluster, woo.store, woo.env
    bring_to(store, S.READY)
    began = time.monotonic()
    worker = start_worker(cluster, concurrency=1, extra_env=env)
    try:
        store_services.store_request_upgrade(store_id=store.id, actor=store.owner, values=UPGRADE)
        running = ProvisioningRun.objects.filter(store=store, step="helm_upgrade", status=RunStatus.RUNNING)
        until(running.exists, 180, "the worker to back the store up and run helm upgrade")
        hold_helm_once_pending(worker, cluster, store)
    finally:
        started = kill(worker)
    assert "helm" in started
    assert status_of(store) == L.UPGRADING
    pending_revision = helm_history(cluster, store)[-1]["revision"]
    assert helm_history(cluster, store)[-1]["status"] == "pending-upgrade"
    (first,) = Backup.objects.filter(store=store, trigger=backup_services.UPGRADE_TRIGGER)
    assert first.status == "succeeded"  # the killed run's backup, done before helm ran

    lines = recover_as_an_operator(store)
    assert f"{store.id} upgrading: operation resumed" in lines
    finish_with_a_fresh_worker(cluster, env, lambda: status_of(store) != L.UPGRADING)
    print(f"killed k8s: upgrade killed, recovered and finished in {time.monotonic() - began:.0f}s")

    upgraded = Store.objects.get(pk=store.pk)
    assert upgraded.status == S.READY, explain(store)
    outcome = upgraded.last_upgrade
    assert (outcome["outcome"], outcome["reason"], outcome["values"]) == ("succeeded", None, UPGRADE), outcome
    assert upgraded.chart_values == UPGRADE and upgraded.secrets == store.secrets
    # The resumed run backed the store up again (the backup before its own helm upgrade) and names that one.
    assert Backup.objects.get(pk=outcome["backupId"]).status == "succeeded" and outcome["backupId"] != first.id
    status, _, shop = through_ingress(store, "/shop/")
    assert status == 200 and PRODUCT[0] in shop
    assert_nothing_left_open(cluster, store)
    killed = ProvisioningRun.objects.get(store=store, step="helm_upgrade", status=RunStatus.ERRORED)
    assert killed.error == INTERRUPTED
    after_the_kill = helm_history(cluster, store)[pending_revision:]
    assert after_the_kill[0]["description"] == f"Rollback to {pending_revision - 1}", after_the_kill
    assert recovery_rows(store, "lifecycle_resumed") == 1


def test_a_worker_killed_mid_restore_leaves_a_store_recovery_restores(woo, committed):
    """Killed while the backup's uploads stream into the store (the shop closed, its backup first taken): recovery
    resumes the restore, which reuses that backup, loads again and opens the shop with the backup's data."""
    cluster, store, env = woo.cluster, woo.store, woo.env
    bring_to(store, S.READY)
    chosen = backup_services.backup_request(store_id=store.id, actor=store.owner)
    assert backup_services.run_backup(chosen.id) == "succeeded", Backup.objects.get(pk=chosen.pk).failure_reason
    name, sku = AFTER_THE_BACKUP
    cluster.kubectl_run(
        *("-n", store.namespace, "exec", component_pod(store, "wordpress"), "-c", "wordpress", "--"),
        *("wp", "wc", "product", "create", f"--name={name}", "--type=simple", "--regular_price=4.00"),
        *(f"--sku={sku}", "--status=publish", "--user=1", "--porcelain"),
    )
    began = time.monotonic()
    worker = start_worker(cluster, concurrency=1, extra_env=env)
    try:
        restore_in_place.store_restore_request(store_id=store.id, backup_id=chosen.id, confirm=True, actor=store.owner)
        running = ProvisioningRun.objects.filter(store=store, step="restore_uploads", status=RunStatus.RUNNING)
        until(running.exists, 240, "the worker to load the backup's uploads")
        until(lambda: started_by(worker, "kubectl", b"exec") is not None, 60, "the load's kubectl exec")
    finally:
        started = kill(worker)
    assert "kubectl" in started  # the exec the archive streams into
    assert status_of(store) == L.RESTORING
    status, _, body = through_ingress(store, "/shop/")
    assert status == 503 and MAINTENANCE in body  # shoppers meet the "briefly closed" page, not half-loaded data
    (safety,) = Backup.objects.filter(store=store, trigger=backup_services.RESTORE_TRIGGER)
    assert safety.status == "succeeded"

    lines = recover_as_an_operator(store)
    assert f"{store.id} restoring: operation resumed" in lines
    finish_with_a_fresh_worker(cluster, env, lambda: status_of(store) != L.RESTORING)
    print(f"killed k8s: restore killed, recovered and finished in {time.monotonic() - began:.0f}s")

    restored = Store.objects.get(pk=store.pk)
    assert restored.status == S.READY, explain(store)
    outcome = restored.last_restore
    assert (outcome["outcome"], outcome["backupId"], outcome["safetyBackupId"]) == ("succeeded", chosen.id, safety.id)
    # The resumed run took no second backup (the data it would back up was half loaded).
    assert Backup.objects.filter(store=store, trigger=backup_services.RESTORE_TRIGGER).count() == 1
    status, _, shop = through_ingress(store, "/shop/")
    assert status == 200 and MAINTENANCE not in shop
    assert PRODUCT[0] in shop and name not in shop  # the backup's catalog: the later product is gone
    assert_nothing_left_open(cluster, store)
    killed = ProvisioningRun.objects.get(store=store, step="restore_uploads", status=RunStatus.ERRORED)
    assert killed.error == INTERRUPTED
    assert recovery_rows(store, "lifecycle_resumed") == 1
