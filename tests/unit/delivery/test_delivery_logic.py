"""Pure logic of progressive delivery: specs, conditions, judging, analysis, weights,
provider arithmetic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from stackwright.delivery.analysis import AnalysisRun, judge
from stackwright.delivery.conditions import ConditionError, evaluate
from stackwright.delivery.providers import (
    Counters,
    ProviderFactory,
    Reading,
    Subject,
    delta,
    haproxy_value,
    prometheus_value,
    revision_counters,
)
from stackwright.delivery.spec import AnalysisSpec, DeploySpec, MetricSpec
from stackwright.delivery.weights import split
from stackwright.registry import Registry
from stackwright.services.spec import ServiceSpec, revision_of
from stackwright.tools.haproxy import StatRow


def metric(**kw: object) -> MetricSpec:
    base: dict[str, object] = {"name": "errors", "metric": "error_ratio",
                               "failureCondition": "result > 0.1"}
    return MetricSpec.model_validate({**base, **kw})


@pytest.mark.parametrize(("text", "value", "expected"), [
    ("result < 0.05", 0.01, True), ("result < 0.05", 0.05, False),
    ("result >= 1 and result < 5", 7, False), ("0 <= result <= 1", 0.5, True),
    ("not (result > 2) or result == 10", 10, True), ("result != -1", -1, False),
])
def test_conditions(text: str, value: float, expected: bool) -> None:
    assert evaluate(text, value) is expected


@pytest.mark.parametrize("text", ["__import__('os')", "result.real > 1", "result <",
                                  "open('x')", "result in [1]", "'a' < result"])
def test_conditions_refuse_anything_else(text: str) -> None:
    with pytest.raises(ConditionError):
        evaluate(text, 1.0)


def test_spec_errors_say_what_to_write() -> None:
    with pytest.raises(ValidationError, match="successCondition, failureCondition"):
        MetricSpec.model_validate({"name": "x", "metric": "requests"})
    with pytest.raises(ValidationError, match="not allowed in a condition"):
        metric(failureCondition="len(result) > 1")
    with pytest.raises(ValidationError, match="setWeight: N or pause"):
        DeploySpec.model_validate({"strategy": "canary", "canary": {"steps": [{}]}})
    with pytest.raises(ValidationError, match="needs canary"):
        DeploySpec.model_validate({"strategy": "canary"})
    with pytest.raises(ValidationError, match="query and address"):
        metric(provider="prometheus", metric=None)


def test_deploy_is_not_part_of_the_revision() -> None:
    plain = ServiceSpec.model_validate({"image": "x"})
    canary = ServiceSpec.model_validate({"image": "x", "deploy": {
        "strategy": "canary", "canary": {"steps": [{"setWeight": 10}]}}})
    assert revision_of(plain) == revision_of(canary)
    assert DeploySpec().strategy == "rolling"


@pytest.mark.parametrize(("reading", "kw", "phase"), [
    (Reading(None, "no data"), {}, "Inconclusive"),
    (Reading(0.5, ""), {}, "Failed"),
    (Reading(0.0, ""), {}, "Successful"),
    (Reading(0.0, ""), {"successCondition": "result < 0.01", "failureCondition": None},
     "Successful"),
    (Reading(0.05, ""), {"successCondition": "result < 0.01", "failureCondition": None},
     "Failed"),
    (Reading(0.05, ""), {"successCondition": "result < 0.01"}, "Inconclusive"),
])
def test_judge(reading: Reading, kw: dict[str, object], phase: str) -> None:
    assert judge(metric(**kw), reading) == phase


class Scripted:
    """A provider that reads the next value of a list (the analysis logic, not a metric)."""

    def __init__(self, values: list[float | None]) -> None:
        self.values = values

    def measure(self) -> Reading:
        value = self.values.pop(0)
        return Reading(value, "scripted")


def run_with(values: list[float | None], clock: list[float], **kw: object) -> AnalysisRun:
    registry = Registry[ProviderFactory]("metric provider")
    registry.add("scripted", lambda m, s: Scripted(values))
    spec = AnalysisSpec(metrics=[metric(provider="scripted", interval="1s", **kw)])
    subject = Subject("web", "sw-p-dev-web", "dev", "abc", lambda: [])
    return AnalysisRun(spec, subject, registry, clock=lambda: clock[0])


def test_analysis_fails_past_the_failure_limit() -> None:
    clock = [0.0]
    run = run_with([0.0, 0.5, 0.5], clock, failureLimit=1)
    assert run.tick() == []  # nothing due before the first interval
    for expected in ("Running", "Running", "Failed"):
        clock[0] += 1
        run.tick()
        assert run.verdict() == expected
    assert [m.value for m in run.failed()] == [0.5, 0.5]


def test_too_little_traffic_is_inconclusive_and_resume_clears_it() -> None:
    clock = [0.0]
    run = run_with([None, None, 0.0], clock, inconclusiveLimit=1, count=3)
    clock[0] = 1
    run.tick()
    assert run.verdict() == "Running"
    clock[0] = 2
    run.tick()
    assert run.verdict() == "Inconclusive"
    run.resumed()
    clock[0] = 3
    run.tick()
    assert run.verdict() == "Successful"  # count reached


def row(name: str, ok: int, errors: int, rtime: int = 10, proxy: str = "b") -> StatRow:
    return StatRow(proxy, name, "server", "UP", 100, 0, 0, 0, "L7OK", "", ok, errors,
                   response_time_ms=rtime)


def test_haproxy_counters_are_deltas_per_revision() -> None:
    before = revision_counters([row("abc-1", 10, 0), row("old-1", 50, 0)], "abc")
    after = revision_counters([row("abc-1", 16, 4, 20), row("abc-2", 5, 5, 30),
                               row("old-1", 90, 0)], "abc")
    counts = delta(before, after)
    assert (counts.responses, counts.errors) == (20, 9)
    assert haproxy_value("error_ratio", counts, 5).value == pytest.approx(9 / 20)
    assert haproxy_value("response_time_ms", counts, 5).value == pytest.approx(
        (10 * 20 + 10 * 30) / 20)
    assert haproxy_value("requests", counts, 50).value == 20


def test_haproxy_with_too_few_requests_has_no_value() -> None:
    reading = haproxy_value("error_ratio", Counters(3, 3), 20)
    assert reading.value is None and "only 3 requests" in reading.detail


def test_a_server_added_again_counts_from_its_new_start() -> None:
    counts = delta({"b/abc-1": Counters(100, 10)}, {"b/abc-1": Counters(7, 1)})
    assert (counts.responses, counts.errors) == (7, 1)


def test_prometheus_answers() -> None:
    doc = {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {}, "value": [1.0, "0.25"]}]}}
    assert prometheus_value(doc, "q").value == 0.25
    assert prometheus_value({"data": {"result": []}}, "q").value is None
    assert prometheus_value({"data": {"result": [{"value": [1, "NaN"]}]}}, "q").value is None


@given(st.integers(0, 100), st.integers(1, 20), st.integers(1, 3))
def test_weights_give_the_canary_its_share(percent: int, stable: int, canary: int) -> None:
    """Within a percentage point of the step, or of the nearest share weights 1-256 can
    give (11 stable replicas at weight 1 beside a canary at 256 still get 4.1 %)."""
    s, c = split(percent, stable, canary)
    assert 0 <= s <= 256 and 0 <= c <= 256
    share = 100.0 * canary * c / (canary * c + stable * s)
    if 0 < percent < 100:
        low = 100.0 * canary / (canary + stable * 256)
        high = 100.0 * canary * 256 / (canary * 256 + stable)
        assert abs(share - min(max(percent, low), high)) <= 1.0
    else:
        assert share == percent
