"""Analysis: each metric measured every ``interval``, judged by its conditions, counted
against its limits.

:func:`judge` is pure. :class:`AnalysisRun` takes the measurements that are due at a given
moment and says the verdict: ``Failed`` when a metric failed more than ``failureLimit``
times, ``Inconclusive`` when it could not tell more than ``inconclusiveLimit`` times (the
rollout then pauses for a human: too little traffic is not a pass), ``Successful`` when every
metric took its ``count`` measurements, else ``Running``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from stackwright.delivery.conditions import evaluate
from stackwright.delivery.providers import Provider, ProviderFactory, Reading, Subject
from stackwright.delivery.spec import AnalysisSpec, MetricSpec
from stackwright.durations import seconds
from stackwright.errors import PermanentError
from stackwright.registry import Registry

Phase = Literal["Successful", "Failed", "Inconclusive"]
Verdict = Literal["Running", "Successful", "Failed", "Inconclusive"]


@dataclass(frozen=True)
class Measurement:
    metric: str
    phase: Phase
    value: float | None
    detail: str
    at: str

    def as_json(self) -> dict[str, object]:
        return {"metric": self.metric, "phase": self.phase, "value": self.value,
                "detail": self.detail, "at": self.at}

    def describe(self) -> str:
        value = "no value" if self.value is None else f"{self.value:.4g}"
        return f"{self.metric}: {self.phase} ({value}: {self.detail})"


def judge(metric: MetricSpec, reading: Reading) -> Phase:
    """Failed when failureCondition holds; Successful when successCondition holds (or, with
    only a failureCondition, when it does not); with both and neither holding, Inconclusive;
    no value is always Inconclusive."""
    if reading.value is None:
        return "Inconclusive"
    if metric.failureCondition and evaluate(metric.failureCondition, reading.value):
        return "Failed"
    if metric.successCondition is None:
        return "Successful"
    if evaluate(metric.successCondition, reading.value):
        return "Successful"
    return "Failed" if metric.failureCondition is None else "Inconclusive"


@dataclass
class MetricRun:
    metric: MetricSpec
    provider: Provider
    next_at: float
    taken: list[Measurement] = field(default_factory=list)
    inconclusive_seen: int = 0  # reset when a human resumes

    def count(self, phase: Phase) -> int:
        return sum(1 for m in self.taken if m.phase == phase)

    @property
    def done(self) -> bool:
        return self.metric.count > 0 and len(self.taken) >= self.metric.count


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class AnalysisRun:
    """The metrics of one analysis over one subject (a revision)."""

    def __init__(self, spec: AnalysisSpec, subject: Subject,
                 providers: Registry[ProviderFactory],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        start = clock()
        self.runs = [MetricRun(m, _provider(providers, m, subject),
                               start + seconds(m.interval)) for m in spec.metrics]

    def tick(self) -> list[Measurement]:
        """Take every measurement that is due now."""
        now, taken = self.clock(), []
        for run in self.runs:
            if run.done or now < run.next_at:
                continue
            reading = run.provider.measure()
            m = Measurement(run.metric.name, judge(run.metric, reading), reading.value,
                            reading.detail, _now_iso())
            run.taken.append(m)
            run.inconclusive_seen += m.phase == "Inconclusive"
            run.next_at = max(run.next_at + seconds(run.metric.interval), now)
            taken.append(m)
        return taken

    def verdict(self) -> Verdict:
        if any(r.count("Failed") > r.metric.failureLimit for r in self.runs):
            return "Failed"
        if any(r.inconclusive_seen > r.metric.inconclusiveLimit for r in self.runs):
            return "Inconclusive"
        if all(r.done for r in self.runs):
            return "Successful"
        return "Running"

    def failed(self) -> list[Measurement]:
        return [m for r in self.runs for m in r.taken if m.phase == "Failed"]

    def inconclusive(self) -> list[Measurement]:
        return [m for r in self.runs for m in r.taken if m.phase == "Inconclusive"]

    def resumed(self) -> None:
        """A human looked at an inconclusive analysis and let it go on."""
        for r in self.runs:
            r.inconclusive_seen = 0

    def shortest_interval(self) -> float:
        return min(seconds(r.metric.interval) for r in self.runs)


def _provider(providers: Registry[ProviderFactory], metric: MetricSpec,
              subject: Subject) -> Provider:
    try:
        factory = providers.get(metric.provider)
    except Exception as exc:
        raise PermanentError(f"analysis metric {metric.name}: unknown provider "
                             f"{metric.provider!r}", hint=str(exc)) from exc
    return factory(metric, subject)
