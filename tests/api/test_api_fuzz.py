"""Schemathesis against our own OpenAPI schema, authenticated: no 5xx, responses match the schema."""

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.server import running_server

# WebRTC offers (WHEP) are SDP text: random bytes and a minimal offer.
schemathesis.openapi.media_type("application/sdp", st.one_of(
    st.binary(max_size=300), st.just(b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n")))


@pytest.fixture(scope="module")
def server(demo_db):
    with running_server(demo_db, env={"SHARPEYES_LOGIN_PER_MINUTE": "100000"}) as base:
        yield base


@pytest.fixture(scope="module")
def token(server):
    r = httpx.post(server + "/api/v1/auth/login", json={"username": "admin", "password": "sharpeyes-demo"})
    return r.json()["access_token"]


def test_no_server_errors_and_schema_conformance(server, token):
    """Every operation, hypothesis-generated inputs; the pytest plugin is not used (it lags pytest 9)."""
    schema = schemathesis.openapi.from_url(server + "/openapi.json")
    failures: list[str] = []
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        if operation.path == "/api/v1/auth/logout":
            continue  # would revoke the token that the rest of the run uses

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case):
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=checks)

        try:
            run()
        except Exception as exc:  # collect all operations' failures, then report them together
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
