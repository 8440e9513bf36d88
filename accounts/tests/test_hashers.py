"""The password hasher (accounts.hashers): argon2id with OWASP's bounded parameters, old hashes still verify and
are rehashed with them at the next login."""

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher, PBKDF2PasswordHasher, identify_hasher, make_password

from accounts.hashers import BoundedArgon2PasswordHasher
from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

# What production runs (config.settings; under pytest a fast MD5 hasher comes first).
PRODUCTION_HASHERS = [
    "accounts.hashers.BoundedArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]


@pytest.fixture
def production_hashers(settings):
    settings.PASSWORD_HASHERS = PRODUCTION_HASHERS


def test_production_settings_hash_with_argon2id_7_mib_5_passes_1_lane(production_hashers):
    encoded = make_password("correct horse battery staple")
    assert encoded.startswith("argon2$argon2id$v=19$m=7168,t=5,p=1$")
    assert isinstance(identify_hasher(encoded), BoundedArgon2PasswordHasher)


def _login(api, email):
    return api.post("/api/v1/auth/login", {"email": email, "password": DEFAULT_PASSWORD}, format="json")


class _EarlierBoundedArgon2(Argon2PasswordHasher):
    """This platform's parameters before 2026-12-07 (m=19 MiB, t=2): its users' stored hashes."""

    memory_cost = 19 * 1024
    time_cost = 2
    parallelism = 1


@pytest.mark.parametrize(
    "old",
    # Django's Argon2 defaults (m=100 MiB, p=8), this platform's earlier m=19 MiB t=2, and PBKDF2
    [Argon2PasswordHasher(), _EarlierBoundedArgon2(), PBKDF2PasswordHasher()],
    ids=["argon2-django-defaults", "argon2-19-mib-2-passes", "pbkdf2"],
)
def test_an_old_hash_still_logs_in_and_is_rehashed_with_the_bounded_parameters(production_hashers, api, old):
    user = UserFactory()
    old_hash = old.encode(DEFAULT_PASSWORD, old.salt())
    User.objects.filter(pk=user.pk).update(password=old_hash)

    assert _login(api, user.email).status_code == 200
    rehashed = User.objects.get(pk=user.pk).password
    assert rehashed != old_hash and rehashed.startswith("argon2$argon2id$v=19$m=7168,t=5,p=1$")
    assert _login(api, user.email).status_code == 200  # the new hash verifies
    assert User.objects.get(pk=user.pk).password == rehashed  # and is left alone from then on


def test_a_wrong_password_leaves_an_old_hash_as_it_was(production_hashers, api):
    user = UserFactory()
    old_hash = Argon2PasswordHasher().encode(DEFAULT_PASSWORD, Argon2PasswordHasher().salt())
    User.objects.filter(pk=user.pk).update(password=old_hash)
    response = api.post("/api/v1/auth/login", {"email": user.email, "password": "not-the-password"}, format="json")
    assert response.status_code == 401
    assert User.objects.get(pk=user.pk).password == old_hash


def test_no_more_hashes_at_once_than_the_setting_allows(production_hashers, settings, monkeypatch):
    import threading
    import time

    from accounts import hashers

    settings.PASSWORD_HASH_CONCURRENCY = 2
    hashers._slots.cache_clear()
    running, most, lock = 0, 0, threading.Lock()
    real = Argon2PasswordHasher.verify

    def counting_verify(self, password, encoded):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        try:
            return real(self, password, encoded)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(Argon2PasswordHasher, "verify", counting_verify)
    encoded = BoundedArgon2PasswordHasher().encode("pw-for-the-test", "saltsaltsalt")
    results = []
    threads = [
        threading.Thread(
            target=lambda: results.append(BoundedArgon2PasswordHasher().verify("pw-for-the-test", encoded))
        )
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    hashers._slots.cache_clear()
    assert results == [True] * 6 and most == 2
