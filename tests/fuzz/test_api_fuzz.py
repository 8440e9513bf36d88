"""Property-based fuzzing of every operation /api/v1/schema lists (schemathesis strategies driven by hypothesis,
in-process WSGI, with an admin's token): no 5xx, and every response's status, content type, headers and body conform
to the schema. Data-driven: a route is fuzzed as soon as it is in the schema. Bounded by FUZZ_MAX_EXAMPLES per
operation (default 25). The operations are parametrized here rather than through schemathesis' pytest plugin, whose
lazy loader relies on a pytest internal that pytest 9 removed."""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.tests.clients import client_for

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _load_schema():
    from config.wsgi import application

    # The schema route needs neither the database nor a token, so it can be read while tests are collected.
    return schemathesis.openapi.from_wsgi("/api/v1/schema", application)


SCHEMA = _load_schema()
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


@pytest.fixture
def in_process_requests(settings):
    """Django's test client stops request_started/finished from closing the test's database connection (which holds
    the test transaction); the fuzzer calls the WSGI app directly, so it needs the same. The per-IP limits would
    answer most of the fuzzer's requests (all from one address) with 429: they have their own tests."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    settings.API_RATE_LIMIT = ""
    settings.REGISTER_RATE_LIMIT = ""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_the_schema_lists_operations():
    assert len(OPERATIONS) >= 8
    assert {"GET /api/v1/auth/me", "POST /api/v1/auth/login"} <= {f"{o.method.upper()} {o.path}" for o in OPERATIONS}


@pytest.mark.django_db
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: f"{op.method.upper()} {op.path}")
def test_every_operation_answers_within_its_schema(operation, admin_user, in_process_requests):
    token = client_for(admin_user)._credentials["HTTP_AUTHORIZATION"]

    @hypothesis_settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def fuzz(case):
        case.call_and_validate(headers={"Authorization": token}, checks=CHECKS)

    fuzz()
