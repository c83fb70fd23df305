"""``settings.observe`` in stackwright.yaml: how the managed monitoring stack runs.

```yaml
settings:
  observe:
    enabled: true            # false: the daemon runs no Prometheus/Alertmanager
    scrapeInterval: 15s
    evaluationInterval: 15s
    retention: 15d
    nodeExporter: true
    alertmanager:
      groupWait: 30s
      groupInterval: 5m
      repeatInterval: 4h
    logs:
      enabled: true          # collect every container's stdout/stderr
      retention: 7d          # by age
      maxLines: 5000000      # and by size
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from stackwright.durations import period


def _duration(value: str) -> str:
    period(value)
    return value


class AlertmanagerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    groupWait: str = "30s"
    groupInterval: str = "5m"
    repeatInterval: str = "4h"
    resolveTimeout: str = "5m"

    @field_validator("groupWait", "groupInterval", "repeatInterval", "resolveTimeout")
    @classmethod
    def _durations(cls, value: str) -> str:
        return _duration(value)


class LogSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    retention: str = "7d"
    maxLines: int = Field(5_000_000, ge=1000)

    @field_validator("retention")
    @classmethod
    def _durations(cls, value: str) -> str:
        return _duration(value)

    @property
    def retention_seconds(self) -> float:
        return period(self.retention).total_seconds()


class ObserveSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    scrapeInterval: str = "15s"
    evaluationInterval: str = "15s"
    retention: str = "15d"
    nodeExporter: bool = True
    alertmanager: AlertmanagerSettings = Field(default_factory=AlertmanagerSettings)
    logs: LogSettings = Field(default_factory=LogSettings)

    @field_validator("scrapeInterval", "evaluationInterval", "retention")
    @classmethod
    def _durations(cls, value: str) -> str:
        return _duration(value)

    @property
    def scrape_seconds(self) -> float:
        return period(self.scrapeInterval).total_seconds()


def observe_settings(settings: Mapping[str, Any]) -> ObserveSettings:
    """The project's observe settings (a ValueError names a bad key)."""
    return ObserveSettings.model_validate(dict(settings.get("observe") or {}))
