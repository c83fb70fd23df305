"""Rollout metrics on the daemon's ``/metrics`` (prometheus-client, the
``stackwright.metrics`` entry point), read from the rollout records at each scrape, so they
count every rollout of the environment, whichever process ran it:

- ``stackwright_rollouts_started_total{strategy}``, ``…_promoted_total{strategy}``
  (succeeded), ``…_aborted_total{strategy}``, ``…_undone_total{strategy}``;
- ``stackwright_rollout_weight{service,strategy}``: the share of requests (percent) the new
  revision of the service's live rollout gets now (0 when none runs);
- ``stackwright_rollout_active{service}``: 1 while a rollout of the service runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from stackwright.delivery.records import RolloutStore
    from stackwright.server.app import PlatformContext

ENDS = {"promoted": ("succeeded",), "aborted": ("aborted",), "undone": ("undone",)}


class RolloutCollector(Collector):
    def __init__(self, ctx: PlatformContext) -> None:
        self.ctx = ctx
        self.store: RolloutStore | None = None

    def collect(self) -> Iterator[Metric]:
        if self.store is None:
            from stackwright.delivery.records import RolloutStore

            self.store = RolloutStore(self.ctx.engine.state_url)
        engine = self.ctx.engine
        counts, latest = self.store.summary(engine.name, engine.environment)
        strategies = sorted({strategy for strategy, _ in counts} | {"canary", "blueGreen"})
        started = CounterMetricFamily("stackwright_rollouts_started",
                                      "Canary and blue/green rollouts begun.", labels=["strategy"])
        for strategy in strategies:
            started.add_metric([strategy], sum(n for (s, _), n in counts.items()
                                               if s == strategy))
        yield started
        for name, states in ENDS.items():
            family = CounterMetricFamily(f"stackwright_rollouts_{name}",
                                         f"Rollouts {name}.", labels=["strategy"])
            for strategy in strategies:
                family.add_metric([strategy], sum(counts.get((strategy, st), 0)
                                                  for st in states))
            yield family
        weight = GaugeMetricFamily("stackwright_rollout_weight", "Percent of requests the "
                                   "new revision of the live rollout gets (0: none runs).",
                                   labels=["service", "strategy"])
        active = GaugeMetricFamily("stackwright_rollout_active", "1 while a rollout of the "
                                   "service runs.", labels=["service"])
        for record in latest:
            weight.add_metric([record.service, record.strategy],
                              float(record.weight if record.active else 0))
            active.add_metric([record.service], 1.0 if record.active else 0.0)
        yield from (weight, active)


def rollout_collector(ctx: PlatformContext) -> RolloutCollector:
    return RolloutCollector(ctx)
