"""The daemon's own metrics (prometheus-client), read from the platform context at each
scrape: runs by operation and status (applies, destroys, repairs), controller loops and
their failures, recorded resources by kind, components (up, in error) and uptime; and,
counted as they are served, the API's requests by method, route and status code, with
their durations (``stackwright_api_requests_total{code="500"}`` are the daemon's errors)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

if TYPE_CHECKING:
    from fastapi import FastAPI
    from prometheus_client.metrics_core import Metric
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from stackwright.server.app import PlatformContext


class PlatformCollector(Collector):
    def __init__(self, ctx: PlatformContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("stackwright_daemon_uptime_seconds", "Seconds since the "
                                "daemon started.", value=time.time() - self.ctx.started)
        yield from self._runs()
        yield from self._controllers()
        yield from self._resources()
        yield from self._components()

    def _runs(self) -> Iterator[Metric]:
        engine = self.ctx.engine
        family = CounterMetricFamily("stackwright_runs", "Runs recorded in the state history "
                                     "(apply, destroy, repair) by status.",
                                     labels=["operation", "status"])
        counts = Counter((r.operation, r.status)
                         for r in engine.store.history(engine.name, engine.environment))
        for (operation, status), n in sorted(counts.items()):
            family.add_metric([operation, status], n)
        yield family

    def _controllers(self) -> Iterator[Metric]:
        ticks = CounterMetricFamily("stackwright_controller_ticks", "Controller loops run.",
                                    labels=["controller"])
        repairs = CounterMetricFamily("stackwright_controller_repairs",
                                      "Repairs controllers made.", labels=["controller"])
        failures = GaugeMetricFamily("stackwright_controller_failures",
                                     "Failed ticks in a row.", labels=["controller"])
        host = self.ctx.controllers
        for state in getattr(host, "states", []) if host is not None else []:
            ticks.add_metric([state.name], state.ticks)
            repairs.add_metric([state.name], state.repairs)
            failures.add_metric([state.name], state.failures)
        yield from (ticks, repairs, failures)

    def _resources(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("stackwright_resources", "Recorded resources by kind.",
                                   labels=["kind"])
        kinds = Counter(a.kind for a in self.ctx.engine.snapshot().resources)
        for kind, n in sorted(kinds.items()):
            family.add_metric([kind], n)
        yield family

    def _components(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("stackwright_component_up", "1 when a platform "
                                   "component runs.", labels=["component"])
        errors = GaugeMetricFamily("stackwright_component_error", "1 when a platform "
                                   "component reports an error (a config that failed its "
                                   "check, a failed start).", labels=["component"])
        for name, component in self.ctx.components.items():
            doc = component.status()
            family.add_metric([name], 1.0 if doc.get("state") == "running" else 0.0)
            errors.add_metric([name], 1.0 if doc.get("error") or doc.get("state") == "failed"
                              else 0.0)
        yield from (family, errors)


class ApiMetrics:
    """Requests the daemon's API served, counted by a middleware."""

    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter, Histogram

        self.requests = Counter("stackwright_api_requests", "API requests served.",
                                ["method", "route", "code"], registry=registry)
        self.seconds = Histogram("stackwright_api_request_duration_seconds",
                                 "Time to answer an API request (to its first byte).",
                                 ["method", "route"], registry=registry,
                                 buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))

    def install(self, app: FastAPI) -> None:
        app.add_middleware(_Counting, metrics=self)


class _Counting:
    """Pure ASGI (a streamed response, SSE, is counted when its headers go out)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        code = 500

        async def sending(message: Message) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = int(message["status"])
                self.metrics.seconds.labels(scope["method"], _route(scope)).observe(
                    time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.requests.labels(scope["method"], _route(scope), str(code)).inc()


def _route(scope: Scope) -> str:
    """The route's template (``/api/v1/runs/{run_id}``), so paths do not explode the labels."""
    return str(getattr(scope.get("route"), "path", None) or "unmatched")


METRICS_GROUP = "stackwright.metrics"  # entry points: name -> (ctx) -> Collector


def platform_registry(ctx: PlatformContext) -> CollectorRegistry:
    """The platform's collector, and one from each domain naming a factory under
    ``stackwright.metrics`` (rollouts, …)."""
    from importlib.metadata import entry_points

    registry = CollectorRegistry(auto_describe=False)
    registry.register(PlatformCollector(ctx))
    for ep in sorted(entry_points(group=METRICS_GROUP), key=lambda e: e.name):
        registry.register(ep.load()(ctx))
    return registry
