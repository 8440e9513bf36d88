"""Medusa + PostgreSQL in one network-less pod: the entrypoint builds DATABASE_URL from parts (URL-encoded), waits
for PostgreSQL, migrates and starts; /health answers 200 and an admin made with `medusa user` gets a token."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.images

# '@', ':' and '/' in the password prove the entrypoint URL-encodes the parts.
PG = {"POSTGRES_USER": "medusa", "POSTGRES_PASSWORD": "pg@pw:with/odd%chars", "POSTGRES_DB": "medusa"}
MEDUSA = {
    "DATABASE_HOST": "127.0.0.1",
    "DATABASE_PORT": "5432",
    "DATABASE_USER": "medusa",
    "DATABASE_PASSWORD": PG["POSTGRES_PASSWORD"],
    "DATABASE_NAME": "medusa",
    "JWT_SECRET": "jwt-secret-local",
    "COOKIE_SECRET": "cookie-secret-local",
    "NODE_ENV": "production",
}

# Node run inside the Medusa container: one HTTP request on the pod's loopback; prints status and body.
FETCH = """
const [method, path, body] = process.argv.slice(1);
fetch('http://127.0.0.1:9000' + path, {method, headers: {'content-type': 'application/json'}, body: body || undefined})
  .then(async r => console.log(r.status + '\\n' + await r.text()))
  .catch(e => console.log('0\\n' + e.message));
"""


def _request(pod, container: str, method: str, path: str, body: dict | None = None) -> tuple[int, str]:
    args = ["node", "-e", FETCH, method, path] + ([json.dumps(body)] if body is not None else [])
    status, _, text = pod.exec(container, *args, timeout=60).stdout.partition("\n")
    return int(status or 0), text


def test_medusa_migrates_starts_and_admin_gets_a_token(load_image, pod, volume):
    pod.run(load_image("postgres"), "pg", PG, {volume("pg", 999): "/var/lib/postgresql/data"})
    medusa = pod.run(load_image("medusa"), "medusa", MEDUSA)
    pod.wait_for(medusa, lambda: _request(pod, medusa, "GET", "/health")[0] == 200, "Medusa /health 200", timeout=300)

    assert pod.exec(medusa, "id", "-u").stdout.strip() == "1000"
    assert pod.exec(medusa, "pwd").stdout.strip() == "/app"
    log = pod.logs(medusa)
    assert "PostgreSQL at 127.0.0.1:5432/medusa is ready" in log
    assert PG["POSTGRES_PASSWORD"] not in log
    assert pod.exec(medusa, "printenv", "MEDUSA_DISABLE_TELEMETRY").stdout.strip() == "true"
    typeorm = pod.exec(medusa, "node", "-p", "require('/app/node_modules/typeorm/package.json').version")
    assert typeorm.stdout.strip() == "0.3.16"
    medusa_pkg = "require('/app/node_modules/@medusajs/medusa/package.json').version"
    medusa_version = pod.exec(medusa, "node", "-p", medusa_pkg)
    assert medusa_version.stdout.strip().startswith("1.20.")

    # No admin yet: the token request is refused.
    status, _ = _request(pod, medusa, "POST", "/admin/auth/token", {"email": "admin@example.com", "password": "Adm1n"})
    assert status == 401

    created = pod.exec(medusa, "medusa", "user", "-e", "admin@example.com", "-p", "Adm1n-Pw", timeout=180)
    assert created.returncode == 0, created.stdout[-2000:] + created.stderr[-2000:]
    status, text = _request(
        pod, medusa, "POST", "/admin/auth/token", {"email": "admin@example.com", "password": "Adm1n-Pw"}
    )
    assert status == 200, text
    assert json.loads(text)["access_token"].count(".") == 2
    wrong, _ = _request(pod, medusa, "POST", "/admin/auth/token", {"email": "admin@example.com", "password": "nope"})
    assert wrong == 401
    products, text = _request(pod, medusa, "GET", "/store/products")
    assert products == 200 and "products" in json.loads(text)
