"""Seeds the API benchmark's database (run by bench.api.run in a subprocess with the bench's environment).

    python -m bench.api.seed small   # an admin, 100 tenants, 20 stores; prints the tokens and ids as JSON
    python -m bench.api.seed large   # the stores up to 10,000 and 100,000 audit rows, then ANALYZE

Stores look like a live platform's: most ready with encrypted admin credentials, the rest in the other states,
spread over the tenants and over the last 90 days. Users share one password hash (hashing 100 of them is not
what is measured); the login user has its own, made with the platform's PASSWORD_HASHERS."""

from __future__ import annotations

import json
import random
import sys
from datetime import timedelta

import django

django.setup()

from django.contrib.auth.hashers import make_password  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Role, User  # noqa: E402
from accounts.services import tokens_for  # noqa: E402
from audit.models import AuditEvent, EventType  # noqa: E402
from stores.models import Store, new_store_id  # noqa: E402

N_TENANTS = 100
LOGIN_EMAIL, LOGIN_PASSWORD = "login@example.com", "bench-login-pass-123"  # noqa: S105  (bench data only)
rng = random.Random(20)  # the same rows every run
NOW = timezone.now()


def _store(i: int, owner: User) -> Store:
    roll = rng.random()
    status = "ready" if roll < 0.6 else "failed" if roll < 0.75 else "requested" if roll < 0.85 else "provisioning"
    s = Store(
        id=new_store_id(),
        name=f"shop-{i:05d}",
        engine="woocommerce" if i % 3 else "medusa",
        owner=owner,
        created_at=NOW - timedelta(seconds=rng.randrange(90 * 86400)),
    )
    s.theme = "storefront" if s.engine == "woocommerce" else None
    s.namespace = s.helm_release = s.id
    s.__dict__["status"] = status  # the FSM field is protected: seeded rows are not transitions
    if status == "ready":
        s.storefront_url = f"http://{s.id}.localhost:8080"
        s.admin_url = s.storefront_url + ("/wp-admin" if s.engine == "woocommerce" else "/admin")
        s.admin_credentials = {"email": owner.email, "username": "admin", "password": f"pw-{i:012d}"}
        s.provisioning_duration_ms = rng.randrange(20_000, 120_000)
        s.secrets = {"db_password": f"secret-{i}"}
    elif status == "failed":
        s.failure_reason = "Helm install failed: timed out waiting for the condition"
    return s


def small() -> None:
    shared = make_password("bench-tenant-pass-123")
    admin = User.objects.create_user(email="admin@example.com", username="admin", role=Role.ADMIN)
    User.objects.create_user(email=LOGIN_EMAIL, username="login", password=LOGIN_PASSWORD)
    tenants = User.objects.bulk_create(
        [User(email=f"tenant{i}@example.com", username=f"tenant{i}", password=shared) for i in range(N_TENANTS)]
    )
    Store.objects.bulk_create([_store(i, tenants[i % N_TENANTS]) for i in range(20)])
    one = Store.objects.filter(status="ready").order_by("created_at").first()
    print(
        json.dumps(
            {
                "admin_token": tokens_for(admin).access,
                "store_id": one.id,
                "login": {"email": LOGIN_EMAIL, "password": LOGIN_PASSWORD},
            }
        )
    )


def large() -> None:
    tenants = list(User.objects.filter(role=Role.TENANT).exclude(email=LOGIN_EMAIL).order_by("email"))
    have = Store.objects.count()
    with transaction.atomic():
        Store.objects.bulk_create([_store(i, tenants[i % len(tenants)]) for i in range(have, 10_000)], batch_size=2000)
    stores = list(Store.objects.values_list("id", "name", "owner_id", "owner__email"))
    kinds = [EventType.STATUS_CHANGE, EventType.INFO, EventType.HELM_INSTALL, EventType.STORE_CREATED]
    rows = []
    for n in range(100_000):
        store_id, name, owner_id, email = stores[n % len(stores)]
        rows.append(
            AuditEvent(
                store_id=store_id,
                store_name=name,
                store_owner_id=owner_id,
                event_type=kinds[n % len(kinds)],
                previous_status="requested" if n % 4 == 0 else None,
                new_status="provisioning" if n % 4 == 0 else None,
                message=f"Step {n % 7} of provisioning done",
                metadata={"engine": "woocommerce", "step": n % 7},
                actor_email=email,
                ip_address="10.1.2.3",
                request_id=f"req_{n:012x}",
            )
        )
    with transaction.atomic():
        AuditEvent.objects.bulk_create(rows, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # as autovacuum would have by then: statistics and the visibility map
    print(json.dumps({"stores": Store.objects.count(), "audit": AuditEvent.objects.count()}))


if __name__ == "__main__":
    {"small": small, "large": large}[sys.argv[1]]()
