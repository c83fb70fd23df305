"""The ``CronJob`` kind: a container run on a schedule by the platform daemon.

Apply records the schedule and checks the image; the daemon's ``cronjobs`` controller
(:mod:`stackwright.workloads.cron_controller`) starts the runs. Each cron job keeps its runs
in ``.stackwright/run/<env>/cron/<name>/runs.json`` with one log file per run.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator

from stackwright.core.kinds import Driver, DriverContext, Kind, SpecModel
from stackwright.core.model import Address, Applied, Observed, Recorded, Status
from stackwright.errors import PermanentError
from stackwright.local import podman_for
from stackwright.workloads.jobs import JobVolume
from stackwright.workloads.schedule import Concurrency, check_schedule, check_zone

LABEL_CRONJOB = "dev.stackwright.cronjob"


class CronJobSpec(SpecModel):
    schedule: str = Field(description="Cron expression: 'min hour day month weekday' "
                                      "(a sixth field: seconds), or @hourly, @daily ...")
    timeZone: str = Field("UTC", description="IANA time zone of the schedule.")  # noqa: N815
    image: str = Field(description="Image ref, often ${{ Image.x.image }}.")
    command: list[str] = Field(default_factory=list, description="Command and arguments.")
    env: dict[str, str] = Field(default_factory=dict, description="Environment variables.")
    networks: list[str] = Field(default_factory=list, description="Podman networks.")
    volumes: list[JobVolume] = Field(default_factory=list, description="Volumes to mount.")
    concurrencyPolicy: Concurrency = Field(  # noqa: N815
        Concurrency.FORBID, description="Allow, Forbid (skip while a run is active) or "
                                        "Replace (stop the active run).")
    startingDeadlineSeconds: float | None = Field(  # noqa: N815
        60, gt=0, description="A run later than this after its time is skipped (null: never).")
    timeout: float = Field(3600, gt=0, description="Seconds one run may take.")
    retries: int = Field(0, ge=0, le=10, description="Runs after a failed one, at once.")
    successfulJobsHistoryLimit: int = Field(3, ge=0, le=100)  # noqa: N815
    failedJobsHistoryLimit: int = Field(1, ge=0, le=100)  # noqa: N815
    suspend: bool = Field(False, description="Keep the schedule but start no runs.")

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        return check_schedule(value)

    @field_validator("timeZone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)


class CronJobKind(Kind):
    """A container run on a schedule by the platform daemon (``stackwright up``).

    ```yaml
    apiVersion: stackwright.dev/v1
    kind: CronJob
    metadata: {name: report}
    spec:
      schedule: "*/15 * * * *"
      image: "${{ Image.app.image }}"
      command: [python3, /srv/report.py]
      concurrencyPolicy: Forbid
      successfulJobsHistoryLimit: 3
    ```

    Runs start only while the daemon runs; a run due while it was down starts when it
    comes back if it is within ``startingDeadlineSeconds``, else it is logged as missed
    (one run at most, for the latest missed time, as Kubernetes does). Outputs:
    ``history`` (the runs file).
    """

    name: ClassVar[str] = "CronJob"
    spec_model = CronJobSpec
    outputs = ("history",)
    drivers = {"local": lambda: PodmanCronJobDriver()}


@dataclass
class CronRun:
    """One run of a cron job, as kept in runs.json."""

    id: str
    scheduled: str
    started: str
    container: str
    attempt: int = 1
    status: str = "running"  # running | succeeded | failed | replaced
    exit_code: int | None = None
    finished: str | None = None
    log: str | None = None
    note: str | None = None


@dataclass
class CronRuns:
    """The runs file of one cron job: the last scheduled time and the runs kept."""

    last_scheduled: str
    runs: list[CronRun] = field(default_factory=list)

    @classmethod
    def path(cls, project_dir: Path, env: str, name: str) -> Path:
        return project_dir / ".stackwright" / "run" / env / "cron" / name / "runs.json"

    @classmethod
    @contextmanager
    def locked(cls, project_dir: Path, env: str) -> Iterator[None]:
        """Held by the daemon's tick and by apply's create and delete, so that a run is
        never started for a cron job being destroyed."""
        lock = project_dir / ".stackwright" / "run" / env / "cron" / ".lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        with open(lock, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @classmethod
    def load(cls, path: Path) -> CronRuns | None:
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        return cls(doc["last_scheduled"], [CronRun(**r) for r in doc.get("runs", [])])

    def save(self, path: Path) -> None:
        """Atomically (temp file + rename), so a crash never leaves half a file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"last_scheduled": self.last_scheduled,
                           "runs": [asdict(r) for r in self.runs]}, indent=1)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".runs-")
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)

    @property
    def active(self) -> list[CronRun]:
        return [r for r in self.runs if r.status == "running"]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class PodmanCronJobDriver(Driver):
    """Nothing lives until the daemon starts a run: apply checks the image and records."""

    reads_io = False

    def read(self, ctx: DriverContext, recorded: Recorded) -> Observed | None:
        return Observed() if recorded.status is Status.READY else None

    def create(self, ctx: DriverContext, inputs: Mapping[str, Any]) -> Applied:
        spec = CronJobSpec.model_validate(dict(inputs))
        address = ctx.address or Address("CronJob", "cronjob")
        if not podman_for(ctx).image_exists(spec.image):
            raise PermanentError(f"image {spec.image} does not exist",
                                 hint="build it with an Image resource: there is no registry")
        path = CronRuns.path(ctx.project_dir, ctx.environment, address.name)
        with CronRuns.locked(ctx.project_dir, ctx.environment):
            if CronRuns.load(path) is None:  # the schedule starts now: nothing is backfilled
                CronRuns(now_iso()).save(path)
        return Applied(id=f"{ctx.environment}/{address.name}", outputs={"history": str(path)})

    def update(self, ctx: DriverContext, recorded: Recorded, inputs: Mapping[str, Any]
               ) -> Applied:
        return self.create(ctx, inputs)

    def delete(self, ctx: DriverContext, recorded: Recorded) -> None:
        name = recorded.address.name
        podman = podman_for(ctx)
        path = CronRuns.path(ctx.project_dir, ctx.environment, name)
        with CronRuns.locked(ctx.project_dir, ctx.environment):
            runs = CronRuns.load(path)
            for run in runs.active if runs else []:
                podman.probe(["rm", "--force", "--ignore", "--time", "2", run.container])
            shutil.rmtree(path.parent, ignore_errors=True)


CRONJOB_KIND = CronJobKind()
