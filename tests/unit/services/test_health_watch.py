"""The services controller's watch of served replicas' health, against a real HTTP server on
127.0.0.1 whose answer the test switches between healthy and not."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from stackwright.core.model import Address, Recorded
from stackwright.services.controller import HealthWatch
from stackwright.services.routes import HealthEntry, ServerEntry, ServiceEntry


class _Handler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"state")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[int, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"status": 200})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], handler
    httpd.shutdown()
    httpd.server_close()


def _record(check: dict[str, Any]) -> Recorded:
    inputs = {"image": "app:1", "ports": [8080], "replicas": 1,
              "healthCheck": {"timeout": "1s", "retries": 2, **check}}
    return Recorded(Address("Service", "web"), "sw-p-dev-web", inputs, {})


def _entry(port: int, kind: str = "http") -> ServiceEntry:
    return ServiceEntry("sw-p-dev-web", "r1", HealthEntry(kind, "/healthz", 8080),
                        (ServerEntry("r1-1", "sw-p-dev-web-r1-1", {8080: port}),))


def test_retries_failed_checks_in_a_row_make_a_replica_unhealthy(
        server: tuple[int, type[_Handler]]) -> None:
    port, handler = server
    watch, record = HealthWatch(), _record({"http": "/healthz"})
    assert watch.unhealthy(record, _entry(port)) is None
    handler.status = 503
    assert watch.unhealthy(record, _entry(port)) is None  # 1 of 2
    handler.status = 200
    assert watch.unhealthy(record, _entry(port)) is None  # a pass starts the count again
    handler.status = 503
    assert watch.unhealthy(record, _entry(port)) is None
    reason = watch.unhealthy(record, _entry(port))
    assert reason is not None and "sw-p-dev-web-r1-1 failed 2 health checks in a row" in reason
    assert "HTTP 503" in reason
    watch.forget(["sw-p-dev-web-r1-1"])
    assert watch.failures == {}


def test_tcp_checks_and_what_is_not_watched(server: tuple[int, type[_Handler]]) -> None:
    port, _ = server
    watch = HealthWatch()
    tcp = _record({"tcp": True})
    assert watch.unhealthy(tcp, _entry(port, "tcp")) is None
    closed = _entry(1, "tcp")  # nothing listens on port 1
    watch.unhealthy(tcp, closed)
    assert "failed 2 health checks" in str(watch.unhealthy(tcp, closed))
    command = _record({"command": "true"})
    assert watch.unhealthy(command, _entry(1)) is None  # command checks: HAProxy's job
    assert watch.unhealthy(_record({"http": "/"}), None) is None  # no route entry yet
