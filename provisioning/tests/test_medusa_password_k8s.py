"""A tenant's password change reaches a real Medusa 1.20 store (real chart, images, helm and kubectl on the local
cluster; logins through the ingress controller with the store's Host header): the API queues the store's password
task, the task runs Medusa's reset-password token flow inside the pod, and then the admin API's login takes the new
password and refuses the old one, the store stays ready, and the password is in no run row or audit message."""

import time

import pytest

from accounts.tests.factories import DEFAULT_PASSWORD
from audit.models import AuditEvent
from provisioning import services, tasks
from provisioning.models import Operation, ProvisioningRun
from provisioning.tests.test_chain_k8s import explain, new_store, real_cluster  # noqa: F401 (a fixture)
from provisioning.tests.test_medusa_k8s import through_ingress
from stores import services as store_services

pytestmark = pytest.mark.k8s

NEW_PASSWORD = "Medusa-New-Pass-2026!"  # noqa: S105  (the test's own)


def admin_login(store, password: str) -> int:
    """The status of the admin API's login (POST /admin/auth) for the store owner's email, through the ingress."""
    status, _, _ = through_ingress(store, "POST", "/admin/auth", {"email": store.owner.email, "password": password})
    return status


@pytest.mark.django_db
def test_a_changed_password_logs_in_to_the_medusa_admin_and_the_old_one_no_longer_does(
    real_cluster,  # noqa: F811
    tenant,
    tenant_api,
    monkeypatch,
):
    started = time.monotonic()
    store = new_store(real_cluster, tenant, name="medusa-password", engine="medusa")
    assert services.provision(store.id) == "ready", explain(store)
    store.refresh_from_db()
    old_password = store.secrets["adminPassword"]
    assert admin_login(store, old_password) == 200
    provisioned = time.monotonic()

    # The API queues the store's task (the worker is this test: it runs the task it was sent).
    sent: list[tuple] = []
    monkeypatch.setattr(services.current_app, "send_task", lambda name, args: sent.append((name, args)))
    response = tenant_api.patch(
        "/api/v1/auth/password", {"currentPassword": DEFAULT_PASSWORD, "newPassword": NEW_PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    assert sent == [(services.PASSWORD_TASK, [store.id])]
    assert tasks.update_store_password.apply(args=[store.id]).get() == "updated", explain(store)
    changed = time.monotonic()

    assert admin_login(store, NEW_PASSWORD) == 200
    assert admin_login(store, old_password) == 401
    store.refresh_from_db()
    assert store.status == "ready"
    assert store.admin_credentials["password"] == NEW_PASSWORD
    assert store.secrets["adminPassword"] == NEW_PASSWORD and "pendingAdminPassword" not in store.secrets
    messages = list(AuditEvent.objects.filter(store_id=store.id).values_list("message", flat=True))
    assert "Store admin password updated" in messages
    assert not [m for m in messages if NEW_PASSWORD in m or old_password in m]
    rows = ProvisioningRun.objects.filter(store=store, operation=Operation.PASSWORD)
    assert [(row.step, row.status) for row in rows] == [("admin_password", "succeeded")]
    for row in rows:
        for text in (repr(row.argv), row.error, row.traceback):
            assert NEW_PASSWORD not in text and old_password not in text
    print(f"provisioned in {provisioned - started:.0f} s, password changed in {changed - provisioned:.0f} s")

    store_services.store_request_deletion(store_id=store.id, actor=tenant)
    assert services.delete(store.id) == "deleted", explain(store)
