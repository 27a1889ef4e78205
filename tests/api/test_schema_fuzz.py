"""Schemathesis against the live OpenAPI schema: no 5xx, and every documented answer conforms.

Runs in-process through Django's WSGI app inside the test's transaction (nothing persists),
with a bounded number of generated requests per operation so it stays within seconds in CI.
"""

from contextlib import contextmanager

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, given, settings
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error, response_schema_conformance

from customers.auth import issue_staff_token
from customers.models import PosToken, Staff
from tests.campaigns.helpers import make_fan
from tests.factories import aware_dt, make_customer, make_order, make_staff

EXAMPLES_PER_OPERATION = 8
CHECKS = (not_a_server_error, response_schema_conformance)


@contextmanager
def _test_connection_kept():
    """Schemathesis calls the WSGI app directly, which fires request_started/finished; Django's
    handler would then close the test's connection (not in autocommit inside the test
    transaction). Django's test client disconnects the same receiver around each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def live_schema(db):
    raw = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    return schemathesis.from_dict(raw, app=get_wsgi_application(), validate_schema=True)


def _fuzz_operation(operation, headers: dict) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        # A savepoint per request: on PostgreSQL one failed statement would poison the rest.
        with transaction.atomic():
            response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS)

    run()


def _fuzz(schema, token: str) -> list[str]:
    headers = {"Authorization": f"Token {token}"}
    failures: list[str] = []
    with _test_connection_kept():
        for result in schema.get_all_operations():
            operation = result.ok()
            try:
                _fuzz_operation(operation, headers)
            except Exception as exc:  # collect every operation's failure, not only the first
                failures.append(f"{operation.verbose_name}: {exc}"[:2000])
    return failures


def test_the_schema_holds_for_a_head_office_token(live_schema, store):
    hq = make_staff(role=Staff.Role.HQ)
    make_order(customer=make_customer(store=store))
    token = issue_staff_token(hq.user)[1]
    assert _fuzz(live_schema, token) == []


def test_the_schema_holds_for_a_pos_token(live_schema, store):
    make_order(customer=make_customer(store=store))
    token = PosToken.issue(store=store, name="fuzz")[1]
    assert _fuzz(live_schema, token) == []


def _call(schema, headers: dict, method: str, path: str, body=None):
    """One chosen request, its answer checked like a fuzzed one."""
    case = schema[path][method].make_case(
        path_parameters={"code": "spring"} if "{code}" in path else None,
        **({"body": body, "media_type": "application/json"} if body is not None else {}),
    )
    with transaction.atomic():
        response = case.call(headers=headers)
    case.validate_response(response, checks=CHECKS)
    return response.status_code, response.json


def test_a_real_event_answers_in_its_documented_shapes(live_schema, store):
    """Fuzzed codes never name an existing event: walk one through its life on purpose."""
    hq = make_staff(role=Staff.Role.HQ)
    headers = {"Authorization": f"Token {issue_staff_token(hq.user)[1]}"}
    fans = [make_fan(store=store, apple="red") for _ in range(4)]
    for fan in fans:
        make_order(customer=fan, paid_at=aware_dt(2026, 3, 6))
    new = {
        "code": "spring",
        "name": "Spring",
        "kind": "offline",
        "stores": [store.code],
        "starts_on": "2026-03-05",
        "ends_on": "2026-03-08",
        "holdout_percent": 50,
    }
    event, audience, check_in = (
        "/api/v1/campaigns/{code}/",
        "/api/v1/campaigns/{code}/audience/",
        "/api/v1/campaigns/{code}/check-ins/",
    )
    steps = [
        ("POST", "/api/v1/campaigns/", new, 201),
        ("GET", "/api/v1/campaigns/", None, 200),
        ("GET", event, None, 200),
        ("POST", audience, {"any": ["apple:red"]}, 200),
        ("POST", check_in, {"phone": fans[0].phone}, 201),
        ("POST", check_in, {"phone": fans[0].phone}, 200),
        ("POST", check_in, {"phone": "13900000000"}, 404),  # not a fan
        ("POST", audience, {}, 409),  # a fan has checked in
        ("GET", "/api/v1/campaigns/{code}/results/", None, 200),
        ("GET", event, None, 200),
    ]

    with _test_connection_kept():
        answers = [
            _call(live_schema, headers, method, path, body) for method, path, body, _ in steps
        ]

    assert [code for code, _ in answers] == [expected for *_, expected in steps]
    assert answers[0][1]["freeze_report"] is None
    assert answers[-1][1]["freeze_report"] == answers[3][1]
    assert answers[6][1]["code"] == "not_a_fan"
    assert answers[8][1]["conversion_difference"]["difference"] is not None
