"""The password hasher: Argon2id with a bounded memory cost, so a burst of logins cannot hold more than a known
amount of memory per worker thread (Django's default, m=100 MiB with p=8, held up to 800 MB across two workers).

Parameters: OWASP's Password Storage Cheat Sheet, "Argon2id with a minimum configuration of 19 MiB of memory, an
iteration count of 2, and 1 degree of parallelism" (its first recommendation; bcrypt, the original platform's
hasher at cost 12, is its legacy choice). Each hash holds 19 MiB while it runs, so a gunicorn worker with
GUNICORN_THREADS threads needs at most that many times 19 MiB on top of its own memory.

The algorithm name stays "argon2": hashes made with Django's defaults still verify (Argon2 reads the parameters
from the hash), and Django rehashes them with these parameters at the user's next successful login
(Argon2PasswordHasher.must_update compares the stored parameters with these)."""

from django.contrib.auth.hashers import Argon2PasswordHasher


class BoundedArgon2PasswordHasher(Argon2PasswordHasher):
    """argon2id, m = 19 MiB, t = 2, p = 1 (OWASP's minimum; see the module's docstring)."""

    memory_cost = 19 * 1024  # KiB
    time_cost = 2
    parallelism = 1
