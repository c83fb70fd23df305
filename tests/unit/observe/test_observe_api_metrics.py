"""The daemon's API requests counted by route template and status code, timed."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from stackwright.observe.metrics import ApiMetrics


def _app() -> tuple[TestClient, CollectorRegistry]:
    registry = CollectorRegistry()
    app = FastAPI()
    ApiMetrics(registry).install(app)

    @app.get("/api/v1/runs/{run_id}")
    def run(run_id: str) -> dict[str, str]:
        if run_id == "bad":
            raise HTTPException(404, "no such run")
        return {"id": run_id}

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    return TestClient(app, raise_server_exceptions=False), registry


def test_requests_are_counted_by_route_template_and_code() -> None:
    client, registry = _app()
    for run_id in ("a", "b", "bad"):
        client.get(f"/api/v1/runs/{run_id}")
    client.get("/boom")
    client.get("/nowhere")

    def count(route: str, code: str) -> float | None:
        return registry.get_sample_value("stackwright_api_requests_total",
                                         {"method": "GET", "route": route, "code": code})

    assert count("/api/v1/runs/{run_id}", "200") == 2
    assert count("/api/v1/runs/{run_id}", "404") == 1
    assert count("/boom", "500") == 1
    assert count("unmatched", "404") == 1
    assert registry.get_sample_value("stackwright_api_request_duration_seconds_count",
                                     {"method": "GET", "route": "/api/v1/runs/{run_id}"}) == 3
