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


S = StoreStatus
# Stores that count against the per-user limit (failed and deleted ones do not, as in the original).
ACTIVE_STATES = frozenset({S.REQUESTED, S.PROVISIONING, S.READY, S.DELETING})
# A worker owns the store while it is in one of these.
IN_PROGRESS_STATES = frozenset({S.REQUESTED, S.PROVISIONING, S.DELETING})
TERMINAL_STATES = frozenset({S.DELETED})


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
    status = FSMField(default=S.REQUESTED, choices=StoreStatus.choices, protected=True)

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
    def mark_ready(self, *, storefront_url: str, admin_url: str, admin_credentials: dict) -> None:
        now = timezone.now()
        self.storefront_url, self.admin_url = storefront_url, admin_url
        self.admin_credentials = admin_credentials
        self.failure_reason = None
        self.provisioning_completed_at = now
        if self.provisioning_started_at:
            self.provisioning_duration_ms = int((now - self.provisioning_started_at).total_seconds() * 1000)

    @transition(field=status, source=[S.REQUESTED, S.PROVISIONING, S.DELETING], target=S.FAILED)
    def mark_failed(self, *, reason: str) -> None:
        self.failure_reason = reason
        if self.provisioning_started_at and not self.provisioning_completed_at:
            self.provisioning_completed_at = timezone.now()

    @transition(field=status, source=[S.READY, S.FAILED], target=S.DELETING)
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


def _machine() -> dict[str, tuple[str, ...]]:
    """The contract's state machine (§3) as {source: targets}, read from Store's transitions so it is stated once
    (the decorators above); targets list the way forward first and failure last, as the contract's messages do."""
    order = list(StoreStatus.values)
    edges: dict[str, set[str]] = {state: set() for state in order}
    for move in Store._meta.get_field("status").get_all_transitions(Store):  # type: ignore[union-attr]
        sources = order if move.source == "*" else [move.source]
        for source in sources:
            edges[source].add(move.target)
    return {
        source: tuple(sorted(targets, key=lambda target: (target == S.FAILED, order.index(target))))
        for source, targets in edges.items()
    }


# {source: allowed targets}: for messages and tests; code asks can_proceed(store.<transition>) instead.
TRANSITIONS: dict[str, tuple[str, ...]] = _machine()
