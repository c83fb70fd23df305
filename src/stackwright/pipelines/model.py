"""The pipeline definition, as a pipeline file or a ``Pipeline`` resource's spec declares it.

Field names follow GitHub Actions where they can (``needs``, ``if``, ``matrix``, ``steps``
with ``run`` or ``uses`` and ``with``), so a user of Actions or GitLab CI reads them at once.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stackwright.durations import period
from stackwright.workloads.schedule import check_schedule

NAME = r"^[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Step(_Model):
    name: str | None = Field(None, description="Shown in logs and history.")
    run: str | None = Field(None, description="A shell script (sh -e).")
    uses: str | None = Field(None, description="A registered step (stackwright.pipeline_steps"
                             "): checkout, build-image, deploy, test-report, scan, ...")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with",
                                  description="Inputs of a uses step.")
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment.")
    if_: str | None = Field(None, alias="if", description="Run only when this holds.")

    @field_validator("uses")
    @classmethod
    def _known_uses(cls, value: str | None) -> str | None:
        from stackwright.pipelines.step_api import step_names

        if value is not None and value not in (names := step_names()):
            raise ValueError(f"unknown uses {value!r}; registered steps: {', '.join(names)}")
        return value

    @model_validator(mode="after")
    def _one_of(self) -> Step:
        if (self.run is None) == (self.uses is None):
            raise ValueError("a step has exactly one of run or uses")
        return self

    def title(self, index: int) -> str:
        return self.name or self.uses or f"step {index + 1}"


class Cache(_Model):
    key: str = Field(description="Key template, e.g. deps-${{ hashFiles('requirements.txt') }}.")
    paths: list[str] = Field(min_length=1, description="Workspace paths saved and restored.")
    restoreKeys: list[str] = Field(default_factory=list,  # noqa: N815
                                   description="Key prefixes to fall back on, in order.")


DEFAULT_RETENTION = "7d"


def retention_seconds(value: int | str) -> float:
    """A retention as written: a number of days, or ``30s``, ``12h``, ``7d``."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a retention (days, or e.g. 12h, 7d)")
    if isinstance(value, int | float):
        seconds = float(value) * 86400
    else:
        try:
            seconds = period(value).total_seconds()
        except ValueError:
            raise ValueError(f"{value!r} is not a retention: a number of days, or a "
                             "number and s, m, h or d (30s, 12h, 7d)") from None
    if seconds <= 0:
        raise ValueError("a retention is longer than zero")
    return seconds


def _retention(value: int | str | None) -> int | str | None:
    if value is not None:
        retention_seconds(value)
    return value


class Artifacts(_Model):
    paths: list[str] = Field(min_length=1, description="Workspace paths kept after the job.")
    retention: int | str | None = Field(
        None, description="How long they are kept: days, or 30s, 12h, 7d (default: the "
        "pipeline's artifactRetention).")

    _check_retention = field_validator("retention")(_retention)


class Reports(_Model):
    junit: list[str] = Field(default_factory=list, description="JUnit XML files (globs).")


class Concurrency(_Model):
    group: str = Field(description="Runs of one group run one at a time.")
    cancelInProgress: bool = Field(False, description="A new run cancels the running one.")  # noqa: N815


class Job(_Model):
    name: str | None = Field(None, description="Display name.")
    needs: list[str] = Field(default_factory=list, description="Jobs that must succeed first.")
    if_: str | None = Field(None, alias="if", description="Run only when this holds.")
    image: str | None = Field(None, description="Container image (a local BaseImage/Image).")
    host: bool = Field(False, description="Run on the host instead of in a container.")
    matrix: dict[str, list[str | int | float | bool]] = Field(
        default_factory=dict, description="Axes; the job runs once per combination.")
    env: dict[str, str] = Field(default_factory=dict, description="Environment variables.")
    secrets: dict[str, str] = Field(
        default_factory=dict,
        description="NAME: path#key in the secrets store (as secrets put names it).")
    secretFiles: dict[str, str] = Field(  # noqa: N815
        default_factory=dict, description="File path in the workspace: path#key.")
    timeout: float = Field(3600, gt=0, description="Seconds the whole job may take.")
    retry: int = Field(0, ge=0, le=10, description="Attempts after a failed one.")
    environment: str | None = Field(None, description="Deployment environment it targets.")
    cache: Cache | None = None
    artifacts: Artifacts | None = None
    reports: Reports | None = None
    steps: list[Step] = Field(min_length=1, description="Run in order; one failing fails.")

    @model_validator(mode="after")
    def _where(self) -> Job:
        if self.host == (self.image is not None):
            raise ValueError("a job runs in a container (image: ...) or on the host "
                             "(host: true), exactly one")
        return self


class PushTrigger(_Model):
    branches: list[str] = Field(default_factory=lambda: ["*"], description="Branch globs.")
    tags: list[str] = Field(default_factory=list, description="Tag globs.")
    interval: float = Field(10, ge=1, description="Seconds between polls of the repository.")


class Schedule(_Model):
    cron: str = Field(description="Five-field cron expression (UTC).")
    ref: str = Field("main", description="Branch to run on.")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_schedule(value)


class Triggers(_Model):
    push: PushTrigger | None = None
    schedule: list[Schedule] = Field(default_factory=list)
    webhook: bool = Field(False, description="Accept GitHub/GitLab push webhooks.")
    webhookSecret: str | None = Field(  # noqa: N815
        None, description="path#key of the webhook's shared secret in the secrets store.")
    manual: bool = True


class Protection(_Model):
    approval: bool = Field(False, description="Jobs wait for pipeline approve.")
    approvers: list[str] = Field(default_factory=list, description="Who may approve (any).")


class PipelineDef(_Model):
    """A whole pipeline: triggers, shared env, concurrency, environments and jobs."""

    repo: str | None = Field(None, description="Git repository (path or URL) it builds.")
    on: Triggers = Field(default_factory=Triggers)
    env: dict[str, str] = Field(default_factory=dict)
    concurrency: Concurrency | None = None
    environments: dict[str, Protection] = Field(default_factory=dict)
    artifactRetention: int | str = Field(  # noqa: N815
        DEFAULT_RETENTION, description="How long artifacts are kept unless a job says "
        "(days, or 30s, 12h, 7d).")
    jobs: dict[str, Job] = Field(min_length=1)

    _check_retention = field_validator("artifactRetention")(_retention)

    def retention_of(self, job: Job) -> float:
        """Seconds ``job``'s artifacts are kept."""
        chosen = job.artifacts.retention if job.artifacts else None
        return retention_seconds(self.artifactRetention if chosen is None else chosen)

    @field_validator("jobs")
    @classmethod
    def _job_names(cls, jobs: dict[str, Job]) -> dict[str, Job]:
        import re

        for name in jobs:
            if not re.match(NAME, name):
                raise ValueError(f"job name {name!r}: lowercase letters, digits, - and _")
        return jobs
