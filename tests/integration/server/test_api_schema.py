"""schemathesis against the daemon's OpenAPI document: generated requests to every
operation of the platform API (but the SSE stream, which is followed in test_api_access), no
answer a server error, and every response matches its documented schema and content type."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)
from tests.integration.server.daemon_fixture import Daemon, start_daemon, stop_daemon

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def schema_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = start_daemon(tmp_path_factory.mktemp("api-schema"))
    try:
        yield d
    finally:
        stop_daemon(d.proc)


def test_api_conforms_to_its_openapi_document(schema_daemon: Daemon) -> None:
    # schemathesis' pytest plugin does not run under this pytest; drive hypothesis directly
    loaded = schemathesis.openapi.from_url(f"{schema_daemon.api}/openapi.json")
    headers = {"Authorization": f"Bearer {schema_daemon.tokens['ada']}"}
    checked = []
    for result in loaded.exclude(path_regex=r"/events$").get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def conforms(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=schema_daemon.api, headers=headers,
                                   checks=[not_a_server_error, response_schema_conformance,
                                           content_type_conformance], timeout=120)

        conforms()
        checked.append(f"{operation.method.upper()} {operation.path}")
    assert "POST /api/v1/operations" in checked and "GET /api/v1/audit" in checked
    assert len(checked) >= 20
