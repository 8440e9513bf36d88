"""The password hasher: Argon2id with a bounded memory cost, so a burst of logins cannot hold more than a known
amount of memory per worker thread (Django's default, m=100 MiB with p=8, held up to 800 MB across two workers).

Parameters: OWASP's Password Storage Cheat Sheet, "Argon2id with a minimum configuration of 19 MiB of memory, an
iteration count of 2, and 1 degree of parallelism" (its first recommendation; bcrypt, the original platform's
hasher at cost 12, is its legacy choice). Each hash holds 19 MiB while it runs, so a gunicorn worker with
GUNICORN_THREADS threads would need up to that many times 19 MiB on top of its own memory: PASSWORD_HASH_CONCURRENCY
(default 2) bounds the hashes a process runs at once instead, so a login burst holds at most 2 x 19 MiB per worker
(hashing is CPU-bound: on 2 cores, more at once would only share them). A thread over the bound waits its turn.

The algorithm name stays "argon2": hashes made with Django's defaults still verify (Argon2 reads the parameters
from the hash), and Django rehashes them with these parameters at the user's next successful login
(Argon2PasswordHasher.must_update compares the stored parameters with these)."""

import threading
from functools import cache

from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher


@cache
def _slots() -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(max(1, int(settings.PASSWORD_HASH_CONCURRENCY)))


class BoundedArgon2PasswordHasher(Argon2PasswordHasher):
    """argon2id, m = 19 MiB, t = 2, p = 1 (OWASP's minimum; see the module's docstring), at most
    PASSWORD_HASH_CONCURRENCY hashes at once per process."""

    memory_cost = 19 * 1024  # KiB
    time_cost = 2
    parallelism = 1

    def encode(self, password, salt):
        with _slots():
            return super().encode(password, salt)

    def verify(self, password, encoded):
        with _slots():
            return super().verify(password, encoded)
