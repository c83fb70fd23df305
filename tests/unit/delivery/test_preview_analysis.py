"""Blue/green pre-promotion analysis: the http provider's judgement of one round of
requests, and the spec rules that keep a pre-promotion analysis from never deciding."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from stackwright.delivery.providers import HttpProvider, Subject, http_value
from stackwright.delivery.spec import BlueGreenSpec, MetricSpec

HTTP = {"name": "errors", "provider": "http", "metric": "error_ratio", "count": 2,
        "failureCondition": "result > 0.1"}


def test_http_error_ratio_counts_5xx_and_unanswered_requests() -> None:
    reading = http_value("error_ratio", [200, 500, 0, 200], [1, 2, 3, 4], 4)
    assert reading.value == 0.5 and "2 of 4" in reading.detail
    assert http_value("response_time_ms", [200, 200], [10, 30], 2).value == 20


def test_too_few_requests_is_inconclusive() -> None:
    reading = http_value("error_ratio", [200] * 3, [1] * 3, 20)
    assert reading.value is None and "minRequests 20" in reading.detail


@pytest.mark.parametrize(("metric", "message"), [
    ({**HTTP, "provider": "haproxy"}, "use provider: http"),
    ({**HTTP, "count": 0}, "give count"),
])
def test_a_pre_promotion_analysis_must_be_able_to_decide(metric: dict[str, object],
                                                         message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        BlueGreenSpec.model_validate({"prePromotionAnalysis": {"metrics": [metric]}})


def test_the_http_provider_needs_a_metric_it_can_measure() -> None:
    with pytest.raises(ValidationError, match="error_ratio or response_time_ms"):
        MetricSpec.model_validate({**HTTP, "metric": "requests"})


class Flaky(http.server.BaseHTTPRequestHandler):
    """Every other request answers 503."""

    calls = 0

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        Flaky.calls += 1
        self.send_response(503 if Flaky.calls % 2 else 200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def flaky() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_http_provider_requests_the_endpoints(flaky: str) -> None:
    metric = MetricSpec.model_validate({**HTTP, "requests": 10, "minRequests": 10,
                                        "path": "/healthz"})
    subject = Subject("web", "id", "dev", "rev", lambda: [], lambda: [flaky])
    reading = HttpProvider(metric, subject).measure()
    assert reading.value == 0.5, reading
    empty = HttpProvider(metric, Subject("web", "id", "dev", "rev", lambda: []))
    assert empty.measure().value is None
