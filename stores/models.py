"""A store: one tenant's e-commerce site, living in its own namespace as one Helm release, and its lifecycle."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from core.crypto import EncryptedJSONField


class StoreStatus(models.TextChoices):
    REQUESTED = "requested"  # accepted by the API; waiting for a worker to pick it up
    PROVISIONING = "provisioning"  # a worker is creating its namespace, release and engine setup
    READY = "ready"  # serving; URLs and admin credentials are set
    FAILED = "failed"  # provisioning or deletion stopped; failure_reason says why; retry or delete
    DELETING = "deleting"  # a worker is removing its release and namespace
    DELETED = "deleted"  # gone from the cluster; the row stays for history (terminal)


class LifecycleStatus(models.TextChoices):
    """States beyond the contract's six (suspend/resume, upgrade with rollback): the same protected `status` field,
    but a separate vocabulary, because the contract's clients know only StoreStatus. They read each of these as the
    contract state in CONTRACT_STATUS (stores.api.serializers.store_representation)."""

    SUSPENDING = "suspending"  # a worker is closing the store: workloads to zero, the closed page put up
    SUSPENDED = "suspended"  # closed: no engine or database pods, volumes kept; its URL answers "store closed"
    RESUMING = "resuming"  # a worker is reopening it: replicas restored, then it must be served again
    UPGRADING = "upgrading"  # a worker runs helm upgrade (chart version or values) and rolls back on failure
    RESTORING = "restoring"  # a worker backs the store up, then loads a chosen backup's data into it (same URL)


S = StoreStatus
L = LifecycleStatus
# Stores that count against the per-user limit (failed and deleted ones do not, as in the original). A suspended
# store still holds its namespace and volumes, so it counts.
ACTIVE_STATES = frozenset(
    {S.REQUESTED, S.PROVISIONING, S.READY, S.DELETING, L.SUSPENDING, L.SUSPENDED, L.RESUMING, L.UPGRADING, L.RESTORING}
)
# A worker owns the store while it is in one of these.
IN_PROGRESS_STATES = frozenset(
    {S.REQUESTED, S.PROVISIONING, S.DELETING, L.SUSPENDING, L.RESUMING, L.UPGRADING, L.RESTORING}
)
# Lifecycle operations a worker runs (recovery re-enqueues them when their worker is lost).
LIFECYCLE_IN_PROGRESS = frozenset({L.SUSPENDING, L.RESUMING, L.UPGRADING, L.RESTORING})
TERMINAL_STATES = frozenset({S.DELETED})
# How the contract's clients (the React dashboard, scripts) see a lifecycle state: work in progress reads as
# "provisioning" (no delete or retry offered, which the API refuses then anyway); a suspended store is intact and
# may be deleted, so it reads as "ready". The precise state is at GET /api/v1/stores/{id}/lifecycle.
CONTRACT_STATUS: dict[str, str] = {
    L.SUSPENDING: S.PROVISIONING,
    L.SUSPENDED: S.READY,
    L.RESUMING: S.PROVISIONING,
    L.UPGRADING: S.PROVISIONING,
    L.RESTORING: S.PROVISIONING,
}


def contract_status(status: str) -> str:
    """The contract's name for a store's status (one of StoreStatus)."""
    return CONTRACT_STATUS.get(status, status)


class Engine(models.TextChoices):
    WOOCOMMERCE = "woocommerce", "WooCommerce"
    MEDUSA = "medusa", "MedusaJS"


class Theme(models.TextChoices):
    STOREFRONT = "storefront"
    ASTRA = "astra"


def new_store_id() -> str:
    return "store-" + secrets.token_hex(4)


class Store(ConcurrentTransitionMixin, models.Model):
    """A tenant's store. `status` moves only through the transitions below (called by stores.services), and a
    save that lost a race with another transition fails instead of overwriting it (optimistic locking)."""

    id = models.CharField(primary_key=True, max_length=32, default=new_store_id, editable=False)
    name = models.CharField(max_length=63)
    engine = models.CharField(max_length=16, choices=Engine.choices)
    theme = models.CharField(max_length=16, choices=Theme.choices, null=True, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="stores")
    status = FSMField(default=S.REQUESTED, choices=StoreStatus.choices + LifecycleStatus.choices, protected=True)

    namespace = models.CharField(max_length=63)
    helm_release = models.CharField(max_length=53)
    storefront_url = models.CharField(max_length=512, null=True, blank=True)
    admin_url = models.CharField(max_length=512, null=True, blank=True)
    # {email, username?, password}: shown to the owner once ready; encrypted at rest.
    admin_credentials = EncryptedJSONField(null=True, blank=True)
    # Platform-generated secrets handed to helm (database passwords, Medusa JWT/cookie secrets); encrypted, reused
    # on retry and upgrade so a re-install never changes them.
    secrets = EncryptedJSONField(null=True, blank=True)

    failure_reason = models.TextField(null=True, blank=True)
    retry_count = models.PositiveIntegerField(default=0)
    provisioning_started_at = models.DateTimeField(null=True, blank=True)
    provisioning_completed_at = models.DateTimeField(null=True, blank=True)
    provisioning_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # Lifecycle (suspend/resume, upgrade). The chart version the release runs, and the tenant's chart values on top
    # of what the platform derives (never a secret: those live in `secrets`); both survive every upgrade and retry.
    chart_version = models.CharField(max_length=32, blank=True, default="")
    chart_values = models.JSONField(default=dict, blank=True)
    # While upgrading: what was asked ({chartVersion, values, requestedBy}), so a recovered worker can finish it.
    pending_upgrade = models.JSONField(null=True, blank=True)
    # The last upgrade's outcome: {outcome: succeeded|rolled_back|failed, fromVersion, toVersion, values, reason,
    # fromRevision, finishedAt}; a rolled-back upgrade leaves the store ready with the reason here.
    last_upgrade = models.JSONField(null=True, blank=True)
    suspended_at = models.DateTimeField(null=True, blank=True)
    # While restoring: which backup is loaded into the store ({backupId, requestedBy, requestedAt}), so a recovered
    # worker can finish it; then the outcome ({outcome: succeeded|not_started|failed, backupId, safetyBackupId,
    # reason, finishedAt}).
    pending_restore = models.JSONField(null=True, blank=True)
    last_restore = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A name is taken only while the store exists: it can be reused once the store is deleted.
            models.UniqueConstraint(
                fields=["owner", "name"], condition=~Q(status="deleted"), name="store_name_unique_per_owner"
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "-created_at", "-id"], name="store_owner_list_idx"),
            models.Index(fields=["status", "-created_at", "-id"], name="store_status_list_idx"),
            models.Index(fields=["-created_at", "-id"], name="store_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"

    # Transitions only move state and stamp the fields that belong to the move; services do the work.

    @transition(field=status, source=S.REQUESTED, target=S.PROVISIONING)
    def start_provisioning(self) -> None:
        self.provisioning_started_at = timezone.now()
        self.provisioning_completed_at = None
        self.provisioning_duration_ms = None
        self.failure_reason = None

    @transition(field=status, source=S.PROVISIONING, target=S.READY)
    def mark_ready(
        self, *, storefront_url: str, admin_url: str, admin_credentials: dict, chart_version: str = ""
    ) -> None:
        now = timezone.now()
        if chart_version:  # the chart the release was (re)installed from: what an upgrade starts from
            self.chart_version = chart_version
        self.storefront_url, self.admin_url = storefront_url, admin_url
        self.admin_credentials = admin_credentials
        self.failure_reason = None
        self.provisioning_completed_at = now
        if self.provisioning_started_at:
            self.provisioning_duration_ms = int((now - self.provisioning_started_at).total_seconds() * 1000)

    @transition(
        field=status,
        source=[S.REQUESTED, S.PROVISIONING, S.DELETING, L.SUSPENDING, L.RESUMING, L.UPGRADING, L.RESTORING],
        target=S.FAILED,
    )
    def mark_failed(self, *, reason: str) -> None:
        self.failure_reason = reason
        if self.provisioning_started_at and not self.provisioning_completed_at:
            self.provisioning_completed_at = timezone.now()
        if self.status == L.UPGRADING and self.pending_upgrade is not None:  # (still the source state here)
            asked = self.pending_upgrade
            self.last_upgrade = {
                "outcome": "failed",
                "fromVersion": self.chart_version,
                "toVersion": asked.get("chartVersion"),
                "values": asked.get("values") or {},
                "reason": reason,
                "finishedAt": timezone.now().isoformat(),
            }
            self.pending_upgrade = None
        if self.status == L.RESTORING and self.pending_restore is not None:
            self.last_restore = {
                "outcome": "failed",
                "backupId": self.pending_restore.get("backupId"),
                "reason": reason,
                "finishedAt": timezone.now().isoformat(),
            }
            self.pending_restore = None

    @transition(field=status, source=[S.READY, S.FAILED, L.SUSPENDED], target=S.DELETING)
    def request_deletion(self) -> None:
        pass

    @transition(field=status, source=S.DELETING, target=S.DELETED)
    def mark_deleted(self) -> None:
        self.deleted_at = timezone.now()
        self.storefront_url = self.admin_url = None

    @transition(field=status, source=S.FAILED, target=S.REQUESTED)
    def retry(self) -> None:
        self.retry_count += 1
        self.failure_reason = None
        self.provisioning_started_at = None
        self.provisioning_completed_at = None
        self.provisioning_duration_ms = None

    # Lifecycle transitions (beyond the contract's machine; stores.services runs them, provisioning.lifecycle works).

    @transition(field=status, source=S.READY, target=L.SUSPENDING)
    def request_suspend(self) -> None:
        self.failure_reason = None

    @transition(field=status, source=L.SUSPENDING, target=L.SUSPENDED)
    def mark_suspended(self) -> None:
        self.suspended_at = timezone.now()

    @transition(field=status, source=L.SUSPENDED, target=L.RESUMING)
    def request_resume(self) -> None:
        pass

    @transition(field=status, source=L.RESUMING, target=S.READY)
    def mark_resumed(self) -> None:
        self.suspended_at = None

    @transition(field=status, source=S.READY, target=L.UPGRADING)
    def request_upgrade(self, *, target: dict) -> None:
        self.pending_upgrade = target

    @transition(field=status, source=L.UPGRADING, target=S.READY)
    def finish_upgrade(self, *, outcome: dict, chart_version: str | None = None, chart_values: dict | None = None):
        """Succeeded (the new version and values become the store's) or rolled back (they stay as they were); either
        way the store serves again and `last_upgrade` says what happened."""
        if chart_version is not None:
            self.chart_version = chart_version
        if chart_values is not None:
            self.chart_values = chart_values
        self.last_upgrade = outcome
        self.pending_upgrade = None

    @transition(field=status, source=S.READY, target=L.RESTORING)
    def request_restore(self, *, target: dict) -> None:
        self.pending_restore = target

    @transition(field=status, source=L.RESTORING, target=S.READY)
    def finish_restore(self, *, outcome: dict) -> None:
        """Restored (the backup's data is the store's, same URL, secrets and admin password) or not started (its
        backup first failed, nothing was loaded); either way the store serves again and `last_restore` says so."""
        self.last_restore = outcome
        self.pending_restore = None


def _machine(states: list[str] | None = None) -> dict[str, tuple[str, ...]]:
    """The contract's state machine (§3) as {source: targets}, read from Store's transitions so it is stated once
    (the decorators above); targets list the way forward first and failure last, as the contract's messages do.
    With `states`, the machine among those states only (the contract's six by default)."""
    order = list(states or StoreStatus.values)
    edges: dict[str, set[str]] = {state: set() for state in order}
    for move in Store._meta.get_field("status").get_all_transitions(Store):  # type: ignore[union-attr]
        sources = order if move.source == "*" else [move.source]
        for source in sources:
            if source in edges and move.target in edges:
                edges[source].add(move.target)
    return {
        source: tuple(sorted(targets, key=lambda target: (target == S.FAILED, order.index(target))))
        for source, targets in edges.items()
    }


# {source: allowed targets}: for messages and tests; code asks can_proceed(store.<transition>) instead.
TRANSITIONS: dict[str, tuple[str, ...]] = _machine()
# The whole machine, lifecycle states included (the contract's TRANSITIONS is its restriction to StoreStatus).
MACHINE: dict[str, tuple[str, ...]] = _machine(StoreStatus.values + LifecycleStatus.values)
