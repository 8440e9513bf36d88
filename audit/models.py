"""The audit log: one row per store state change, provisioning step note and security event. Append-only."""

from django.conf import settings
from django.db import models


class EventType(models.TextChoices):
    STORE_CREATED = "store_created"  # a tenant asked for a store
    STATUS_CHANGE = "status_change"  # the store moved between states (previous -> new)
    INFO = "info"  # a provisioning/deletion step note
    HELM_INSTALL = "helm_install"  # about to run helm upgrade --install
    HELM_UNINSTALL = "helm_uninstall"  # about to run helm uninstall
    WARNING = "warning"  # something non-fatal went wrong (e.g. engine setup)
    ERROR = "error"  # provisioning or deletion failed
    RECOVERY = "recovery"  # recovery/reconciliation acted on the store
    SECURITY = "security"  # registration, logins, lockouts, rate limits (metadata.action says which)


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("Audit events are append-only: they cannot be updated.")

    def delete(self):
        raise TypeError("Audit events are append-only: they cannot be deleted.")


class AuditEvent(models.Model):
    """An immutable record of something that happened to a store or an account. Snapshots (store name, actor
    email, owner id) keep it readable after the store or the user is gone."""

    id = models.BigAutoField(primary_key=True)
    store_id = models.CharField(max_length=32, null=True, blank=True)
    store_name = models.CharField(max_length=128, null=True, blank=True)
    store_owner_id = models.UUIDField(null=True, blank=True)
    event_type = models.CharField(max_length=64, choices=EventType.choices)
    previous_status = models.CharField(max_length=32, null=True, blank=True)
    new_status = models.CharField(max_length=32, null=True, blank=True)
    message = models.TextField(blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_email = models.EmailField(max_length=255, null=True, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        # Rows are only ever appended, so id order is creation order: lists sort by id, which the indexes serve.
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["store_id", "-id"], name="audit_store_id_idx"),
            models.Index(fields=["store_owner_id", "-id"], name="audit_owner_id_idx"),
            models.Index(fields=["event_type", "-id"], name="audit_type_id_idx"),
            models.Index(fields=["created_at"], name="audit_created_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.store_id or '-'} {self.created_at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise TypeError("Audit events are append-only: they cannot be updated.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Audit events are append-only: they cannot be deleted.")
