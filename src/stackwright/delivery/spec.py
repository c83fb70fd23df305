"""``spec.deploy`` of a ``Service``: which strategy rolls a new revision out, and how.

Pure pydantic models, imported by the service spec; nothing here starts anything.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from stackwright.core.kinds import SpecModel
from stackwright.delivery.conditions import check_condition
from stackwright.durations import seconds


def _duration(value: str) -> str:
    seconds(value)
    return value


class MetricSpec(SpecModel):
    """One measurement taken every ``interval`` while the analysis runs."""

    name: str = Field(min_length=1, description="Shown in status and in failures.")
    provider: str = Field(
        "haproxy", min_length=1, description="haproxy: the load balancers' own statistics of "
        "the revision; http: requests sent to the revision's own endpoints (a blue/green "
        "preview); prometheus: a PromQL query; or a provider another package registers.")
    metric: Literal["error_ratio", "requests", "response_time_ms"] | None = Field(
        None, description="haproxy provider: 5xx share, request count or mean response time "
                          "of the revision's servers over the interval; http provider: "
                          "error_ratio or response_time_ms of its requests.")
    path: str = Field("/", description="http provider: the path requested.")
    requests: int = Field(20, ge=1, le=1000, description="http provider: requests per "
                          "measurement, spread over the revision's endpoints.")
    query: str | None = Field(None, description="prometheus provider: PromQL; {{service}}, "
                              "{{revision}}, {{environment}} are filled in.")
    address: str | None = Field(None, description="prometheus provider: http://host:port.")
    interval: str = Field("10s", description="Time between measurements.")
    count: int = Field(0, ge=0, description="Measurements to take (0: until the rollout ends).")
    successCondition: str | None = Field(None, description="e.g. `result < 0.05`.")
    failureCondition: str | None = Field(None, description="e.g. `result >= 0.05`.")
    failureLimit: int = Field(0, ge=0, description="Failed measurements tolerated.")
    inconclusiveLimit: int = Field(0, ge=0, description="Inconclusive ones tolerated; one "
                                   "more pauses the rollout for a human.")
    minRequests: int = Field(20, ge=1, description="haproxy and http providers: fewer "
                             "requests in an interval make the measurement inconclusive, not "
                             "a pass.")

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        return _duration(value)

    @field_validator("successCondition", "failureCondition")
    @classmethod
    def _condition(cls, value: str | None) -> str | None:
        if value is not None:
            check_condition(value)
        return value

    @model_validator(mode="after")
    def _complete(self) -> MetricSpec:
        if self.successCondition is None and self.failureCondition is None:
            raise ValueError("give successCondition, failureCondition or both")
        if self.provider == "haproxy" and self.metric is None:
            raise ValueError("the haproxy provider needs metric: error_ratio, requests or "
                             "response_time_ms")
        if self.provider == "prometheus" and not (self.query and self.address):
            raise ValueError("the prometheus provider needs query and address")
        if self.provider == "http":
            if self.metric not in ("error_ratio", "response_time_ms"):
                raise ValueError("the http provider needs metric: error_ratio or "
                                 "response_time_ms")
            if not self.path.startswith("/"):
                raise ValueError(f"path must start with '/', got {self.path!r}")
        return self


class AnalysisSpec(SpecModel):
    metrics: list[MetricSpec] = Field(min_length=1)


class Pause(SpecModel):
    duration: str | None = Field(None, description="Wait this long; none: until promote.")

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        return None if value is None else _duration(value)


class CanaryStep(SpecModel):
    setWeight: int | None = Field(None, ge=0, le=100, description="Percent to the canary.")
    pause: Pause | None = None

    @model_validator(mode="after")
    def _one(self) -> CanaryStep:
        if (self.setWeight is None) == (self.pause is None):
            raise ValueError("a step is either setWeight: N or pause: {duration} / pause: {}")
        return self


class CanarySpec(SpecModel):
    replicas: int = Field(1, ge=1, le=100, description="Canary replicas during the steps.")
    steps: list[CanaryStep] = Field(min_length=1)
    analysis: AnalysisSpec | None = Field(None, description="Runs in the background through "
                                          "every step; a failure aborts.")


class BlueGreenSpec(SpecModel):
    autoPromotion: bool = Field(True, description="Switch once healthy (and analysed); "
                                "false: wait for `stackwright rollout promote`.")
    previewPort: int | None = Field(None, ge=1, le=65535, description="Container port whose "
                                    "preview (the new replicas' endpoints) is shown.")
    prePromotionAnalysis: AnalysisSpec | None = Field(
        None, description="Measured on the new revision (reached on its preview endpoints) "
                          "before the switch.")
    scaleDownDelay: str = Field("30s", description="How long the old revision stays up "
                                "after the switch, so `rollout undo` is instant.")

    @field_validator("scaleDownDelay")
    @classmethod
    def _delay(cls, value: str) -> str:
        return _duration(value)

    @field_validator("prePromotionAnalysis")
    @classmethod
    def _pre(cls, value: AnalysisSpec | None) -> AnalysisSpec | None:
        for m in value.metrics if value else ():
            if m.provider == "haproxy":
                raise ValueError(f"prePromotionAnalysis metric {m.name}: the preview gets no "
                                 "traffic through HAProxy before the switch, so the haproxy "
                                 "provider would never measure it; use provider: http (or "
                                 "prometheus)")
            if m.count < 1:
                raise ValueError(f"prePromotionAnalysis metric {m.name}: give count (the "
                                 "measurements to take before the switch), at least 1")
        return value


class DeploySpec(SpecModel):
    """How a new revision reaches users.

    ```yaml
    deploy:
      strategy: canary
      canary:
        steps: [{setWeight: 10}, {pause: {duration: 30s}}, {setWeight: 50}, {pause: {}}]
        analysis:
          metrics:
            - {name: errors, metric: error_ratio, interval: 10s,
               failureCondition: result > 0.05, failureLimit: 0}
    ```
    """

    strategy: Literal["rolling", "canary", "blueGreen"] = "rolling"
    canary: CanarySpec | None = None
    blueGreen: BlueGreenSpec | None = None

    @model_validator(mode="after")
    def _matching(self) -> DeploySpec:
        if self.strategy == "canary" and self.canary is None:
            raise ValueError("strategy canary needs canary: {steps: [...]}")
        return self

    def blue_green(self) -> BlueGreenSpec:
        return self.blueGreen or BlueGreenSpec()
