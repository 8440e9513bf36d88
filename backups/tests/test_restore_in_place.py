"""Restore into the same store without a cluster: the route's refusals (400 without confirmation or for a backup that
cannot be restored, 404 for an unknown or another tenant's backup, 403 for another tenant's store, 409 unless the
store is ready), each leaving everything as it was (a Medusa store's own backup is accepted); and the chain against
the scripted cluster of the lifecycle tests (fake helm and kubectl, a real rclone S3 endpoint): the chosen backup
verified, a backup of the store taken, then the backup's dump streamed into the store's database, the admin password
set back to the store's, served, ready with the same URL and secrets; a failed backup first or a corrupted part
leaves the store serving as it was, nothing loaded; a restore whose worker was lost (a real Celery worker SIGKILLed
mid-load too) is resumed by recovery and does not back up again."""

import contextlib
import json
import os
import signal
from pathlib import Path

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from backups import restore_in_place, services
from backups.models import Backup, BackupStatus
from provisioning.models import ProvisioningRun, RunStatus
from provisioning.recovery import recover
from provisioning.tests.celery_worker import spawn_worker, stop_worker, wait_for
from provisioning.tests.conftest import fake_tool  # noqa: F401  (a fixture of the scripted cluster)
from provisioning.tests.test_lifecycle import BACKUP_S3_SETTINGS, DUMPS, ready_store
from provisioning.tests.test_lifecycle import life as life  # noqa: F401  (the scripted cluster, a fixture)
from stores.models import LifecycleStatus, Store, StoreStatus
from stores.services import RESTORE_TASK
from stores.tests.factories import StoreFactory
from stores.tests.helpers import error_of, queued_tasks

pytestmark = pytest.mark.django_db
S, L, B = StoreStatus, LifecycleStatus, BackupStatus


def succeeded_backup(store: Store, **kwargs) -> Backup:
    return Backup.objects.create(store=store, engine=store.engine, status=B.SUCCEEDED, **kwargs)


def post_restore(client, store: Store, body) -> object:
    return client.post(f"/api/v1/stores/{store.id}/restore", body, format="json")


def unchanged(store: Store) -> tuple:
    """What a refused restore must leave as it was: the store's state and restore fields, its audit trail, the
    queue."""
    fresh = Store.objects.get(pk=store.pk)
    return (
        fresh.status,
        fresh.pending_restore,
        fresh.last_restore,
        AuditEvent.objects.filter(store_id=store.pk).count(),
        len(queued_tasks()),
    )


class TestRequest:
    def test_202_restoring_audited_and_queued(self, tenant, tenant_api, django_capture_on_commit_callbacks):
        store = StoreFactory(owner=tenant, status=S.READY)
        backup = succeeded_backup(store)
        with django_capture_on_commit_callbacks(execute=True):
            response = post_restore(tenant_api, store, {"backupId": backup.id, "confirm": True})
        assert response.status_code == 202, response.content
        body = response.json()
        assert (body["state"], body["status"], body["pendingRestore"]["backupId"]) == (
            "restoring",
            "provisioning",
            backup.id,
        )
        assert queued_tasks() == [(RESTORE_TASK, [store.id], body["requestId"])]
        event = AuditEvent.objects.get(store_id=store.id, new_status=L.RESTORING)
        assert (event.previous_status, event.actor_email, event.metadata["backupId"]) == (
            S.READY,
            tenant.email,
            backup.id,
        )
        # The contract's clients see it as provisioning; the backups route tells the restore under way.
        assert tenant_api.get(f"/api/v1/stores/{store.id}").json()["store"]["status"] == "provisioning"
        listed = tenant_api.get(f"/api/v1/stores/{store.id}/backups").json()
        assert (listed["state"], listed["pendingRestore"]["backupId"]) == ("restoring", backup.id)

    @pytest.mark.parametrize(
        "body, path",
        [
            ({"backupId": "backup-0123456789ab"}, "confirm"),
            ({"backupId": "backup-0123456789ab", "confirm": False}, "confirm"),
            ({"confirm": True}, "backupId"),
            ({"backupId": 7, "confirm": True}, "backupId"),
            ({"backupId": "backup-0123456789ab", "confirm": "yes"}, "confirm"),
        ],
    )
    def test_invalid_body_is_400_and_nothing_changes(self, tenant, tenant_api, body, path):
        store = StoreFactory(owner=tenant, status=S.READY)
        before = unchanged(store)
        error = error_of(post_restore(tenant_api, store, body), 400, "VALIDATION_ERROR")
        assert path in json.dumps(error)
        assert unchanged(store) == before

    @pytest.mark.parametrize("case", ["failed", "removed", "other_store"])
    def test_a_backup_that_cannot_be_restored_here_is_400(self, case, tenant, tenant_api):
        store = StoreFactory(owner=tenant, status=S.READY)
        if case == "failed":
            backup = Backup.objects.create(store=store, engine=store.engine, status=B.FAILED)
        elif case == "removed":
            backup = succeeded_backup(store, removed_at=timezone.now())
        else:
            backup = succeeded_backup(StoreFactory(owner=tenant, status=S.READY, name="another"))
        before = unchanged(store)
        error = error_of(
            post_restore(tenant_api, store, {"backupId": backup.id, "confirm": True}), 400, "VALIDATION_ERROR"
        )
        assert error["details"][0]["path"] == ["backupId"]
        assert {"failed": "is failed", "removed": "retention", "other_store": "another store"}[case] in error["message"]
        assert unchanged(store) == before

    def test_a_medusa_stores_own_backup_is_202_restoring_and_queued(
        self, tenant, tenant_api, django_capture_on_commit_callbacks
    ):
        store = StoreFactory(owner=tenant, status=S.READY, engine="medusa")
        backup = succeeded_backup(store)
        with django_capture_on_commit_callbacks(execute=True):
            response = post_restore(tenant_api, store, {"backupId": backup.id, "confirm": True})
        assert response.status_code == 202, response.content
        assert (response.json()["state"], response.json()["pendingRestore"]["backupId"]) == ("restoring", backup.id)
        assert queued_tasks() == [(RESTORE_TASK, [store.id], response.json()["requestId"])]

    def test_an_unknown_or_another_tenants_backup_is_404(self, tenant, other_tenant, tenant_api):
        store = StoreFactory(owner=tenant, status=S.READY)
        theirs = succeeded_backup(StoreFactory(owner=other_tenant, status=S.READY))
        before = unchanged(store)
        for backup_id in ("backup-000000000000", theirs.id):
            error = error_of(
                post_restore(tenant_api, store, {"backupId": backup_id, "confirm": True}), 404, "NOT_FOUND"
            )
            assert error["message"] == f"No backup '{backup_id}' was found."
        assert unchanged(store) == before

    def test_another_tenants_store_is_403(self, tenant, other_api):
        store = StoreFactory(owner=tenant, status=S.READY)
        backup = succeeded_backup(store)
        before = unchanged(store)
        error_of(post_restore(other_api, store, {"backupId": backup.id, "confirm": True}), 403, "FORBIDDEN")
        assert unchanged(store) == before

    @pytest.mark.parametrize("status", [S.PROVISIONING, S.FAILED, L.SUSPENDED, L.UPGRADING, L.RESTORING])
    def test_409_unless_ready(self, status, tenant, tenant_api):
        store = StoreFactory(owner=tenant, status=status)
        backup = succeeded_backup(store)
        before = unchanged(store)
        error = error_of(post_restore(tenant_api, store, {"backupId": backup.id, "confirm": True}), 409, "CONFLICT")
        assert f"Current status: '{status}'" in error["message"]
        assert unchanged(store) == before


class TestPageAndConsole:
    def test_page_confirms_then_starts_the_restore(self, tenant, client, django_capture_on_commit_callbacks):
        store = StoreFactory(owner=tenant, status=S.READY)
        backup = succeeded_backup(store)
        client.force_login(tenant)
        page = client.get(f"/stores/{store.id}").content.decode()
        assert f'id="restore-{backup.id}"' in page
        confirm = client.get(f"/stores/{store.id}/backups/{backup.id}/restore")
        assert (
            confirm.status_code == 200
            and "A backup of the store as it is now is taken first" in confirm.content.decode()
        )
        assert Store.objects.get(pk=store.pk).status == S.READY  # a GET changes nothing
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/stores/{store.id}/backups/{backup.id}/restore")
        assert response.status_code == 302
        assert Store.objects.get(pk=store.pk).pending_restore["backupId"] == backup.id
        assert [t[:2] for t in queued_tasks()] == [(RESTORE_TASK, [store.id])]

    def test_page_refusals_change_nothing(self, tenant, other_tenant, client):
        store = StoreFactory(owner=tenant, status=S.FAILED)
        backup = succeeded_backup(store)
        before = unchanged(store)
        client.force_login(tenant)
        refused = client.post(f"/stores/{store.id}/backups/{backup.id}/restore")
        assert refused.status_code == 409 and "Only ready stores can be restored" in refused.content.decode()
        client.force_login(other_tenant)
        assert client.post(f"/stores/{store.id}/backups/{backup.id}/restore").status_code == 403
        assert unchanged(store) == before

    def test_console_action_restores_the_newest_backup_through_the_service(self, admin_user, tenant, client):
        ready, bare = (
            StoreFactory(owner=tenant, status=S.READY),
            StoreFactory(owner=tenant, status=S.READY, name="bare"),
        )
        succeeded_backup(ready)
        newest = succeeded_backup(ready)
        client.force_login(admin_user)
        response = client.post(
            "/admin/stores/store/",
            {"action": "restore_stores", "_selected_action": [ready.id, bare.id], "confirm": "yes"},
            follow=True,
        )
        assert response.status_code == 200
        assert Store.objects.get(pk=ready.pk).pending_restore["backupId"] == newest.id
        event = AuditEvent.objects.get(store_id=ready.id, new_status=L.RESTORING)
        assert event.actor_email == admin_user.email
        assert Store.objects.get(pk=bare.pk).status == S.READY
        assert "The store has no succeeded backup still in storage." in response.content.decode()


# --- the chain against the scripted cluster ------------------------------------------------------------------------


def steps(store: Store) -> list[tuple[str, str]]:
    runs = ProvisioningRun.objects.filter(store=store, operation="restore").order_by("id")
    return list(runs.values_list("step", "status"))


def taken_backup(life, store: Store) -> Backup:
    """A backup of the store through the real worker path (the fake kubectl prints DUMPS)."""
    backup = services.backup_request(store_id=store.id, actor=store.owner)
    assert services.run_backup(backup.id) == "succeeded"
    return Backup.objects.get(pk=backup.pk)


def loads(life) -> list[dict]:
    """The kubectl exec calls that fed data into a pod (stdin): the restore's loads and the admin password."""
    return [c for c in life.kubectl.calls if "exec" in c["argv"] and "-i" in c["argv"]]


def test_the_chain_backs_up_then_loads_the_backup_and_the_store_is_ready_as_it_was(life, tenant):
    store = ready_store(owner=tenant)
    Store.objects.filter(pk=store.pk).update(storefront_url=f"http://{store.id}.localhost:8080")
    chosen = taken_backup(life, store)
    before = Store.objects.get(pk=store.pk)
    restore_in_place.store_restore_request(store_id=store.id, backup_id=chosen.id, confirm=True, actor=tenant)
    assert restore_in_place.restore_in_place(store.id) == "restored"
    store.refresh_from_db()
    assert store.status == S.READY and store.pending_restore is None
    assert (store.storefront_url, store.secrets, store.namespace) == (
        before.storefront_url,
        before.secrets,
        before.namespace,
    )
    safety = Backup.objects.get(store=store, trigger="restore")
    assert safety.status == B.SUCCEEDED
    assert (store.last_restore["outcome"], store.last_restore["backupId"]) == ("succeeded", chosen.id)
    assert store.last_restore["safetyBackupId"] == safety.id
    assert steps(store) == [
        (name, RunStatus.SUCCEEDED)
        for name in (
            "release_check",
            "restore_verify",
            "backup_database",
            "backup_uploads",
            "backup_manifest",
            "maintenance_on",
            "restore_database",
            "restore_uploads",
            "restore_rewrite",
            "maintenance_off",
            "served",
            "restored",
        )
    ]
    fed = loads(life)
    database = next(c for c in fed if "mariadb" in c["argv"] and "MARIADB_DATABASE" in " ".join(c["argv"]))
    assert database["stdin"] == DUMPS["mariadb"]  # the chosen backup's dump, whole
    # The admin password is the store's own again, on stdin, never in argv.
    password = store.secrets["adminPassword"]
    assert any(password in c["stdin"] for c in fed)
    assert not any(password in json.dumps(c["argv"]) for c in life.kubectl.calls)
    # The release changed only to close the shop before the first load (the closed page started and waited for,
    # then the Ingress turned to it) and open it after the last write, its values otherwise the store's own (the
    # closed page was served meanwhile: maintenance_on waits for it).
    calls = life.calls()
    upgrades = [i for i, c in enumerate(calls) if c["argv"][0] in ("upgrade", "rollback")]
    assert [calls[i]["argv"][0] for i in upgrades] == ["upgrade", "upgrade", "upgrade"]
    values = [calls[i]["values"] for i in upgrades]
    shut = [(v.get("closedPage", {}).get("standby"), v.get("maintenance")) for v in values]
    assert shut == [(True, None), (True, True), (None, False)]
    assert "--wait" in calls[upgrades[0]]["argv"]  # the page is up before shoppers are sent to it
    mine = lambda values: {k: v for k, v in values.items() if k not in ("maintenance", "closedPage")}  # noqa: E731
    assert len({json.dumps(mine(calls[i]["values"]), sort_keys=True) for i in upgrades}) == 1
    written = [i for i, c in enumerate(calls) if "exec" in c["argv"] and "-i" in c["argv"]]
    assert upgrades[1] < min(written) and max(written) < upgrades[2]
    assert [r["maintenance"] for r in life.revisions(store)[-3:]] == [False, True, False]
    moves = [
        (e.previous_status, e.new_status)
        for e in AuditEvent.objects.filter(store_id=store.pk).order_by("id")
        if e.new_status
    ]
    assert moves == [(S.READY, L.RESTORING), (L.RESTORING, S.READY)]
    done = AuditEvent.objects.filter(store_id=store.pk, new_status=S.READY).get()
    assert done.message == f"Restored from backup {chosen.id}"


def test_a_failed_backup_first_leaves_the_store_serving_as_it_was_and_nothing_loaded(life, tenant):
    store = ready_store(owner=tenant)
    chosen = taken_backup(life, store)
    Path(f"{life.release(store)}.dumpfail").write_text("")
    restore_in_place.store_restore_request(store_id=store.id, backup_id=chosen.id, confirm=True, actor=tenant)
    calls_before = len(life.kubectl.calls)
    assert restore_in_place.restore_in_place(store.id) == "not_started"
    store.refresh_from_db()
    safety = Backup.objects.get(store=store, trigger="restore")
    assert (store.status, store.pending_restore) == (S.READY, None)
    assert store.last_restore["outcome"] == "not_started" and safety.status == B.FAILED
    assert store.last_restore["reason"].startswith(
        f"The backup taken before restoring backup {chosen.id} ({safety.id}) failed"
    )
    assert store.last_restore["safetyBackupId"] == safety.id
    assert not [c for c in life.kubectl.calls[calls_before:] if "-i" in c["argv"]]  # nothing was fed to a pod
    assert steps(store)[-1] == ("backup_database", RunStatus.FAILED)
    finished = AuditEvent.objects.filter(store_id=store.pk, new_status=S.READY).latest("id")
    assert finished.event_type == "warning" and finished.message.startswith("Restore not started: The backup taken")


def test_a_corrupted_part_is_refused_before_anything_is_written(life, tenant):
    store = ready_store(owner=tenant)
    chosen = taken_backup(life, store)
    part = life.bucket / "stores" / store.id / chosen.id / "database.sql"
    data = bytearray(part.read_bytes())
    data[100] ^= 0xFF  # one flipped byte, the size unchanged
    part.write_bytes(bytes(data))
    restore_in_place.store_restore_request(store_id=store.id, backup_id=chosen.id, confirm=True, actor=tenant)
    calls_before = len(life.kubectl.calls)
    assert restore_in_place.restore_in_place(store.id) == "not_started"
    store.refresh_from_db()
    assert store.status == S.READY and "database.sql does not match its manifest" in store.last_restore["reason"]
    assert not [c for c in life.kubectl.calls[calls_before:] if "exec" in c["argv"]]  # not even the backup first
    assert not Backup.objects.filter(store=store, trigger="restore").exists()
    assert steps(store) == [("release_check", RunStatus.SUCCEEDED), ("restore_verify", RunStatus.FAILED)]


def test_a_failed_load_leaves_the_store_failed_with_the_reason(life, tenant, monkeypatch):
    from provisioning.errors import CommandFailed

    store = ready_store(owner=tenant)
    chosen = taken_backup(life, store)
    restore_in_place.store_restore_request(store_id=store.id, backup_id=chosen.id, confirm=True, actor=tenant)

    def refuse(*args, **kwargs):
        raise CommandFailed(argv=["kubectl"], returncode=1, stderr_tail="ERROR 1064 (42000) at line 3: syntax")

    monkeypatch.setattr(restore_in_place, "_load_part", lambda *a, **k: refuse())
    assert restore_in_place.restore_in_place(store.id) == "failed"
    store.refresh_from_db()
    assert store.status == S.FAILED and store.failure_reason.startswith("Restore failed:")
    assert (store.last_restore["outcome"], store.last_restore["backupId"]) == ("failed", chosen.id)
    assert Backup.objects.get(store=store, trigger="restore").status == B.SUCCEEDED  # what the store had


def test_a_restore_whose_worker_was_lost_is_resumed_without_a_second_backup(life, tenant, settings):
    settings.RECOVERY_GRACE_SECONDS = 0
    store = ready_store(owner=tenant)
    chosen = taken_backup(life, store)
    restore_in_place.store_restore_request(store_id=store.id, backup_id=chosen.id, confirm=True, actor=tenant)
    queued_tasks()  # the request's own task is in the queue; recovery's comes after it
    # What a worker killed mid-load leaves: its backup first taken, the load's step row running, no lock.
    first = Store.objects.get(pk=store.pk)
    from provisioning.steps import Attempt

    services.backup_in_chain(Attempt(first, "restore"), first.secrets, trigger="restore", purpose="first")
    ProvisioningRun.objects.create(store=store, operation="restore", step="restore_database")
    Store.objects.filter(pk=store.pk).update(updated_at=timezone.now() - timezone.timedelta(seconds=5))
    assert recover() == [f"{store.id} restoring: operation resumed"]
    assert queued_tasks()[-1][:2] == (RESTORE_TASK, [store.id])
    assert restore_in_place.restore_in_place(store.id) == "restored"
    store.refresh_from_db()
    assert store.status == S.READY and store.last_restore["outcome"] == "succeeded"
    assert Backup.objects.filter(store=store, trigger="restore").count() == 1
    interrupted = ProvisioningRun.objects.get(store=store, step="restore_database", status=RunStatus.ERRORED)
    assert interrupted.error == "Interrupted: the worker stopped; resumed by recovery."


@pytest.mark.django_db(transaction=True)  # the worker is another process: it sees committed rows only
def test_a_worker_killed_mid_load_leaves_a_store_recovery_finishes(life, tenant, settings):
    """A real Celery worker (the scripted cluster) is SIGKILLed while the chosen backup's dump streams into the
    database; recovery resumes the restore, which reuses the backup taken first and finishes."""
    from provisioning import concurrency

    settings.RECOVERY_GRACE_SECONDS = 0
    store = ready_store(owner=tenant)
    chosen = taken_backup(life, store)
    slow = Path(f"{life.release(store)}.slowload")
    slow.write_text("")
    overlay = {
        "HELM_BIN": str(life.helm.path),
        "KUBECTL_BIN": str(life.kubectl.path),
        "KUBECONFIG": settings.KUBECONFIG,
        "STORE_INGRESS_PORT": str(life.port),
        **{name: str(getattr(settings, name)) for name in BACKUP_S3_SETTINGS},
    }
    worker = spawn_worker(overlay, concurrency=1)
    try:
        restore_in_place.store_restore_request(store_id=store.id, backup_id=chosen.id, confirm=True, actor=tenant)
        loading = ProvisioningRun.objects.filter(store=store, step="restore_database", status=RunStatus.RUNNING)
        wait_for(loading.exists, 60, "the worker to load the database")
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        stop_worker(worker, timeout=5)
    pid_file = Path(f"{life.release(store)}.pid")
    if pid_file.exists():  # the fake kubectl the killed worker started (its own session survives the group kill)
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
    slow.unlink()
    concurrency.get_redis().delete(concurrency.store_lock_key(store.id))  # its lock would expire by itself
    Store.objects.filter(pk=store.pk).update(updated_at=timezone.now() - timezone.timedelta(seconds=5))
    assert Store.objects.get(pk=store.pk).status == L.RESTORING
    assert recover() == [f"{store.id} restoring: operation resumed"]
    assert restore_in_place.restore_in_place(store.id) == "restored"  # what the queued task does
    store.refresh_from_db()
    assert store.status == S.READY and store.last_restore["outcome"] == "succeeded"
    (safety,) = Backup.objects.filter(store=store, trigger="restore")  # taken once, by the killed worker
    assert safety.status == B.SUCCEEDED and store.last_restore["safetyBackupId"] == safety.id
    assert not ProvisioningRun.objects.filter(store=store, status=RunStatus.RUNNING).exists()
    interrupted = ProvisioningRun.objects.get(store=store, step="restore_database", status=RunStatus.ERRORED)
    assert interrupted.error == "Interrupted: the worker stopped; resumed by recovery."
