"""One row per attempt of one provisioning step: what ran (argv, redacted), how long, and how it ended."""

from django.db import models
from django.utils import timezone


class Operation(models.TextChoices):
    CREATE = "create"  # the create chain: namespace -> helm -> readiness -> engine setup -> urls -> ready
    DELETE = "delete"  # the deletion chain: helm uninstall -> namespace delete -> wait until gone -> deleted
    PASSWORD = "password"  # noqa: S105  propagating a tenant's new password to a store's admin account
    RECOVERY = "recovery"  # recovery/reconciliation acting on a store (stuck releases, lost workers)
    SUSPEND = "suspend"  # provisioning.lifecycle: workloads to zero, the closed page up -> suspended
    RESUME = "resume"  # provisioning.lifecycle: replicas restored, served again -> ready
    UPGRADE = "upgrade"  # provisioning.lifecycle: helm upgrade, health check, automatic rollback on failure


class RunStatus(models.TextChoices):
    RUNNING = "running"  # the step is in progress (or its worker died: recovery closes such rows)
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # a command said no; `error` is a reason a tenant can read
    ERRORED = "errored"  # our own code broke; `traceback` is kept for operators only


class ProvisioningRun(models.Model):
    """An attempt of one step of a store operation, for the store page's timeline and the operators' console."""

    store = models.ForeignKey("stores.Store", on_delete=models.PROTECT, related_name="runs")
    operation = models.CharField(max_length=16, choices=Operation.choices)
    step = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING)
    attempt = models.PositiveIntegerField(default=0)
    argv = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True, default="")
    traceback = models.TextField(blank=True, default="")
    request_id = models.CharField(max_length=64, null=True, blank=True)
    task_id = models.CharField(max_length=64, null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["store", "-started_at"], name="run_store_idx"),
            models.Index(fields=["status", "-started_at"], name="run_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.store_id} {self.operation}/{self.step} {self.status}"
