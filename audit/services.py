"""The one way to write the audit log. Call it inside the transaction of the change it records."""

from typing import Any

from audit.models import AuditEvent, EventType
from core.logging import request_id_var


def audit_record(
    *,
    event_type: str,
    store: Any = None,
    previous_status: str | None = None,
    new_status: str | None = None,
    message: str = "",
    metadata: dict[str, Any] | None = None,
    actor: Any = None,
    actor_email: str | None = None,
    ip_address: str | None = None,
    request_id: str | None = None,
) -> AuditEvent:
    """Append one event. `store` is any object with id, name and owner_id (a Store); the request id defaults to the
    one of the request or task in progress, so a row can be traced to the API call that caused it."""
    if event_type not in EventType.values:
        raise ValueError(f"Unknown audit event type: {event_type}")
    return AuditEvent.objects.create(
        event_type=event_type,
        store_id=getattr(store, "id", None),
        store_name=getattr(store, "name", None),
        store_owner_id=getattr(store, "owner_id", None),
        previous_status=previous_status,
        new_status=new_status,
        message=message,
        metadata=metadata or {},
        actor=actor if getattr(actor, "pk", None) else None,
        actor_email=actor_email or getattr(actor, "email", None),
        ip_address=ip_address,
        request_id=request_id or request_id_var.get(),
    )


def security_event(
    *, action: str, email: str | None, ip_address: str | None, actor: Any = None, **metadata: Any
) -> AuditEvent:
    """A security event (registration, login_success, login_failed, account_locked, *_rate_limited)."""
    return audit_record(
        event_type=EventType.SECURITY,
        message=action.replace("_", " ").capitalize(),
        metadata={"action": action, **metadata},
        actor=actor,
        actor_email=email,
        ip_address=ip_address,
    )
