"""The console lists provisioning runs read-only, with redacted commands."""

import pytest

from provisioning.models import ProvisioningRun
from stores.tests.factories import StoreFactory

pytestmark = pytest.mark.django_db


def test_runs_are_listed_and_read_only(client, admin_user):
    store = StoreFactory()
    run = ProvisioningRun.objects.create(
        store=store,
        operation="create",
        step="helm_install",
        status="failed",
        argv=[["helm", "upgrade", "-f", "***"]],
        error="helm exited with code 1: boom",
        duration_ms=1234,
    )
    client.force_login(admin_user)
    listing = client.get("/admin/provisioning/provisioningrun/").content.decode()
    assert store.id in listing and "helm_install" in listing and "1234" in listing
    detail = client.get(f"/admin/provisioning/provisioningrun/{run.pk}/change/").content.decode()
    assert "helm upgrade -f ***" in detail and 'name="_save"' not in detail
    assert client.post(f"/admin/provisioning/provisioningrun/{run.pk}/delete/").status_code == 403
    assert client.get("/admin/provisioning/provisioningrun/add/").status_code == 403
    assert ProvisioningRun.objects.filter(pk=run.pk).exists()
