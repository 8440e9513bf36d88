"""A store's backups (a consistent artifact in S3-compatible storage) and the restores that load one into a new
store. Rows change only through backups.services, which writes an audit row with every change."""

import secrets

from django.db import models
from django.utils import timezone


class BackupStatus(models.TextChoices):
    REQUESTED = "requested"  # accepted; waiting for a worker
    RUNNING = "running"  # a worker is dumping the database and archiving the uploads into storage
    SUCCEEDED = "succeeded"  # every part and manifest.json (written last) are in storage; it can be restored
    FAILED = "failed"  # stopped; failure_reason says why (parts already written are not a usable backup)


B = BackupStatus
# A worker owns the backup while it is in one of these.
IN_PROGRESS_STATES = frozenset({B.REQUESTED, B.RUNNING})
# Where each status may go (services check it before every change).
MOVES: dict[str, frozenset[str]] = {
    B.REQUESTED: frozenset({B.RUNNING, B.FAILED}),
    B.RUNNING: frozenset({B.SUCCEEDED, B.FAILED}),
    B.SUCCEEDED: frozenset(),
    B.FAILED: frozenset(),
}


def new_backup_id() -> str:
    return "backup-" + secrets.token_hex(6)


class Backup(models.Model):
    """One backup of one store: the engine database's dump, the uploads volume's archive and manifest.json under
    stores/<store id>/<backup id>/ in the bucket. `parts` records each part's key, size and sha256 as uploaded."""

    id = models.CharField(primary_key=True, max_length=32, default=new_backup_id, editable=False)
    store = models.ForeignKey("stores.Store", on_delete=models.PROTECT, related_name="backups")
    engine = models.CharField(max_length=16)
    status = models.CharField(max_length=16, choices=BackupStatus.choices, default=B.REQUESTED)
    # "manual" (API, page, console) or "schedule".
    trigger = models.CharField(max_length=16, default="manual")
    requested_by = models.CharField(max_length=254, blank=True, default="")
    chart_version = models.CharField(max_length=32, blank=True, default="")
    # {name: {key, size, sha256}} for "database" and "uploads".
    parts = models.JSONField(default=dict, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)  # all parts, manifest excluded
    manifest_sha256 = models.CharField(max_length=64, blank=True, default="")
    failure_reason = models.TextField(blank=True, default="")
    requested_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Set when retention removed its parts from the bucket: it can no longer be restored.
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["store", "-requested_at"], name="backup_store_idx")]

    def __str__(self) -> str:
        return f"{self.id} of {self.store_id} ({self.status})"

    @property
    def prefix(self) -> str:
        """Where its parts live in the bucket."""
        return f"stores/{self.store_id}/{self.id}/"


class Restore(models.Model):
    """A new store created from a backup (`restoreFrom`): its create chain verifies every part against the
    manifest before anything is written, then loads the data after engine setup and rewrites the site URL."""

    store = models.OneToOneField("stores.Store", on_delete=models.PROTECT, related_name="restore")
    backup = models.ForeignKey(Backup, on_delete=models.PROTECT, related_name="restores")
    verified_at = models.DateTimeField(null=True, blank=True)
    loaded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return f"{self.store_id} from {self.backup_id}"


class BackupSchedule(models.Model):
    """A store's scheduled backups: every `every_hours` hours (beat's sweep requests them), keeping the newest `keep`
    succeeded backups. `overdue_since` is set when no backup succeeded within twice the interval (audited once)."""

    store = models.OneToOneField("stores.Store", on_delete=models.PROTECT, related_name="backup_schedule")
    enabled = models.BooleanField(default=True)
    every_hours = models.PositiveIntegerField(default=24)
    keep = models.PositiveIntegerField(default=7)
    overdue_since = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.store_id} every {self.every_hours} h, keep {self.keep}"
