"""Response models of the observe API (what ``/openapi.json`` documents)."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, Field


class SloRules(BaseModel):
    slo: str
    service: str | None
    path: str = Field(description="where the daemon writes the rule file")
    rules: str = Field(description="the rule file, as Prometheus loads it")


class SloRulesList(BaseModel):
    slos: list[SloRules]


class SloStatus(BaseModel):
    slo: str
    service: str | None
    objective: float | None = Field(description="as a ratio (0.999)")
    sli: float | None = Field(description="the share of good events in the shortest window")
    error_budget_remaining: float | None = Field(description="for the period, as a ratio")
    burn_rates: dict[str, float | None] = Field(description="window -> burn rate")
    alerts_firing: list[str] = Field(description="sloth_severity of each firing alert")


class SloStatusList(BaseModel):
    slos: list[SloStatus]


class LogLineOut(BaseModel):
    id: int
    time: float
    service: str
    environment: str
    revision: str
    replica: str
    container: str
    stream: str
    level: str | None
    message: str
    trace_id: str | None
    fields: dict[str, Any]


class LogLines(BaseModel):
    lines: list[LogLineOut]


def finite(value: Any) -> Any:
    """NaN (no traffic in a window) as null: JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value
