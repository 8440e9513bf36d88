"""The audit log is append-only: nothing in the code base can change or remove a row."""

import pytest

from audit.models import AuditEvent
from audit.services import audit_record, security_event
from core.logging import request_id_var

pytestmark = pytest.mark.django_db


def test_a_row_cannot_be_updated_or_deleted():
    event = audit_record(event_type="info", message="hello")
    event.message = "rewritten"
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()
    with pytest.raises(TypeError):
        AuditEvent.objects.filter(pk=event.pk).update(message="rewritten")
    with pytest.raises(TypeError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).message == "hello"


def test_unknown_event_types_are_refused():
    with pytest.raises(ValueError):
        audit_record(event_type="made_up")
    assert not AuditEvent.objects.exists()


def test_request_id_of_the_current_request_is_recorded():
    token = request_id_var.set("req_abcdefabcdef")
    try:
        event = audit_record(event_type="info", message="traced")
    finally:
        request_id_var.reset(token)
    assert event.request_id == "req_abcdefabcdef"


def test_security_event_carries_the_action_and_no_store():
    event = security_event(action="login_failed", email="x@example.com", ip_address="127.0.0.1")
    assert event.event_type == "security" and event.metadata == {"action": "login_failed"}
    assert event.store_id is None and event.actor_email == "x@example.com" and event.ip_address == "127.0.0.1"
