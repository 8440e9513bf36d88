"""The production settings guard: with DJANGO_DEBUG off, missing or placeholder secrets stop the start."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from core.env import check_production_secrets

ROOT = Path(__file__).resolve().parents[2]
GOOD = {"DJANGO_SECRET_KEY": "k" * 50, "CREDENTIALS_ENCRYPTION_KEY": "Zm9vYmFyYmF6cXV4cXV1eGZvb2JhcmJhenF1eHF1dXg="}


def test_good_secrets_pass():
    check_production_secrets(GOOD, debug=False)


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"DJANGO_SECRET_KEY": None}, "DJANGO_SECRET_KEY is not set"),
        ({"DJANGO_SECRET_KEY": "change-me"}, "DJANGO_SECRET_KEY is still a placeholder"),
        ({"DJANGO_SECRET_KEY": "too-short"}, "at least 32 characters"),
        ({"CREDENTIALS_ENCRYPTION_KEY": ""}, "CREDENTIALS_ENCRYPTION_KEY is not set"),
        ({"JWT_SIGNING_KEY": "changeme"}, "JWT_SIGNING_KEY is still a placeholder"),
    ],
)
def test_bad_secrets_refused(changes, complaint):
    with pytest.raises(ImproperlyConfigured, match=complaint):
        check_production_secrets({**GOOD, **changes}, debug=False)


def test_debug_allows_placeholders():
    check_production_secrets({"DJANGO_SECRET_KEY": "change-me"}, debug=True)


def _start(env_overrides):
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_VERSION"}
    env.update({"DJANGO_ENV_FILE": "/nonexistent", "DJANGO_SETTINGS_MODULE": "config.settings"})
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_real_start_without_secrets_fails_fast():
    env = {"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "change-me", "CREDENTIALS_ENCRYPTION_KEY": ""}
    result = _start(env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DJANGO_SECRET_KEY is still a placeholder" in result.stderr
    assert "started" not in result.stdout


def test_a_real_start_with_secrets_succeeds():
    result = _start({"DJANGO_DEBUG": "false", **GOOD})
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


def test_without_collectstatic_the_server_refuses_to_start_and_says_why(tmp_path):
    production = {**GOOD, "DJANGO_DEBUG": "false", "DJANGO_STATIC_ROOT": str(tmp_path)}
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_VERSION"}
    env.update({"DJANGO_ENV_FILE": "/nonexistent", "DJANGO_SETTINGS_MODULE": "config.settings", **production})

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    wsgi = run("-c", "import config.wsgi; print('started')")  # what gunicorn does
    assert wsgi.returncode != 0 and "started" not in wsgi.stdout
    assert "static files manifest" in wsgi.stderr and "collectstatic" in wsgi.stderr
    check = run("manage.py", "check")
    assert check.returncode != 0 and "storeplane.E001" in check.stderr
    collected = run("manage.py", "collectstatic", "--noinput", "-v", "0")  # the fix the message names must work
    assert collected.returncode == 0, collected.stderr
    assert (tmp_path / "staticfiles.json").is_file()
    assert run("manage.py", "check").returncode == 0
    started = run("-c", "import config.wsgi; print('started')")
    assert started.returncode == 0, started.stderr
