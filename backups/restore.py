"""Restore into a new store: `restoreFrom` is checked and recorded when the store is created (plan_restore, called
by stores.services.store_create), and the create chain runs the rest through provisioning.services' hooks: every
part and the manifest are verified against what the backup recorded BEFORE anything is written
(verify_before_create), then, after engine setup on the new release with its new secrets, the data is loaded, the
site URL rewritten and the new admin password set (load_after_setup); only then is the store served and ready.
rewrite_after_load is also the restore into the same store's (restore_in_place)."""

import logging
from typing import Any

from django.conf import settings
from django.utils import timezone

from audit.models import EventType
from audit.services import audit_record
from backups import engine, storage
from backups.models import Backup, BackupStatus, Restore
from backups.services import MANIFEST, part_failure
from core.errors import ValidationFailed
from provisioning import breaker, kubectl, runner
from provisioning.errors import CommandFailed
from provisioning.helm import tool_env
from provisioning.models import ProvisioningRun, RunStatus
from provisioning.setup import (
    EngineSetupFailed,
    _wp,
    check_medusa_login,
    component_pod,
    set_woocommerce_password,
    setup_medusa,
)
from provisioning.steps import Attempt, step
from provisioning.values import admin_email
from stores.models import Engine, Store

logger = logging.getLogger("storeplane.backups")


def _invalid(message: str) -> ValidationFailed:
    key = "restoreFrom"
    return ValidationFailed(
        message,
        details=[{"message": message, "path": [key], "type": "any.invalid", "context": {"label": key, "key": key}}],
    )


def plan_restore(store: Store, backup_id: str) -> None:
    """In store_create's transaction: the backup must exist, be the new store's owner's, have succeeded, still be in
    storage and be of the same engine (400 VALIDATION_ERROR otherwise; another tenant's reads as missing)."""
    backup = Backup.objects.select_related("store").filter(pk=backup_id).first()
    if backup is None or backup.store.owner_id != store.owner_id:
        raise _invalid(f"\"restoreFrom\" must be the id of one of your backups; no backup '{backup_id}' was found.")
    if backup.status != BackupStatus.SUCCEEDED:
        raise _invalid(f'"restoreFrom" must be a succeeded backup; {backup.id} is {backup.status}.')
    if backup.removed_at is not None:
        raise _invalid(f'"restoreFrom": backup {backup.id} was removed from storage by retention.')
    if backup.engine != store.engine:
        raise _invalid(f'"restoreFrom": backup {backup.id} is of a {backup.engine} store, not {store.engine}.')
    Restore.objects.create(store=store, backup=backup)
    audit_record(
        event_type=EventType.INFO,
        store=store,
        message=f"Store to be restored from backup {backup.id} of {backup.store_id}",
        metadata={"action": "restore", "backupId": backup.id, "sourceStoreId": backup.store_id},
    )


def _restore_of(store: Store) -> Restore | None:
    return Restore.objects.select_related("backup").filter(store_id=store.pk).first()


def _manifest(restore: Restore) -> dict[str, Any]:
    return _manifest_of(restore.backup)


def _manifest_of(backup: Backup) -> dict[str, Any]:
    """manifest.json, checked against the sha256 recorded when the backup succeeded, and its parts against the
    backup's row."""
    key = backup.prefix + MANIFEST
    document, sha256 = storage.get_json(key)
    if sha256 != backup.manifest_sha256:
        raise storage.ChecksumMismatch(
            f"The manifest of backup {backup.id} does not match the one recorded when it succeeded: "
            "the backup is corrupted and was not restored."
        )
    if document.get("parts") != backup.parts or document.get("engine") != backup.engine:
        raise storage.ChecksumMismatch(f"The manifest of backup {backup.id} does not describe its parts.")
    return document


def verify_before_create(run: Attempt) -> None:
    """Before the namespace exists: every part is read from storage and must match its manifest's size and
    sha256; a mismatch fails the new store with the reason and nothing is created. On a retry of a Medusa store
    whose restore stopped between loading and rewriting, the loaded admin is retired first (see below)."""
    restore = _restore_of(run.store)
    if restore is not None:
        with step(run, "restore_verify"):
            _verify(run, restore.backup)
            Restore.objects.filter(pk=restore.pk).update(verified_at=timezone.now())
    if _half_restored_medusa(run.store):
        try:
            component_pod(run.store, "postgresql")
        except EngineSetupFailed:
            return  # no database pod: helm install starts one, and nothing loaded is left to meet
        # The retry's engine setup would log in as the store's admin and meet the backup's, which refuses the
        # store's password: retired, `medusa user` creates the store's again (and the restore then loads again).
        with step(run, "restore_retire_admin"):
            _retire_admin(run.store)


def _half_restored_medusa(store: Store) -> bool:
    """A Medusa store whose last load of a backup (into a new store or itself) has no rewrite that succeeded after
    it: the load failed, or the restore stopped (failed, or its worker was killed) before the rewrite was done."""
    if store.engine != Engine.MEDUSA:
        return False
    runs = ProvisioningRun.objects.filter(store_id=store.pk)
    load = runs.filter(step="restore_database").order_by("-id").values_list("id", flat=True).first()
    rewritten = runs.filter(step="restore_rewrite", status=RunStatus.SUCCEEDED, id__gt=load or 0)
    return load is not None and not rewritten.exists()


def _verify(run: Attempt, backup: Backup) -> dict[str, Any]:
    """Every part read back from storage must match the manifest's size and sha256 (and the manifest the one
    recorded when the backup succeeded): ChecksumMismatch otherwise. Returns the manifest."""
    manifest = _manifest_of(backup)
    for name, part in manifest["parts"].items():
        storage.verify(backup.prefix + part["file"], sha256=part["sha256"], size=part["size"])
        logger.info("restore %s: part %s verified", run.store.pk, name, extra={"store_id": run.store.pk})
    return manifest


def _load_part(run: Attempt, store: Store, part: engine.Part, stored: dict, prefix: str) -> None:
    """Stream the stored part into its load command in the new store's pod (checked again as it streams: a part
    changed since verification makes the load fail)."""
    pod = component_pod(store, part.component)
    argv = kubectl.exec_argv(store.namespace, pod, part.container, list(part.load), stdin=True)
    source = storage.verified_chunks(prefix + stored["file"], sha256=stored["sha256"], size=stored["size"])
    try:
        with breaker.guard(kubectl.BREAKER):
            runner.pipe(
                argv,
                timeout=settings.BACKUP_COMMAND_TIMEOUT_SECONDS,
                source=source,
                env=tool_env(),
                secrets=run.secrets,
            )
    except CommandFailed as error:
        if type(error) is not CommandFailed:
            raise
        raise part_failure(error, f"Loading the {part.name}") from None


def _rewrite_woocommerce(store: Store, *, old_url: str, new_url: str, password: str) -> None:
    """The loaded database is the source's: its site URL, name and admin password become the new store's. The
    local wp stand-in has no `search-replace`, so the two URL options are set with `wp option update`, and the
    old URL in posts (content and guid, plain text, never serialized) is replaced in SQL."""
    pod = component_pod(store, "wordpress")
    for option in ("home", "siteurl"):
        _wp(store, pod, "option", "update", option, new_url)
    _wp(store, pod, "option", "update", "blogname", stdin=store.name.encode())
    if old_url and old_url != new_url:
        db = component_pod(store, "mariadb")
        # Constant SQL; the URLs arrive as session variables on stdin (never in argv), quoted for a SQL literal.
        quote = lambda value: "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"  # noqa: E731
        sql = (
            f"SET @old = {quote(old_url)}, @new = {quote(new_url)};\n"
            "UPDATE wp_posts SET post_content = REPLACE(post_content, @old, @new), guid = REPLACE(guid, @old, @new);\n"
            "UPDATE wp_postmeta SET meta_value = REPLACE(meta_value, @old, @new) WHERE meta_value"
            " LIKE CONCAT('%', @old, '%') AND meta_value NOT LIKE 'a:%' AND meta_value NOT LIKE 'O:%';\n"
        )
        kubectl.exec(
            store.namespace,
            db,
            "mariadb",
            list(engine.MARIADB_LOAD),
            stdin=sql.encode(),
            timeout=120,
        )
    set_woocommerce_password(store, password=password)


# The loaded Medusa database's admin users with the store's admin email are retired (Medusa's own soft delete, so
# nothing that references them breaks and a login no longer finds them); `medusa user` then creates the store's.
MEDUSA_RETIRE_ADMIN = (
    'UPDATE "user" SET deleted_at = now() WHERE lower(email) = lower({email}) AND deleted_at IS NULL;\n'
)


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"  # PostgreSQL's standard_conforming_strings (its default)


def _rewrite_medusa(store: Store, *, password: str) -> None:
    """The loaded database is the source's (or the backup's): its admin user has the password of then, and its
    storefront key and store name are the source's. A loaded admin that refuses the store's password is retired;
    then provisioning's engine setup runs as for a new store (`medusa user` creates the admin with the store's
    password when the login is refused, then the seed, which creates only what is missing: the store's name, the
    storefront's publishable key with the store's id in the default sales channel, any seeded item the data lacks)."""
    email = admin_email(store)
    try:
        check_medusa_login(store, pod=component_pod(store, "medusa"), email=email, password=password)
    except EngineSetupFailed:
        _retire_admin(store)
    setup_medusa(store, email=email, password=password)


def _retire_admin(store: Store) -> None:
    db = component_pod(store, "postgresql")
    sql = MEDUSA_RETIRE_ADMIN.format(email=_sql_literal(admin_email(store)))
    kubectl.exec(store.namespace, db, "postgresql", list(engine.PSQL), stdin=sql.encode(), timeout=120)


def rewrite_after_load(store: Store, manifest: dict[str, Any], *, new_url: str, password: str) -> None:
    """After the backup's data is loaded into `store` (a new one, or the same one): what names the source becomes
    the store's own (its URL where the engine keeps it, its name, its storefront's key) and the admin password is
    `password` again."""
    if store.engine == Engine.WOOCOMMERCE:
        _rewrite_woocommerce(store, old_url=manifest.get("storefrontUrl") or "", new_url=new_url, password=password)
    else:  # Medusa keeps no URL in its database: the chart gives it the store's (CORS) and the storefront's key
        _rewrite_medusa(store, password=password)


def load_after_setup(run: Attempt, secrets: dict[str, str], storefront: str) -> None:
    """After engine setup of the new release: load each part, then rewrite what names the source store."""
    store = run.store
    restore = _restore_of(store)
    if restore is None:
        return
    manifest = _manifest(restore)
    prefix = restore.backup.prefix
    for part in engine.parts_for(store.engine):
        stored = manifest["parts"].get(part.name)
        if stored is None:
            continue
        with step(run, f"restore_{part.name}"):
            _load_part(run, store, part, stored, prefix)
    with step(run, "restore_rewrite"):
        rewrite_after_load(store, manifest, new_url=storefront, password=secrets["adminPassword"])
    Restore.objects.filter(pk=restore.pk).update(loaded_at=timezone.now())
    audit_record(
        event_type=EventType.INFO,
        store=store,
        message=f"Data restored from backup {restore.backup_id}",
        metadata={"action": "restore", "backupId": restore.backup_id, "sourceStoreId": restore.backup.store_id},
    )
