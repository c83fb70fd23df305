"""The SLO kind's spec: a service, an SLI (events, HAProxy availability or a latency
histogram), an objective, a period or custom burn windows, and how its alerts look."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from stackwright.core.kinds import SpecModel
from stackwright.durations import period as parse_period

WINDOW_PLACEHOLDER = "{{.window}}"
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_ALERT_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_SLO_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


def duration_seconds(text: str) -> int:
    """Seconds of a ``30s``/``5m``/``1h``/``28d`` duration; ValueError saying how to write one."""
    return int(parse_period(text).total_seconds())


class EventsSLI(SpecModel):
    """Bad (or good) events over total events, as PromQL with ``{{.window}}`` for the range."""

    errorQuery: str | None = Field(None, description="PromQL: rate of bad events over "
                                   "{{.window}} (Sloth's error_query). Set this or goodQuery.")
    goodQuery: str | None = Field(None, description="PromQL: rate of good events over "
                                  "{{.window}}. Set this or errorQuery.")
    totalQuery: str = Field(min_length=1, description="PromQL: rate of all events over "
                            "{{.window}} (Sloth's total_query).")

    @model_validator(mode="after")
    def _one_of(self) -> EventsSLI:
        if (self.errorQuery is None) == (self.goodQuery is None):
            raise ValueError("give exactly one of errorQuery or goodQuery")
        for query in (self.errorQuery, self.goodQuery, self.totalQuery):
            if query is not None and WINDOW_PLACEHOLDER not in query:
                raise ValueError(f"a query must range over {WINDOW_PLACEHOLDER}, as in "
                                 f"rate(x[{WINDOW_PLACEHOLDER}]): {query!r}")
        return self


class HaproxySLI(SpecModel):
    """Built in: the share of non-5xx responses HAProxy's exporter counts for the service."""

    port: int = Field(ge=1, le=65535, description="The service's container port that the "
                      "load balancer routes to (its backend).")


class LatencySLI(SpecModel):
    """Built in: the share of requests faster than ``threshold``, from a histogram the
    service's replicas export (scraped with labels service and environment)."""

    histogram: str = Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$",
                           description="Histogram name without _bucket, e.g. "
                           "http_request_duration_seconds.")
    threshold: str = Field(min_length=1, description="A bucket's le, e.g. \"0.3\".")


class SLISpec(SpecModel):
    events: EventsSLI | None = None
    availability: HaproxySLI | None = Field(None, description="HAProxy's non-5xx ratio.")
    latency: LatencySLI | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> SLISpec:
        given = [k for k in ("events", "availability", "latency") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of events, availability or latency")
        return self


class BurnWindow(SpecModel):
    """One multiwindow alert condition: both windows burn above the factor."""

    severity: Literal["page", "ticket"]
    short: str = Field(description="The short window, e.g. 5m.")
    long: str = Field(description="The long window, e.g. 1h.")
    budgetPercent: float = Field(gt=0, le=100, description="Share of the period's error "
                                 "budget spent in the long window that alerts (2 for 2%).")

    @field_validator("short", "long")
    @classmethod
    def _duration(cls, value: str) -> str:
        duration_seconds(value)
        return value

    @model_validator(mode="after")
    def _short_first(self) -> BurnWindow:
        if duration_seconds(self.short) >= duration_seconds(self.long):
            raise ValueError(f"short window {self.short} must be shorter than long {self.long}")
        return self


class AlertText(SpecModel):
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class SLOAlerting(SpecModel):
    name: str | None = Field(None, description="Alert name (both severities; Sloth's "
                             "alerting.name). Default: <Service><Slo>HighErrorBudgetBurn.")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict, description="e.g. runbook.")
    page: AlertText = Field(default_factory=AlertText)
    ticket: AlertText = Field(default_factory=AlertText)
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not _ALERT_NAME.match(value):
            raise ValueError(f"not a Prometheus alert name: {value!r}")
        return value


class SLOSpec(SpecModel):
    service: str = Field(min_length=1, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$",
                         description="The service the SLO is about (sloth_service).")
    name: str | None = Field(None, description="The SLO's name (sloth_slo); default: the "
                             "resource's name.")
    description: str = ""
    objective: float = Field(gt=0, lt=100, description="Target, in percent: 99.9.")
    period: str = Field("30d", description="The SLO period: 28d, 30d, or any duration.")
    sli: SLISpec
    labels: dict[str, str] = Field(default_factory=dict, description="Added to every rule.")
    windows: list[BurnWindow] | None = Field(
        None, description="Custom burn windows (tests, short periods). Default: Google's "
        "5m/1h and 30m/6h page, 2h/1d and 6h/3d ticket, for 28d and longer periods; "
        "scaled down in proportion (to at least 1m) for shorter periods.")
    minEventRate: float | None = Field(
        None, gt=0, description="Events per second over a long window below which the "
        "burn alerts hold (low traffic must not page by itself).")
    alerting: SLOAlerting = Field(default_factory=SLOAlerting)

    @field_validator("period")
    @classmethod
    def _period(cls, value: str) -> str:
        duration_seconds(value)
        return value

    @field_validator("name")
    @classmethod
    def _slo_name(cls, value: str | None) -> str | None:
        if value is not None and not _SLO_NAME.match(value):
            raise ValueError(f"an SLO name is letters, digits, '.', '_' and '-': {value!r}")
        return value

    @field_validator("labels")
    @classmethod
    def _label_names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [k for k in value if not _LABEL_NAME.match(k) or k.startswith("sloth_")]
        if bad:
            raise ValueError(f"invalid label name(s) {bad}: letters, digits and '_', "
                             "not starting with sloth_")
        return value

    @model_validator(mode="after")
    def _windows_fit(self) -> SLOSpec:
        period_s = duration_seconds(self.period)
        for w in self.windows or []:
            if duration_seconds(w.long) > period_s:
                raise ValueError(f"window {w.long} is longer than the period {self.period}")
        if self.windows is not None and not self.windows:
            raise ValueError("windows, when given, needs at least one entry")
        return self
