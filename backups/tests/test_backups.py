"""Backups without a cluster, against a real local S3 endpoint (rclone serve s3): the API routes (202 audited and
queued, 403 for another tenant's store, 409 in a wrong state or while one runs, the list), the worker's artifact
(parts streamed and hashed, manifest.json last with sizes, sha256s, values without secrets and secret names), a
failed backup visible (status, reason, audit row, metric, store page), retention, `restoreFrom` checks, and the
rewrite of a loaded Medusa database (its pods stood in for)."""

import hashlib
import json

import pytest
from prometheus_client import REGISTRY

from audit.models import AuditEvent
from backups import engine, restore, services, storage
from backups.models import Backup, BackupStatus, Restore
from backups.services import BACKUP_TASK
from provisioning import services as provisioning_services
from provisioning.errors import CommandFailed
from provisioning.models import ProvisioningRun
from provisioning.setup import EngineSetupFailed
from provisioning.steps import Attempt
from stores.models import Store, StoreStatus
from stores.services import PROVISION_TASK
from stores.tests.factories import StoreFactory
from stores.tests.helpers import error_of, queued_tasks

pytestmark = pytest.mark.django_db
B, S = BackupStatus, StoreStatus
SECRETS = {
    "adminPassword": "admin-pass-123456",
    "dbPassword": "db-pass-abcdef",
    "dbRootPassword": "root-pass-xyz987",
    "saltSeed": "salt-seed-0000111",
}
DUMPS = {"mariadb": b"-- MariaDB dump\nINSERT INTO wp_posts VALUES (1);\n" * 50000, "wordpress": b"TARDATA" * 1000}


def ready_store(owner, **kwargs) -> Store:
    store = StoreFactory(owner=owner, status=S.READY, **kwargs)
    Store.objects.filter(pk=store.pk).update(storefront_url=f"http://{store.id}.localhost:8080", chart_version="0.1.0")
    store = Store.objects.get(pk=store.pk)
    store.secrets = SECRETS
    store.save(update_fields=["secrets"])
    return store


def post_backup(client, store):
    return client.post(f"/api/v1/stores/{store.id}/backups", format="json")


class TestRequest:
    def test_202_audited_and_queued(self, tenant, tenant_api, django_capture_on_commit_callbacks):
        store = ready_store(tenant)
        with django_capture_on_commit_callbacks(execute=True):
            response = post_backup(tenant_api, store)
        assert response.status_code == 202, response.content
        body = response.json()
        backup = Backup.objects.get(store=store)
        assert body["backup"]["id"] == backup.id and body["backup"]["status"] == "requested"
        assert queued_tasks() == [(BACKUP_TASK, [backup.id], body["requestId"])]
        event = AuditEvent.objects.get(store_id=store.id, metadata__backupId=backup.id)
        assert event.actor_email == tenant.email and event.metadata["backupStatus"] == "requested"

    def test_other_tenants_store_is_403_and_nothing_changes(self, tenant, other_api):
        store = ready_store(tenant)
        assert error_of(post_backup(other_api, store), 403, "FORBIDDEN")["message"] == "Access denied."
        error_of(other_api.get(f"/api/v1/stores/{store.id}/backups"), 403, "FORBIDDEN")
        assert not Backup.objects.exists() and queued_tasks() == []

    @pytest.mark.parametrize("status", [S.PROVISIONING, S.FAILED, "suspended", S.DELETING])
    def test_409_when_not_ready(self, tenant, tenant_api, status):
        store = StoreFactory(owner=tenant, status=status)
        error = error_of(post_backup(tenant_api, store), 409, "CONFLICT")
        assert status in error["message"]
        assert not Backup.objects.exists() and queued_tasks() == []
        assert not AuditEvent.objects.filter(store_id=store.id).exists()

    def test_409_while_one_runs(self, tenant, tenant_api):
        store = ready_store(tenant)
        running = Backup.objects.create(store=store, engine=store.engine, status=B.RUNNING)
        error = error_of(post_backup(tenant_api, store), 409, "CONFLICT")
        assert running.id in error["message"]
        assert Backup.objects.count() == 1 and queued_tasks() == []

    def test_bad_id_is_400(self, tenant_api):
        error_of(tenant_api.post("/api/v1/stores/nope/backups"), 400, "VALIDATION_ERROR")

    def test_list_newest_first(self, tenant, tenant_api):
        store = ready_store(tenant)
        first = Backup.objects.create(store=store, engine=store.engine, status=B.FAILED, failure_reason="boom")
        second = Backup.objects.create(store=store, engine=store.engine)
        body = tenant_api.get(f"/api/v1/stores/{store.id}/backups").json()
        assert [b["id"] for b in body["backups"]] == [second.id, first.id] and body["total"] == 2
        assert body["backups"][1]["failureReason"] == "boom" and body["backups"][1]["restorable"] is False


def fake_pipe(argv, *, sink=None, source=None, **kwargs):
    """Stands in for `kubectl exec` in the store's pods: prints the component's dump in 64 KiB chunks."""
    pod = argv[argv.index("exec") + 1]
    data = DUMPS[pod]
    for i in range(0, len(data), 65536):
        sink(data[i : i + 65536])


@pytest.fixture
def no_cluster(monkeypatch):
    monkeypatch.setattr(services, "component_pod", lambda store, component: component)
    monkeypatch.setattr(services, "secret_references", lambda ns: [{"secret": f"{ns}-mariadb", "keys": ["k"]}])
    monkeypatch.setattr(services.runner, "pipe", fake_pipe)


def metric(status: str) -> float:
    return REGISTRY.get_sample_value("store_backups_total", {"engine": "woocommerce", "status": status}) or 0


class TestWorker:
    def test_artifact_and_manifest(self, tenant, s3, no_cluster):
        store = ready_store(tenant)
        backup = services.backup_request(store_id=store.id, actor=tenant)
        before = metric("succeeded")
        assert services.run_backup(backup.id) == "succeeded"
        backup.refresh_from_db()
        assert backup.status == B.SUCCEEDED and backup.started_at and backup.finished_at
        folder = s3 / "stores" / store.id / backup.id
        assert sorted(p.name for p in folder.iterdir()) == ["database.sql", "manifest.json", "uploads.tar"]
        assert (folder / "database.sql").read_bytes() == DUMPS["mariadb"]  # streamed in 8 MiB parts, whole
        manifest = json.loads((folder / "manifest.json").read_bytes())
        assert hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest() == backup.manifest_sha256
        for name, component, filename in (
            ("database", "mariadb", "database.sql"),
            ("uploads", "wordpress", "uploads.tar"),
        ):
            assert manifest["parts"][name] == {
                "file": filename,
                "format": "mariadb-dump" if name == "database" else "tar",
                "size": len(DUMPS[component]),
                "sha256": hashlib.sha256(DUMPS[component]).hexdigest(),
            }
        assert manifest["storeId"] == store.id and manifest["engine"] == "woocommerce"
        assert manifest["chartVersion"] == "0.1.0" and manifest["status"] == "succeeded"
        assert manifest["startedAt"] and manifest["finishedAt"] and manifest["backupId"] == backup.id
        assert manifest["sizeBytes"] == backup.size_bytes == len(DUMPS["mariadb"]) + len(DUMPS["wordpress"])
        assert manifest["platformSecrets"] == sorted(SECRETS)
        assert manifest["secretReferences"] == [{"secret": f"{store.id}-mariadb", "keys": ["k"]}]
        text = (folder / "manifest.json").read_text()
        assert not any(value in text for value in SECRETS.values())  # names only, never a value
        assert manifest["values"]["wordpress"]["admin"] == {"username": "admin", "email": tenant.email}
        statuses = [
            e.metadata["backupStatus"] for e in AuditEvent.objects.filter(metadata__backupId=backup.id).order_by("id")
        ]
        assert statuses == ["requested", "running", "succeeded"]
        assert metric("succeeded") == before + 1
        steps = set(ProvisioningRun.objects.filter(store=store, operation="backup").values_list("step", "status"))
        assert steps == {
            ("backup_database", "succeeded"),
            ("backup_uploads", "succeeded"),
            ("backup_manifest", "succeeded"),
        }

    def test_a_failed_dump_is_visible(self, tenant, s3, no_cluster, monkeypatch, client):
        def refuse(argv, **kwargs):
            raise CommandFailed(argv=argv, returncode=2, stderr_tail="mariadb-dump: Got error: 1045: Access denied")

        monkeypatch.setattr(services.runner, "pipe", refuse)
        store = ready_store(tenant)
        backup = services.backup_request(store_id=store.id, actor=tenant)
        before = metric("failed")
        assert services.run_backup(backup.id) == "failed"
        backup.refresh_from_db()
        assert backup.status == B.FAILED and "Access denied" in backup.failure_reason
        assert not (s3 / "stores" / store.id / backup.id / "manifest.json").exists()  # no manifest: not restorable
        event = AuditEvent.objects.filter(metadata__backupId=backup.id).latest("id")
        assert event.event_type == "error" and "Access denied" in event.message
        assert metric("failed") == before + 1
        client.force_login(tenant)
        page = client.get(f"/stores/{store.id}").content.decode()
        assert backup.id in page and "backup-failed" in page and "Access denied" in page

    def test_store_no_longer_ready_fails_the_backup(self, tenant, s3, no_cluster):
        store = ready_store(tenant)
        backup = services.backup_request(store_id=store.id, actor=tenant)
        Store.objects.filter(pk=store.pk).update(status=S.DELETING)
        assert services.run_backup(backup.id) == "failed"
        backup.refresh_from_db()
        assert backup.status == B.FAILED and "deleting" in backup.failure_reason

    def test_unreadable_secrets_fail_the_backup_with_the_reason(self, tenant, s3, no_cluster):
        from stores.tests.helpers import make_unreadable

        store = ready_store(tenant)
        backup = services.backup_request(store_id=store.id, actor=tenant)
        make_unreadable(store, "secrets")
        assert services.run_backup(backup.id) == "failed"
        backup.refresh_from_db()
        assert backup.status == B.FAILED and "CREDENTIALS_ENCRYPTION_KEY" in backup.failure_reason
        assert not (s3 / "stores" / store.id).exists()

    def test_retention_keeps_the_newest(self, tenant, s3, no_cluster):
        store = ready_store(tenant)
        ids = []
        for _ in range(3):
            backup = services.backup_request(store_id=store.id, actor=tenant)
            services.run_backup(backup.id)
            ids.append(backup.id)
        assert services.apply_retention(store_id=store.id, keep=2) == [ids[0]]
        assert not (s3 / "stores" / store.id / ids[0]).exists() or not any(
            (s3 / "stores" / store.id / ids[0]).iterdir()
        )
        assert (s3 / "stores" / store.id / ids[2] / "manifest.json").exists()
        assert Backup.objects.get(pk=ids[0]).removed_at is not None


class TestPageAndConsole:
    def test_page_button_starts_a_backup(self, tenant, client, django_capture_on_commit_callbacks):
        store = ready_store(tenant)
        client.force_login(tenant)
        assert 'id="backup-store"' in client.get(f"/stores/{store.id}").content.decode()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/stores/{store.id}/backups")
        assert response.status_code == 302
        backup = Backup.objects.get(store=store)
        assert queued_tasks() == [(BACKUP_TASK, [backup.id], queued_tasks()[0][2])]

    def test_page_button_on_another_tenants_store_is_refused_and_starts_nothing(self, tenant, other_tenant, client):
        store = ready_store(tenant)
        client.force_login(other_tenant)
        assert client.post(f"/stores/{store.id}/backups").status_code == 403
        assert client.post("/stores/store-0000ffff/backups").status_code == 404
        assert not Backup.objects.exists() and queued_tasks() == []

    def test_page_schedule_form_saves_the_schedule(self, tenant, client):
        from backups.models import BackupSchedule

        store = ready_store(tenant)
        client.force_login(tenant)
        assert 'id="backup-schedule"' in client.get(f"/stores/{store.id}").content.decode()
        response = client.post(
            f"/stores/{store.id}/backups/schedule", {"enabled": "on", "every_hours": "12", "keep": "3"}, follow=True
        )
        schedule = BackupSchedule.objects.get(store=store)
        assert (schedule.enabled, schedule.every_hours, schedule.keep) == (True, 12, 3)
        assert "Backup schedule saved: every 12 h, keeping 3." in response.content.decode()
        assert 'value="12"' in response.content.decode()
        event = AuditEvent.objects.get(store_id=store.id, metadata__action="backup_schedule")
        assert event.actor_email == tenant.email

    @pytest.mark.parametrize("form", [{"every_hours": "0", "keep": "3"}, {"every_hours": "12", "keep": "x"}])
    def test_page_schedule_form_refuses_out_of_bounds_values_and_changes_nothing(self, tenant, client, form):
        from backups.models import BackupSchedule

        store = ready_store(tenant)
        client.force_login(tenant)
        response = client.post(f"/stores/{store.id}/backups/schedule", {"enabled": "on", **form}, follow=True)
        assert "the schedule is unchanged" in response.content.decode()
        assert not BackupSchedule.objects.exists()
        assert not AuditEvent.objects.filter(store_id=store.id, metadata__action="backup_schedule").exists()

    def test_page_schedule_form_of_another_tenants_store_is_refused(self, tenant, other_tenant, client):
        from backups.models import BackupSchedule

        store = ready_store(tenant)
        client.force_login(other_tenant)
        form = {"enabled": "on", "every_hours": "1", "keep": "1"}
        assert client.post(f"/stores/{store.id}/backups/schedule", form).status_code == 403
        assert not BackupSchedule.objects.exists()

    def test_console_action_calls_the_service(self, admin_user, tenant, client):
        ready, failed = ready_store(tenant), StoreFactory(owner=tenant, status=S.FAILED)
        client.force_login(admin_user)
        response = client.post(
            "/admin/stores/store/",
            {"action": "backup_stores", "_selected_action": [ready.id, failed.id], "confirm": "yes"},
            follow=True,
        )
        assert response.status_code == 200
        assert Backup.objects.filter(store=ready).count() == 1 and not Backup.objects.filter(store=failed).exists()
        assert "Only ready stores can be backed up" in response.content.decode()


def succeeded_backup(owner, s3, monkeypatch) -> Backup:
    store = ready_store(owner)
    monkeypatch.setattr(services, "component_pod", lambda store, component: component)
    monkeypatch.setattr(services, "secret_references", lambda ns: [])
    monkeypatch.setattr(services.runner, "pipe", fake_pipe)
    backup = services.backup_request(store_id=store.id, actor=owner)
    assert services.run_backup(backup.id) == "succeeded"
    return Backup.objects.get(pk=backup.pk)


def create_from(client, backup_id, **body):
    return client.post(
        "/api/v1/stores",
        {"name": "restored-shop", "engine": "woocommerce", "restoreFrom": backup_id, **body},
        format="json",
    )


class TestRestoreFrom:
    @pytest.fixture(autouse=True)
    def _no_cooldown(self, settings):
        settings.STORE_CREATION_COOLDOWN_SECONDS = 0  # the source store was created a moment ago

    def test_own_succeeded_backup_is_accepted(
        self, tenant, tenant_api, s3, monkeypatch, django_capture_on_commit_callbacks
    ):
        backup = succeeded_backup(tenant, s3, monkeypatch)
        with django_capture_on_commit_callbacks(execute=True):
            response = create_from(tenant_api, backup.id)
        assert response.status_code == 202, response.content
        store = Store.objects.get(pk=response.json()["store"]["id"])
        assert Restore.objects.get(store=store).backup_id == backup.id
        assert (PROVISION_TASK, [store.id]) in [(name, args) for name, args, _ in queued_tasks()]

    def test_a_medusa_backup_is_accepted_for_a_new_medusa_store(
        self, tenant, tenant_api, django_capture_on_commit_callbacks
    ):
        source = StoreFactory(owner=tenant, status=S.READY, engine="medusa")
        backup = Backup.objects.create(store=source, engine="medusa", status=B.SUCCEEDED)
        with django_capture_on_commit_callbacks(execute=True):
            response = create_from(tenant_api, backup.id, engine="medusa")
        assert response.status_code == 202, response.content
        store = Store.objects.get(pk=response.json()["store"]["id"])
        assert (store.engine, Restore.objects.get(store=store).backup_id) == ("medusa", backup.id)
        assert (PROVISION_TASK, [store.id]) in [(name, args) for name, args, _ in queued_tasks()]

    @pytest.mark.parametrize("case", ["other-tenant", "missing", "failed", "engine", "removed"])
    def test_refused_with_400_and_nothing_created(self, case, tenant, other_tenant, tenant_api, s3, monkeypatch):
        owner = other_tenant if case == "other-tenant" else tenant
        backup = succeeded_backup(owner, s3, monkeypatch)
        body = {}
        if case == "failed":
            Backup.objects.filter(pk=backup.pk).update(status=B.FAILED)
        if case == "engine":
            body = {"engine": "medusa"}
        if case == "removed":
            services.apply_retention(store_id=backup.store_id, keep=0)
        stores_before = Store.objects.count()
        error = error_of(
            create_from(tenant_api, "backup-000000000000" if case == "missing" else backup.id, **body),
            400,
            "VALIDATION_ERROR",
        )
        assert "restoreFrom" in error["message"]
        assert Store.objects.count() == stores_before and not Restore.objects.exists()
        assert [t for t in queued_tasks() if t[0] == PROVISION_TASK] == []

    def test_restore_from_must_be_a_string(self, tenant_api):
        error_of(create_from(tenant_api, 12), 400, "VALIDATION_ERROR")

    def test_a_corrupted_part_is_refused_before_anything_is_written(self, tenant, s3, monkeypatch, settings):
        """The create chain verifies every part before its first step: a flipped byte fails the new store with
        the reason and no namespace step (nor any kubectl or helm) ever runs."""
        backup = succeeded_backup(tenant, s3, monkeypatch)
        part = s3 / "stores" / backup.store_id / backup.id / "database.sql"
        data = bytearray(part.read_bytes())
        data[100] ^= 0xFF
        part.write_bytes(bytes(data))
        settings.KUBECTL_BIN = settings.HELM_BIN = "/nonexistent/never-run"
        from stores import services as store_services

        store = store_services.store_create(owner=tenant, name="clone", engine="woocommerce", restore_from=backup.id)
        assert provisioning_services.provision(store.id) == "failed"
        store.refresh_from_db()
        assert store.status == S.FAILED and "database.sql does not match its manifest" in store.failure_reason
        steps = list(ProvisioningRun.objects.filter(store=store).values_list("step", "status"))
        assert steps == [("restore_verify", "failed")]
        assert Restore.objects.get(store=store).verified_at is None

    def test_an_intact_backup_verifies(self, tenant, s3, monkeypatch):
        from backups import restore
        from provisioning.steps import Attempt
        from stores import services as store_services

        backup = succeeded_backup(tenant, s3, monkeypatch)
        store = store_services.store_create(owner=tenant, name="clone", engine="woocommerce", restore_from=backup.id)
        restore.verify_before_create(Attempt(store, "create"))
        assert Restore.objects.get(store=store).verified_at is not None

    def test_a_replaced_manifest_is_refused(self, tenant, s3, monkeypatch):
        from backups import restore
        from provisioning.steps import Attempt
        from stores import services as store_services

        backup = succeeded_backup(tenant, s3, monkeypatch)
        manifest = s3 / "stores" / backup.store_id / backup.id / "manifest.json"
        manifest.write_text(manifest.read_text().replace('"succeeded"', '"succeeded" '))
        store = store_services.store_create(owner=tenant, name="clone", engine="woocommerce", restore_from=backup.id)
        with pytest.raises(storage.ChecksumMismatch, match="manifest"):
            restore.verify_before_create(Attempt(store, "create"))


class TestSchedule:
    def test_put_and_get(self, tenant, tenant_api):
        store = ready_store(tenant)
        url = f"/api/v1/stores/{store.id}/backups/schedule"
        assert tenant_api.get(url).json()["enabled"] is False
        response = tenant_api.put(url, {"enabled": True, "everyHours": 6, "keep": 3}, format="json")
        assert response.status_code == 200, response.content
        assert {k: response.json()[k] for k in ("enabled", "everyHours", "keep")} == {
            "enabled": True,
            "everyHours": 6,
            "keep": 3,
        }
        assert AuditEvent.objects.filter(store_id=store.id, metadata__action="backup_schedule").count() == 1

    @pytest.mark.parametrize("body", [{"enabled": True, "everyHours": 0, "keep": 3}, {"enabled": True, "keep": 3}])
    def test_invalid_is_400_and_nothing_changes(self, tenant, tenant_api, body):
        from backups.models import BackupSchedule

        store = ready_store(tenant)
        url = f"/api/v1/stores/{store.id}/backups/schedule"
        error_of(tenant_api.put(url, body, format="json"), 400, "VALIDATION_ERROR")
        assert not BackupSchedule.objects.exists()

    def test_other_tenant_is_403(self, tenant, other_api):
        store = ready_store(tenant)
        url = f"/api/v1/stores/{store.id}/backups/schedule"
        error_of(other_api.put(url, {"enabled": True, "everyHours": 6, "keep": 3}, format="json"), 403, "FORBIDDEN")

    def test_sweep_requests_due_backups_and_flags_overdue_ones(self, tenant):
        from datetime import timedelta

        from django.utils import timezone

        from backups.models import BackupSchedule

        due, fresh = ready_store(tenant), ready_store(tenant)
        for store in (due, fresh):
            services.backup_schedule_set(store_id=store.id, actor=tenant, enabled=True, every_hours=6, keep=2)
        recent = Backup.objects.create(store=fresh, engine="woocommerce", status=B.SUCCEEDED)
        later = timezone.now() + timedelta(hours=1)
        assert services.backups_run_schedules(now=later) == {
            "requested": [Backup.objects.get(store=due).id],
            "overdue": [],
        }
        assert Backup.objects.get(store=due).trigger == "schedule" and recent.trigger == "manual"
        # 13 h on, nothing succeeded for `due` (its backup is still requested): overdue, audited once, gauge set.
        much_later = timezone.now() + timedelta(hours=13)
        result = services.backups_run_schedules(now=much_later)
        assert due.id in result["overdue"] and fresh.id in result["overdue"]
        services.backups_run_schedules(now=much_later)
        assert AuditEvent.objects.filter(store_id=due.id, metadata__action="backup_overdue").count() == 1
        assert BackupSchedule.objects.get(store=due).overdue_since is not None
        assert REGISTRY.get_sample_value("store_backups_overdue") == 2

    def test_retention_follows_the_schedule(self, tenant, s3, no_cluster):
        store = ready_store(tenant)
        services.backup_schedule_set(store_id=store.id, actor=tenant, enabled=True, every_hours=6, keep=1)
        ids = []
        for _ in range(2):
            backup = services.backup_request(store_id=store.id, actor=tenant)
            services.run_backup(backup.id)
            ids.append(backup.id)
        assert Backup.objects.get(pk=ids[0]).removed_at is not None
        assert Backup.objects.get(pk=ids[1]).removed_at is None


class TestLostWorker:
    def test_a_backup_no_worker_holds_is_failed_and_the_store_can_be_backed_up_again(self, tenant, settings):
        from datetime import timedelta

        from django.utils import timezone

        settings.RECOVERY_GRACE_SECONDS = 60
        store = ready_store(tenant)
        stuck = Backup.objects.create(
            store=store, engine="woocommerce", status=B.RUNNING, started_at=timezone.now() - timedelta(minutes=5)
        )
        fresh = ready_store(tenant)
        young = Backup.objects.create(store=fresh, engine="woocommerce", status=B.RUNNING, started_at=timezone.now())
        assert services.backups_fail_lost() == [stuck.id]
        stuck.refresh_from_db()
        assert stuck.status == B.FAILED and "worker was lost" in stuck.failure_reason
        assert Backup.objects.get(pk=young.pk).status == B.RUNNING
        assert services.backup_request(store_id=store.id, actor=tenant).status == B.REQUESTED


class TestMedusaRewrite:
    """rewrite_after_load on a Medusa store whose database was just loaded (its pods stood in for): the loaded
    admin, if it refuses the store's password, is retired in SQL on stdin; then provisioning's engine setup runs
    (`medusa user` when the login is refused, the seed: the store's name and storefront key)."""

    @pytest.fixture
    def pods(self, monkeypatch):
        calls: dict[str, list] = {"login": [], "sql": [], "setup": []}
        login_ok = {"value": False}

        def check(store, *, pod, email, password):
            calls["login"].append((pod, email, password))
            if not login_ok["value"]:
                raise EngineSetupFailed("The Medusa admin user cannot log in to the admin API.")

        def exec_(namespace, pod, container, argv, *, stdin=None, timeout=None):
            calls["sql"].append({"pod": pod, "container": container, "argv": argv, "stdin": stdin.decode()})

        monkeypatch.setattr(restore, "component_pod", lambda store, component: f"{component}-0")
        monkeypatch.setattr(restore, "check_medusa_login", check)
        monkeypatch.setattr(restore.kubectl, "exec", exec_)
        monkeypatch.setattr(restore, "setup_medusa", lambda store, **kwargs: calls["setup"].append(kwargs))
        return calls, login_ok

    def test_a_loaded_admin_that_refuses_the_stores_password_is_retired_then_created_again(self, pods, tenant):
        calls, _ = pods
        store = StoreFactory(owner=tenant, status=S.PROVISIONING, engine="medusa")
        restore.rewrite_after_load(store, {"storefrontUrl": "http://old"}, new_url="http://new", password="New-Pw-1")
        assert calls["login"] == [("medusa-0", tenant.email, "New-Pw-1")]
        [sql] = calls["sql"]
        assert (sql["pod"], sql["container"], sql["argv"]) == ("postgresql-0", "postgresql", list(engine.PSQL))
        assert sql["stdin"] == restore.MEDUSA_RETIRE_ADMIN.format(email=f"'{tenant.email}'")
        assert sql["stdin"].startswith('UPDATE "user" SET deleted_at = now() WHERE lower(email)')
        assert "New-Pw-1" not in json.dumps(sql)
        assert calls["setup"] == [{"email": tenant.email, "password": "New-Pw-1"}]

    def test_an_admin_that_already_logs_in_is_kept_and_the_setup_still_runs(self, pods, tenant):
        calls, login_ok = pods
        login_ok["value"] = True
        store = StoreFactory(owner=tenant, status=S.READY, engine="medusa")
        restore.rewrite_after_load(store, {}, new_url="http://same", password="Same-Pw-1")
        assert calls["sql"] == [] and calls["setup"] == [{"email": tenant.email, "password": "Same-Pw-1"}]

    def test_a_quote_in_the_email_stays_inside_the_sql_literal(self, pods, tenant):
        calls, _ = pods
        tenant.email = "o'brien@example.com"
        tenant.save(update_fields=["email"])
        store = StoreFactory(owner=tenant, status=S.PROVISIONING, engine="medusa")
        restore.rewrite_after_load(store, {}, new_url="http://new", password="New-Pw-1")
        assert "lower('o''brien@example.com')" in calls["sql"][0]["stdin"]

    @pytest.mark.parametrize(
        "history, retired",
        [
            ([("restore_database", "failed")], True),  # the load failed: whatever it loaded stays
            ([("restore_database", "succeeded"), ("restore_rewrite", "running")], True),  # killed mid-rewrite
            ([("restore_database", "succeeded"), ("restore_rewrite", "succeeded")], False),
            ([], False),
        ],
    )
    def test_a_retry_after_a_load_without_its_rewrite_retires_the_loaded_admin_first(
        self, pods, tenant, history, retired
    ):
        calls, _ = pods
        store = StoreFactory(owner=tenant, status=S.PROVISIONING, engine="medusa")
        for name, status in history:
            ProvisioningRun.objects.create(store=store, operation="create", step=name, status=status)
        restore.verify_before_create(Attempt(store, "create"))
        assert [c["stdin"] for c in calls["sql"]] == (
            [restore.MEDUSA_RETIRE_ADMIN.format(email=f"'{tenant.email}'")] if retired else []
        )
        steps = list(ProvisioningRun.objects.filter(store=store).order_by("id").values_list("step", "status"))
        assert steps == history + ([("restore_retire_admin", "succeeded")] if retired else [])

    def test_no_database_pod_on_the_retry_retires_nothing(self, pods, tenant, monkeypatch):
        calls, _ = pods

        def no_pod(store, component):
            raise EngineSetupFailed(f"No ready {component} pod found in namespace {store.namespace}.")

        monkeypatch.setattr(restore, "component_pod", no_pod)
        store = StoreFactory(owner=tenant, status=S.PROVISIONING, engine="medusa")
        ProvisioningRun.objects.create(store=store, operation="create", step="restore_database", status="failed")
        restore.verify_before_create(Attempt(store, "create"))
        assert calls["sql"] == [] and ProvisioningRun.objects.filter(store=store).count() == 1
