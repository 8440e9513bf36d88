"""Admins come only from createsuperuser or ensure_admin, never from registration."""

import pytest
from django.core.management import call_command

from accounts.models import Role, User

pytestmark = pytest.mark.django_db


def test_createsuperuser_makes_an_admin_who_can_enter_the_console(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "operator-pass-1")
    call_command("createsuperuser", "--noinput", email="Ops@Example.com", username="ops")
    user = User.objects.get(email="ops@example.com")
    assert user.role == Role.ADMIN and user.is_superuser and user.is_staff
    assert user.check_password("operator-pass-1")


def test_ensure_admin_creates_once_and_promotes(monkeypatch, capsys):
    monkeypatch.setenv("ADMIN_EMAIL", "root@example.com")
    monkeypatch.setenv("ADMIN_PASSWORD", "operator-pass-1")
    call_command("ensure_admin", email="root@example.com")
    call_command("ensure_admin", email="root@example.com")
    assert User.objects.filter(email="root@example.com", role=Role.ADMIN).count() == 1
    out = capsys.readouterr().out
    assert "created or promoted" in out and "already present" in out
    assert "operator-pass-1" not in out


def test_ensure_admin_without_settings_does_nothing(monkeypatch):
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    call_command("ensure_admin", email="")
    assert not User.objects.exists()


def test_a_tenant_is_not_staff():
    user = User.objects.create_user(email="t@example.com", username="t", password="tenant-pass-1")
    assert user.role == Role.TENANT and not user.is_staff
