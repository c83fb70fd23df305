"""Specs of the ``NotificationChannel`` and ``AlertRule`` kinds."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from stackwright.core.kinds import SpecModel
from stackwright.durations import period

_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_TIME = re.compile(r"^([01]\d|2[0-4]):[0-5]\d$")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _duration(value: str | None) -> str | None:
    if value is not None:
        period(value)
    return value


def _label_names(value: dict[str, str]) -> dict[str, str]:
    bad = [k for k in value if not _LABEL.match(k)]
    if bad:
        raise ValueError(f"invalid label name(s) {bad}: letters, digits and '_'")
    return value


class WebhookTarget(SpecModel):
    url: str = Field(pattern=r"^https?://", description="Receives Alertmanager's v4 JSON.")


class SlackTarget(SpecModel):
    url: str = Field(pattern=r"^https?://", description="A Slack-compatible incoming "
                     "webhook (Slack, Mattermost, Rocket.Chat).")
    channel: str | None = None
    title: str | None = None
    text: str | None = None


class EmailTarget(SpecModel):
    to: str = Field(min_length=3)
    sender: str = Field(alias="from", min_length=3)
    smarthost: str = Field(pattern=r"^[^:\s]+:\d+$", description="SMTP host:port.")
    authUsername: str | None = None
    authPassword: str | None = Field(None, description="Sensitive: kept encrypted in state.")
    requireTLS: bool = True


class TimeRange(SpecModel):
    start: str = Field(description="HH:MM")
    end: str = Field(description="HH:MM")

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _TIME.match(value):
            raise ValueError(f"write a time of day as HH:MM, got {value!r}")
        return value


class MuteTime(SpecModel):
    """When notifications are held (Alertmanager's time_intervals), in ``location``."""

    weekdays: list[Literal["monday", "tuesday", "wednesday", "thursday", "friday",
                           "saturday", "sunday"]] = Field(default_factory=list)
    times: list[TimeRange] = Field(default_factory=list)
    location: str | None = Field(None, description="A time zone, e.g. Europe/Berlin.")

    @model_validator(mode="after")
    def _something(self) -> MuteTime:
        if not self.weekdays and not self.times:
            raise ValueError("give weekdays, times or both")
        return self


class ChannelRoute(SpecModel):
    match: dict[str, str] = Field(default_factory=dict, description="Label equality.")
    matchRegex: dict[str, str] = Field(default_factory=dict, description="Label regexes.")
    groupBy: list[str] = Field(default_factory=lambda: ["alertname", "service"])
    groupWait: str | None = None
    groupInterval: str | None = None
    repeatInterval: str | None = None

    @field_validator("match", "matchRegex")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        return _label_names(value)

    @field_validator("groupWait", "groupInterval", "repeatInterval")
    @classmethod
    def _durations(cls, value: str | None) -> str | None:
        return _duration(value)


class NotificationChannelSpec(SpecModel):
    type: Literal["webhook", "slack", "email"]
    webhook: WebhookTarget | None = None
    slack: SlackTarget | None = None
    email: EmailTarget | None = None
    route: ChannelRoute = Field(default_factory=ChannelRoute)
    muteTimes: list[MuteTime] = Field(default_factory=list)
    sendResolved: bool = True

    @model_validator(mode="after")
    def _target_of_type(self) -> NotificationChannelSpec:
        given = [t for t in ("webhook", "slack", "email") if getattr(self, t) is not None]
        if given != [self.type]:
            raise ValueError(f"type {self.type} needs its {self.type} block, and no other")
        return self


class AlertRuleSpec(SpecModel):
    alert: str | None = Field(None, pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$",
                              description="The alert's name; default: the resource's name "
                              "in CamelCase (web-down: WebDown).")
    expr: str = Field(min_length=1, description="PromQL: the alert fires while it returns.")
    for_: str = Field("0s", alias="for", description="How long it must hold first.")
    severity: Literal["page", "ticket", "info"] = "ticket"
    service: str | None = Field(None, description="Adds a service label.")
    labels: dict[str, str] = Field(default_factory=dict)
    summary: str = ""
    description: str = ""
    runbook: str | None = Field(None, description="A link, as the runbook_url annotation.")
    annotations: dict[str, str] = Field(default_factory=dict)

    @field_validator("labels")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        return _label_names(value)

    @field_validator("for_")
    @classmethod
    def _for(cls, value: str) -> str:
        period(value)
        return value
