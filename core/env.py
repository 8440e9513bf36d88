"""Reading the environment: the production guard for secrets, and the test-run defaults."""

import os

from django.core.exceptions import ImproperlyConfigured

# Values that mean "nobody set this": refused when DJANGO_DEBUG is off.
PLACEHOLDER_SECRETS = frozenset(
    {"", "change-me", "changeme", "change-me-in-production", "secret", "insecure", "dev", "django-insecure"}
)
MIN_SECRET_LENGTH = 32

# Secrets the platform needs in production; each is named in .env.example.
REQUIRED_SECRETS = ("DJANGO_SECRET_KEY", "CREDENTIALS_ENCRYPTION_KEY")
# Secrets that may be left unset (they fall back to another one) but never set to a placeholder.
OPTIONAL_SECRETS = ("JWT_SIGNING_KEY",)


def is_test_run() -> bool:
    """pytest exports PYTEST_VERSION for the whole run: tests get deterministic local defaults, never .env."""
    return "PYTEST_VERSION" in os.environ


def _looks_like_placeholder(value: str) -> bool:
    lowered = value.strip().lower()
    return lowered in PLACEHOLDER_SECRETS or lowered.startswith(("change-me", "changeme", "django-insecure"))


def check_production_secrets(values: dict[str, str | None], *, debug: bool) -> None:
    """Fail fast when DEBUG is off and a secret is missing, a placeholder, or too short to be a key."""
    if debug:
        return
    problems: list[str] = []
    for name in REQUIRED_SECRETS:
        value = values.get(name)
        if not value:
            problems.append(f"{name} is not set")
        elif _looks_like_placeholder(value):
            problems.append(f"{name} is still a placeholder")
        elif name == "DJANGO_SECRET_KEY" and len(value) < MIN_SECRET_LENGTH:
            problems.append(f"{name} must be at least {MIN_SECRET_LENGTH} characters")
    for name in OPTIONAL_SECRETS:
        value = values.get(name)
        if value is not None and value != "" and _looks_like_placeholder(value):
            problems.append(f"{name} is still a placeholder")
        elif value is not None and value != "" and len(value) < MIN_SECRET_LENGTH:
            problems.append(f"{name} must be at least {MIN_SECRET_LENGTH} characters")
    if problems:
        raise ImproperlyConfigured(
            "Refusing to start with DJANGO_DEBUG off: " + "; ".join(problems) + ". See .env.example."
        )
