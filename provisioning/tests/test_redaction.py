"""Redaction: registered secrets (in every spelling tools print them), --set values and password-like pairs."""

import base64
import json

import pytest

from provisioning.redaction import MASK, redact, redact_argv

SECRET = 'p@ss"w0rd,=\\x'


def test_registered_secret_is_hidden_in_each_spelling():
    text = " | ".join(
        ["raw " + SECRET, "json " + json.dumps({"v": SECRET}), "b64 " + base64.b64encode(SECRET.encode()).decode()]
    )
    out = redact(text, [SECRET])
    assert SECRET not in out
    assert json.dumps(SECRET)[1:-1] not in out
    assert base64.b64encode(SECRET.encode()).decode() not in out
    assert out.count(MASK) == 3


@pytest.mark.parametrize(
    "text",
    [
        "mariadb.rootPassword=hunter22",
        "password: hunter22",
        '{"adminPassword": "hunter22"}',
        "wp user update admin --user_pass=hunter22",
        "Authorization: Bearer hunter22",
        "MEDUSA_JWT_SECRET=hunter22 next",
    ],
)
def test_secret_looking_pairs_are_hidden_without_registration(text):
    out = redact(text)
    assert "hunter22" not in out
    assert MASK in out


def test_text_without_secrets_is_unchanged():
    text = 'Error: INSTALLATION FAILED: template: ecommerce-store/templates/x.yaml:3: unknown field "replica"'
    assert redact(text, ["not-there"]) == text


def test_helm_argv_keeps_its_shape_and_hides_values():
    argv = [
        "helm",
        "upgrade",
        "--install",
        "store-1",
        "charts/ecommerce-store",
        "--set",
        "engine=woocommerce,wordpress.admin.password=hunter22",
        "--set-string=mariadb.password=hunter23",
        "--password",
        "hunter24",
        "--db-password=hunter25",
        "--namespace",
        "store-1",
    ]
    out = redact_argv(argv)
    assert out == [
        "helm",
        "upgrade",
        "--install",
        "store-1",
        "charts/ecommerce-store",
        "--set",
        "engine=***,wordpress.admin.password=***",
        "--set-string=mariadb.password=***",
        "--password",
        "***",
        "--db-password=***",
        "--namespace",
        "store-1",
    ]
    assert argv[6].endswith("hunter22")  # the caller's list is not modified


def test_registered_secret_anywhere_in_argv_is_hidden():
    out = redact_argv(["wp", "core", "install", "--admin_email=a@b.c", f"--title={SECRET}", "x" + SECRET], [SECRET])
    assert not any(SECRET in arg for arg in out)
    assert out[:4] == ["wp", "core", "install", "--admin_email=a@b.c"]


def test_plain_argv_is_unchanged():
    argv = ["kubectl", "--namespace", "store-1", "rollout", "status", "deployment/wordpress", "--timeout=300s"]
    assert redact_argv(argv) == argv


def test_long_tool_output_is_redacted_whole():
    # A base64 blob as helm prints Secret manifests: one long word run before the pair to hide. (An unanchored
    # pattern backtracks quadratically over such runs, which made a 10 kB stderr take seconds.)
    blob = "QUJD" * 50_000
    out = redact(f"data: {blob}\nmariadb.password=hunter22 tail")
    assert out == f"data: {blob}\nmariadb.password=*** tail"
