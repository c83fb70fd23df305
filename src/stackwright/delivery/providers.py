"""Metric providers: where an analysis gets a number for a revision over an interval.

A provider is made per metric by a factory from :func:`provider_registry` (built-ins plus the
``stackwright.metric_providers`` entry points), so a new source plugs in by name.
``measure()`` returns a :class:`Reading`: a value, or None with why it is inconclusive (too
little traffic, no data), never a made-up pass.

- ``haproxy``: the load balancers' own per-server counters (``show stat``) of the servers of
  the revision (``<revision>-<n>``), as deltas since the last reading: ``requests`` (count),
  ``error_ratio`` (5xx / all responses) and ``response_time_ms`` (HAProxy's mean response
  time of those servers over their last 1024 requests, weighted by requests).
- ``http``: ``requests`` GETs of ``path`` spread over the revision's own endpoints (a
  blue/green preview, which HAProxy sends nothing before the switch): ``error_ratio`` (5xx
  and failed connections / requests) or ``response_time_ms`` (mean).
- ``prometheus``: an instant query on ``/api/v1/query``; the first sample's value.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from stackwright.delivery.spec import MetricSpec
from stackwright.registry import Registry
from stackwright.tools.haproxy import StatRow


@dataclass(frozen=True)
class Reading:
    value: float | None
    detail: str  # what was measured, or why nothing was


@dataclass(frozen=True)
class Subject:
    """What is measured: a revision of a service, and how to see its servers."""

    service: str  # the service's name
    service_id: str
    environment: str
    revision: str
    rows: Callable[[], Sequence[StatRow]]  # every server row of the service's backends
    endpoints: Callable[[], Sequence[str]] = lambda: ()  # the revision's own 127.0.0.1:port


class Provider(Protocol):
    def measure(self) -> Reading: ...


ProviderFactory = Callable[[MetricSpec, Subject], Provider]
PROVIDER_GROUP = "stackwright.metric_providers"  # entry points: name -> factory


@dataclass(frozen=True)
class Counters:
    responses: int = 0
    errors: int = 0
    time_weighted: float = 0.0  # sum of rtime * responses, for a weighted mean


def revision_counters(rows: Sequence[StatRow], revision: str) -> dict[str, Counters]:
    """Per (backend/server) counters of the servers of ``revision`` (pure)."""
    out: dict[str, Counters] = {}
    for r in rows:
        if r.type != "server" or r.name.rpartition("-")[0] != revision:
            continue
        total = r.hrsp_1xx + r.hrsp_2xx + r.hrsp_3xx + r.hrsp_4xx + r.hrsp_5xx + r.hrsp_other
        out[f"{r.proxy}/{r.name}"] = Counters(total, r.hrsp_5xx, r.response_time_ms * total)
    return out


def delta(before: dict[str, Counters], after: dict[str, Counters]) -> Counters:
    """Responses since ``before``; a server new since then counts from 0, one whose counters
    went down (deleted and added again) counts from its new start."""
    responses = errors = 0
    weighted = 0.0
    for key, now in after.items():
        then = before.get(key, Counters())
        if now.responses < then.responses:
            then = Counters()
        n = now.responses - then.responses
        responses += n
        errors += now.errors - then.errors
        weighted += (now.time_weighted / now.responses) * n if now.responses else 0.0
    return Counters(responses, errors, weighted)


def haproxy_value(metric: str, counts: Counters, min_requests: int) -> Reading:
    """The value of ``metric`` from the counters of one interval (pure)."""
    n = counts.responses
    if metric == "requests":
        return Reading(float(n), f"{n} requests")
    if n < min_requests:
        return Reading(None, f"only {n} requests in the interval (minRequests {min_requests})")
    if metric == "error_ratio":
        return Reading(counts.errors / n, f"{counts.errors} of {n} responses were 5xx")
    mean = counts.time_weighted / n
    return Reading(mean, f"mean response time {mean:.0f} ms over {n} requests")


class HaproxyProvider:
    def __init__(self, metric: MetricSpec, subject: Subject) -> None:
        assert metric.metric is not None
        self.metric, self.subject = metric.metric, subject
        self.min_requests = metric.minRequests
        self.last = revision_counters(subject.rows(), subject.revision)

    def measure(self) -> Reading:
        now = revision_counters(self.subject.rows(), self.subject.revision)
        counts, self.last = delta(self.last, now), now
        return haproxy_value(self.metric, counts, self.min_requests)


def http_value(metric: str, codes: Sequence[int], millis: Sequence[float],
               min_requests: int) -> Reading:
    """The value of ``metric`` from one round of requests (pure): ``codes`` are HTTP status
    codes, 0 for a request that got no answer."""
    n = len(codes)
    if n < min_requests:
        return Reading(None, f"only {n} requests (minRequests {min_requests})")
    if metric == "error_ratio":
        errors = sum(1 for c in codes if c == 0 or c >= 500)
        return Reading(errors / n, f"{errors} of {n} requests failed or were 5xx")
    mean = sum(millis) / n
    return Reading(mean, f"mean response time {mean:.0f} ms over {n} requests")


class HttpProvider:
    def __init__(self, metric: MetricSpec, subject: Subject) -> None:
        assert metric.metric is not None
        self.metric, self.subject = metric, subject

    def measure(self) -> Reading:
        endpoints = list(self.subject.endpoints())
        if not endpoints:
            return Reading(None, "the revision has no endpoint to request")
        codes: list[int] = []
        millis: list[float] = []
        for i in range(self.metric.requests):
            started = time.monotonic()
            codes.append(_get(f"http://{endpoints[i % len(endpoints)]}{self.metric.path}"))
            millis.append(1000.0 * (time.monotonic() - started))
        assert self.metric.metric is not None
        return http_value(self.metric.metric, codes, millis, self.metric.minRequests)


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


class PrometheusProvider:
    def __init__(self, metric: MetricSpec, subject: Subject) -> None:
        assert metric.query is not None and metric.address is not None
        self.address = metric.address.rstrip("/")
        self.query = (metric.query.replace("{{service}}", subject.service)
                      .replace("{{revision}}", subject.revision)
                      .replace("{{environment}}", subject.environment))

    def measure(self) -> Reading:
        url = f"{self.address}/api/v1/query?" + urllib.parse.urlencode({"query": self.query})
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                doc = json.loads(resp.read())
        except (OSError, ValueError, urllib.error.URLError) as exc:
            return Reading(None, f"prometheus at {self.address} did not answer: {exc}")
        return prometheus_value(doc, self.query)


def prometheus_value(doc: object, query: str) -> Reading:
    """The first sample of an instant query's answer (pure)."""
    data = doc.get("data") if isinstance(doc, dict) else None
    result = data.get("result") if isinstance(data, dict) else None
    if not isinstance(result, list) or not result:
        return Reading(None, f"no data for {query}")
    sample = result[0].get("value") if isinstance(result[0], dict) else None
    try:
        value = float(sample[1]) if isinstance(sample, list) else math.nan
    except (TypeError, ValueError, IndexError):
        value = math.nan
    if math.isnan(value):
        return Reading(None, f"no number in the answer to {query}")
    return Reading(value, f"{query} = {value:g}")


def provider_registry() -> Registry[ProviderFactory]:
    """The built-in providers, and those other packages name under ``PROVIDER_GROUP``."""
    registry = Registry[ProviderFactory]("metric provider", PROVIDER_GROUP)
    registry.add("haproxy", HaproxyProvider)
    registry.add("prometheus", PrometheusProvider)
    registry.add("http", HttpProvider)
    return registry
