"""Schemathesis fuzzes the whole REST API of a real ``loopml server`` against its own OpenAPI
document: every operation it lists (as the stages add routes, they are fuzzed too), valid and
invalid cases, sent with an admin token. Every answer must be documented (never a 5xx), with
the documented status, content type and body schema.

Operations are listed from the document at collection time of the test body (not fixed
here), so no route escapes; the list must hold at least the experiments' routes."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from loopml.core.entities import Role
from tests.rest.live_server import LiveServer

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_every_operation_answers_as_documented(sqlite_live_server: LiveServer) -> None:
    """On the SQLite server (the routes and the services are the same on PostgreSQL)."""
    sqlite_server = sqlite_live_server
    api: Any = schemathesis.openapi.from_url(f"{sqlite_server.url}/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    labels = {op.label for op in operations}
    assert {"GET /api/v1/experiments", "POST /api/v1/experiments"} <= labels
    headers = sqlite_server.headers(Role.ADMIN)
    failures: dict[str, str] = {}
    for operation in operations:
        strategy = st.one_of([operation.as_strategy(mode) for mode in GenerationMode])

        @hypothesis_settings(
            max_examples=12,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: Any) -> None:
            case.call_and_validate(checks=CHECKS, headers=headers, timeout=30)

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures[operation.label] = str(exc)[:2000]
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
