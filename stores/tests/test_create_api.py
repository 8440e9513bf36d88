"""POST /api/v1/stores: validation, guardrails (limit, cooldown), name reuse, idempotency, audit and enqueue."""

import threading

import pytest
from django.db import connection

from accounts.tests.clients import client_for
from audit.models import AuditEvent
from stores.models import Store
from stores.services import PROVISION_TASK
from stores.tests.factories import StoreFactory
from stores.tests.helpers import create, error_of, queued_tasks

pytestmark = pytest.mark.django_db

STORE_KEYS = [
    "id",
    "name",
    "engine",
    "status",
    "theme",
    "urls",
    "namespace",
    "adminCredentials",
    "isCredentialOwner",
    "failureReason",
    "retryCount",
    "provisioningDurationMs",
    "createdAt",
    "updatedAt",
]


def test_accepts_a_store_audits_it_and_enqueues_provisioning(tenant, tenant_api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = create(tenant_api, ownerId="someone-else", extra="ignored")
    assert response.status_code == 202
    body = response.json()
    assert body["message"] == "Store creation initiated. Provisioning is in progress."
    store = body["store"]
    assert list(store) == STORE_KEYS
    assert store["status"] == "requested" and store["theme"] == "storefront" and store["retryCount"] == 0
    assert store["urls"] == {"storefront": None, "admin": None}
    assert store["adminCredentials"] is None and store["isCredentialOwner"] is True
    assert store["namespace"] == store["id"]
    saved = Store.objects.get(pk=store["id"])
    assert saved.owner == tenant
    event = AuditEvent.objects.get(store_id=saved.id)
    assert event.event_type == "store_created" and event.new_status == "requested"
    assert event.metadata == {"engine": "woocommerce", "ownerId": str(tenant.pk), "theme": "storefront"}
    assert event.request_id == response["X-Request-ID"]
    assert queued_tasks() == [(PROVISION_TASK, [saved.id], response["X-Request-ID"])]


def test_the_tenant_password_is_kept_encrypted(tenant_api):
    response = create(tenant_api, password="my-own-admin-pw")
    store = Store.objects.get(pk=response.json()["store"]["id"])
    assert store.admin_credentials == {"password": "my-own-admin-pw"}
    with connection.cursor() as cursor:
        cursor.execute("SELECT admin_credentials FROM stores_store WHERE id = %s", [store.id])
        raw = cursor.fetchone()[0]
    assert "my-own-admin-pw" not in raw
    assert "my-own-admin-pw" not in response.content.decode()


def test_medusa_has_no_theme(tenant_api):
    response = create(tenant_api, engine="medusa")
    assert response.status_code == 202
    assert response.json()["store"]["theme"] is None


@pytest.mark.parametrize(
    ("overrides", "path", "message"),
    [
        ({"name": "ab"}, "name", "Store name must be at least 3 characters."),
        ({"name": "a" * 64}, "name", "Store name must be at most 63 characters (DNS label limit)."),
        ({"name": "My-Shop"}, "name", "Store name must be lowercase, alphanumeric with hyphens"),
        ({"name": "-shop"}, "name", "cannot start or end with a hyphen"),
        ({"name": "bad--name"}, "name", "no consecutive hyphens"),
        ({"name": "admin"}, "name", "This store name is reserved and cannot be used."),
        ({"name": "kubernetes"}, "name", "This store name is reserved and cannot be used."),
        ({"name": "my-porn-shop"}, "name", "Store name contains inappropriate language."),
        ({"name": 123}, "name", '"name" must be a string'),
        ({"engine": "shopify"}, "engine", "Engine must be one of: woocommerce, medusa."),
        ({"theme": "divi"}, "theme", "Theme must be one of: storefront, astra."),
        ({"theme": ""}, "theme", "Theme must be one of: storefront, astra."),
        ({"engine": "medusa", "theme": "astra"}, "theme", "Theme is only applicable to WooCommerce stores."),
        ({"password": "short"}, "password", "Password must be at least 8 characters."),
        ({"password": ""}, "password", '"password" is not allowed to be empty'),
        ({"password": "x" * 129}, "password", '"password" length must be less than or equal to 128'),
    ],
)
def test_validation_rules_and_messages(tenant_api, overrides, path, message):
    error = error_of(create(tenant_api, **overrides), 400, "VALIDATION_ERROR")
    assert error["details"][0]["path"] == [path]
    assert message in error["details"][0]["message"]
    assert message.rstrip(".") in error["message"]
    assert not Store.objects.exists() and not AuditEvent.objects.exists() and queued_tasks() == []


@pytest.mark.parametrize("name", ["classic-shop", "glass-store", "analytics-hub", "something-nice", "bass-music"])
def test_whole_words_only_for_the_profanity_filter(tenant_api, name):
    assert create(tenant_api, name=name).status_code == 202


def test_missing_engine_and_name_are_both_reported(tenant_api):
    error = error_of(tenant_api.post("/api/v1/stores", {}, format="json"), 400, "VALIDATION_ERROR")
    assert {tuple(d["path"]) for d in error["details"]} == {("name",), ("engine",)}
    assert '"engine" is required' in error["message"]


def test_unauthenticated_create_is_401(api):
    error_of(create(api), 401, "UNAUTHORIZED")
    assert not Store.objects.exists()


def test_store_limit(tenant, tenant_api, settings):
    settings.STORE_CREATION_COOLDOWN_SECONDS = 0
    for i in range(5):
        StoreFactory(owner=tenant, status=["requested", "provisioning", "ready", "deleting", "ready"][i])
    StoreFactory(owner=tenant, status="failed")
    StoreFactory(owner=tenant, status="deleted")
    error = error_of(create(tenant_api), 429, "STORE_LIMIT_EXCEEDED")
    assert error["message"] == "Maximum of 5 active stores per user reached."
    assert error["suggestion"] == "Delete an existing store before creating a new one."
    assert Store.objects.count() == 7 and queued_tasks() == []


def test_cooldown_after_an_accepted_creation_only(tenant_api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert create(tenant_api, name="first-shop").status_code == 202
    with django_capture_on_commit_callbacks(execute=True):
        response = create(tenant_api, name="second-shop")
    error = error_of(response, 429, "CREATION_COOLDOWN")
    assert 25 <= error["retryAfterSeconds"] <= 30
    assert error["message"] == f"Please wait {error['retryAfterSeconds']} seconds before creating another store."
    assert error["retryable"] is True
    assert not Store.objects.filter(name="second-shop").exists()


def test_a_refused_creation_does_not_start_the_cooldown(tenant, tenant_api, django_capture_on_commit_callbacks):
    StoreFactory(owner=tenant, name="taken", status="ready", created_at="2020-01-01T00:00:00Z")
    with django_capture_on_commit_callbacks(execute=True):
        error_of(create(tenant_api, name="taken"), 409, "CONFLICT")
    with django_capture_on_commit_callbacks(execute=True):
        assert create(tenant_api, name="other-shop").status_code == 202


def test_cooldown_holds_even_when_redis_forgot_it(tenant, tenant_api):
    StoreFactory(owner=tenant, name="just-now")  # created now, but no Redis key (e.g. Redis restarted)
    error_of(create(tenant_api, name="second-shop"), 429, "CREATION_COOLDOWN")


def test_admins_skip_the_cooldown_but_not_the_limit(admin_api, admin_user, django_capture_on_commit_callbacks):
    for name in ("adm-one", "adm-two"):
        with django_capture_on_commit_callbacks(execute=True):
            assert create(admin_api, name=name).status_code == 202
    for _ in range(3):
        StoreFactory(owner=admin_user)
    error_of(create(admin_api, name="adm-six"), 429, "STORE_LIMIT_EXCEEDED")


def test_name_reuse_after_deletion_is_accepted(tenant, tenant_api):
    StoreFactory(owner=tenant, name="my-shop", status="deleted", created_at="2020-01-01T00:00:00Z")
    assert create(tenant_api).status_code == 202
    assert Store.objects.filter(owner=tenant, name="my-shop").count() == 2


def test_a_failed_store_with_that_name_is_a_409_with_a_suggestion(tenant, tenant_api):
    StoreFactory(owner=tenant, name="my-shop", status="failed", created_at="2020-01-01T00:00:00Z")
    error = error_of(create(tenant_api), 409, "CONFLICT")
    assert error["message"] == "A store named 'my-shop' already exists (status: failed)."
    assert "Retry the failed store" in error["suggestion"]
    assert Store.objects.count() == 1


def test_another_tenant_may_use_the_same_name(tenant, other_api):
    StoreFactory(owner=tenant, name="my-shop", status="ready")
    assert create(other_api).status_code == 202


def test_idempotency_key_replays_the_original_response(tenant_api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = tenant_api.post(
            "/api/v1/stores",
            {"name": "my-shop", "engine": "woocommerce"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="abc-123",
        )
    second = tenant_api.post(
        "/api/v1/stores", {"name": "my-shop", "engine": "woocommerce"}, format="json", HTTP_IDEMPOTENCY_KEY="abc-123"
    )
    assert first.status_code == second.status_code == 202
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Store.objects.count() == 1 and len(queued_tasks()) == 1
    different = tenant_api.post(
        "/api/v1/stores", {"name": "other-shop", "engine": "medusa"}, format="json", HTTP_IDEMPOTENCY_KEY="abc-123"
    )
    error_of(different, 409, "CONFLICT")
    assert Store.objects.count() == 1


def test_an_idempotency_key_of_a_refused_request_can_be_used_again(tenant_api):
    bad = tenant_api.post(
        "/api/v1/stores", {"name": "admin", "engine": "woocommerce"}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert bad.status_code == 400
    good = tenant_api.post(
        "/api/v1/stores", {"name": "fine-shop", "engine": "woocommerce"}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert good.status_code == 202


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_creates_never_exceed_the_limit(settings):
    from accounts.tests.factories import UserFactory

    settings.STORE_CREATION_COOLDOWN_SECONDS = 0
    user = UserFactory()
    statuses = []
    barrier = threading.Barrier(10)

    def attempt(i):
        client = client_for(user)
        barrier.wait()
        statuses.append(create(client, name=f"race-{i}").status_code)
        connection.close()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [202] * 5 + [429] * 5
    assert Store.objects.filter(owner=user).count() == 5


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_with_one_name_make_one_store(settings):
    from accounts.tests.factories import UserFactory

    settings.STORE_CREATION_COOLDOWN_SECONDS = 0
    user = UserFactory()
    statuses = []
    barrier = threading.Barrier(4)

    def attempt():
        client = client_for(user)
        barrier.wait()
        statuses.append(create(client, name="same-name").status_code)
        connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [202, 409, 409, 409]
    assert Store.objects.filter(owner=user, name="same-name").count() == 1
