"""The recover domain's kinds: ``BackupRepository``, ``BackupPolicy`` and ``RestoreDrill``.

A repository is made (``restic init``) when applied; policies and drills are records the
``backups`` controller and the ``backup`` / ``drill`` commands act on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from stackwright.core.kinds import Driver, DriverContext, Kind, SpecModel
from stackwright.core.model import Applied, Observed, Recorded
from stackwright.durations import period


def _cron(value: str | None) -> str | None:
    if value is not None:
        from stackwright.workloads.schedule import check_schedule

        check_schedule(value)
    return value


def _subset(value: str | None) -> str | None:
    import re

    if value is not None and not re.match(r"^(\d+(\.\d+)?%|\d+/\d+|\d+[KMGT]?)$", value):
        raise ValueError(f"not a --read-data-subset value: {value!r} (write 10%, 1/5 or 500M)")
    return value


class S3Location(SpecModel):
    endpoint: str = Field(pattern=r"^https?://", description="The S3 endpoint URL.")
    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,62}$")
    prefix: str = Field("", description="Folder within the bucket.")
    credentials: str = Field(
        description="Path in the secrets store's KV mount of a secret with the keys "
                    "accessKeyId and secretAccessKey.")
    region: str = "us-east-1"


class CheckSpec(SpecModel):
    schedule: str | None = Field(None, description="Cron schedule of `restic check`.")
    readDataSubset: str | None = Field(  # noqa: N815
        None, description="Also read this part of the data: 10%, 1/5, 500M.")

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        return _cron(value)

    @field_validator("readDataSubset")
    @classmethod
    def _read_subset(cls, value: str | None) -> str | None:
        return _subset(value)


class RepositorySpec(SpecModel):
    path: str | None = Field(None, description="A local directory (relative: to the project).")
    s3: S3Location | None = None
    mount: str = Field("secret", description="The KV mount holding the password.")
    check: CheckSpec = Field(default_factory=CheckSpec)

    @model_validator(mode="after")
    def _one_location(self) -> RepositorySpec:
        if (self.path is None) == (self.s3 is None):
            raise ValueError("give exactly one of path (a local directory) or s3")
        return self


class RepositoryKind(Kind):
    """A restic repository: a local directory or S3-compatible storage, encrypted with a
    password that is generated into the secrets store and never leaves it.

    ```yaml
    apiVersion: stackwright.dev/v1
    kind: BackupRepository
    metadata: {name: main}
    spec:
      path: /var/backups/shop          # or:
      # s3: {endpoint: "http://127.0.0.1:9000", bucket: backups, prefix: shop,
      #      credentials: backup/s3}  # a secret with accessKeyId and secretAccessKey
      check: {schedule: "0 3 * * *", readDataSubset: 10%}
    ```

    Apply runs ``restic init`` (an existing repository whose password is in the store is
    adopted) and keeps the password at ``<mount>/stackwright/backup/<project>/<env>/<name>``.
    Destroy forgets the repository and keeps its data and its password. Outputs:
    ``location``, ``passwordPath``, ``repositoryId``. Needs the daemon (the secrets store).
    """

    name: ClassVar[str] = "BackupRepository"
    spec_model = RepositorySpec
    outputs = ("location", "passwordPath", "repositoryId")
    immutable = frozenset({"path", "s3", "mount"})
    drivers = {"local": lambda: _repository_driver()}


def _repository_driver() -> Driver:
    from stackwright.recover.repository import ResticRepositoryDriver

    return ResticRepositoryDriver()


class Retention(SpecModel):
    keepLast: int | None = Field(None, ge=1)  # noqa: N815
    keepHourly: int | None = Field(None, ge=1)  # noqa: N815
    keepDaily: int | None = Field(None, ge=1)  # noqa: N815
    keepWeekly: int | None = Field(None, ge=1)  # noqa: N815
    keepMonthly: int | None = Field(None, ge=1)  # noqa: N815

    def keep(self) -> dict[str, int]:
        """restic's ``--keep-<name>`` flags."""
        names = {"keepLast": "last", "keepHourly": "hourly", "keepDaily": "daily",
                 "keepWeekly": "weekly", "keepMonthly": "monthly"}
        return {flag: int(v) for f, flag in names.items()
                if (v := getattr(self, f)) is not None}


class Objectives(SpecModel):
    rpo: str | None = Field(None, description="Newest restorable data at most this old: 1h.")
    rto: str | None = Field(None, description="A restore verified within this: 15m.")

    @field_validator("rpo", "rto")
    @classmethod
    def _period(cls, value: str | None) -> str | None:
        if value is not None:
            period(value)
        return value


class Sources(SpecModel):
    databases: list[str] = Field(default_factory=list, description="Database resources.")
    caches: list[str] = Field(default_factory=list, description="Cache resources.")
    volumes: list[str] = Field(default_factory=list, description="Volume resources.")
    files: list[str] = Field(default_factory=list, description="Paths (relative: to the "
                                                               "project).")
    selector: dict[str, str] = Field(default_factory=dict,
                                     description="Also every Database, Cache and Volume of "
                                                 "the spec with these labels.")


class Hooks(SpecModel):
    pre: list[str] | None = Field(None, description="A command run before the capture.")
    post: list[str] | None = Field(None, description="A command run after it (always).")


class PolicySpec(SpecModel):
    repository: str = Field(description="The BackupRepository (its name).")
    sources: Sources
    schedule: str | None = Field(None, description="Cron schedule (UTC) of backups.")
    retention: Retention = Field(default_factory=Retention)
    objectives: Objectives = Field(default_factory=Objectives)
    hooks: Hooks = Field(default_factory=Hooks)
    postgres: Literal["dump", "pitr"] = Field(
        "dump", description="dump: pg_dump per database; pitr: pg_basebackup and the "
                            "archived WAL, restorable to any time (docs/backup.md).")
    walSchedule: str | None = Field(  # noqa: N815
        None, description="With postgres: pitr, cron schedule (UTC; six fields for seconds) "
                          "of shipping the archived WAL between backups: RPO is then the age "
                          "of the last shipped segment.")
    pauseWriters: bool = Field(  # noqa: N815
        True, description="Pause the running containers that mount a volume while it is "
                          "read (podman pause; always unpaused after).")
    timeout: int = Field(3600, ge=1, description="Seconds a source's capture may take.")
    retries: int = Field(1, ge=0, description="Tries again after a failed capture.")

    @field_validator("schedule", "walSchedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        return _cron(value)

    @model_validator(mode="after")
    def _wal_needs_pitr(self) -> PolicySpec:
        if self.walSchedule and self.postgres != "pitr":
            raise ValueError("walSchedule ships archived WAL: it needs postgres: pitr")
        return self


class PolicyKind(Kind):
    """What to back up, where, when, how long to keep it, and the objectives a drill checks.

    ```yaml
    apiVersion: stackwright.dev/v1
    kind: BackupPolicy
    metadata: {name: shop}
    spec:
      repository: main
      sources:
        databases: [db]                # pg_dump per database (custom format)
        caches: [cache]                # BGSAVE, then the RDB file
        volumes: [uploads]             # read while the containers mounting it are paused
        files: [config/]
        selector: {backup: nightly}    # and every Database/Cache/Volume so labelled
      schedule: "0 * * * *"            # the daemon runs it; one missed run is caught up
      retention: {keepLast: 24, keepDaily: 7, keepWeekly: 4}   # restic forget --prune
      objectives: {rpo: 1h, rto: 15m}
      hooks: {pre: [sh, -c, "sync"], post: [sh, -c, "true"]}
      pauseWriters: true               # false: leave them running (quiesce in hooks)
    ```

    ``stackwright backup run shop`` takes one now; ``backup list``, ``backup restore``.
    Outputs: ``repository``, ``schedule``.
    """

    name: ClassVar[str] = "BackupPolicy"
    spec_model = PolicySpec
    outputs = ("repository", "schedule")
    drivers = {"local": lambda: RecordOnlyDriver(("repository", "schedule"))}


class SqlCheck(SpecModel):
    query: str
    expect: list[list[Any]] = Field(description="The rows the query must return.")
    database: str | None = Field(None, description="Which Database of the policy (default: "
                                                   "the first).")


class RedisCheck(SpecModel):
    command: list[str] = Field(min_length=1)
    expect: str | int | None = None
    cache: str | None = None


class ServiceCheck(SpecModel):
    name: str = Field(description="The Service whose scratch copy runs on the restored "
                                  "volumes until its health check passes.")
    env: dict[str, str] = Field(
        default_factory=dict, description="Environment of the scratch copy (the service's own "
        "is not copied: it names the live instances); $SCRATCH_<NAME>_URL and "
        "$SCRATCH_<NAME>_DIR are replaced.")
    timeout: int = Field(120, ge=1, description="Seconds the copy has to become healthy.")


class DrillChecks(SpecModel):
    sql: list[SqlCheck] = Field(default_factory=list)
    redis: list[RedisCheck] = Field(default_factory=list)
    service: ServiceCheck | None = Field(
        None, description="A scratch copy of a Service on the restored data, health-checked.")
    command: list[str] | None = Field(
        None, description="Run with SCRATCH_<NAME>_URL / SCRATCH_<NAME>_DIR for each restored "
                          "source in its environment; exit 0 passes.")
    timeout: int = Field(300, ge=1)


class DrillSpec(SpecModel):
    policy: str = Field(description="The BackupPolicy (its name) whose newest backup is "
                                    "restored.")
    schedule: str | None = None
    checks: DrillChecks = Field(default_factory=DrillChecks)
    keepScratch: bool = Field(False, description="Leave the scratch instances running.")  # noqa: N815

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        return _cron(value)


class DrillKind(Kind):
    """A restore drill: the policy's newest backup is restored into scratch instances next to
    the live ones (never over them), verified, timed (RTO) and aged (RPO), and recorded.

    ```yaml
    apiVersion: stackwright.dev/v1
    kind: RestoreDrill
    metadata: {name: shop-weekly}
    spec:
      policy: shop
      schedule: "0 4 * * 0"
      checks:
        sql:
          - {query: "SELECT count(*) FROM orders WHERE id <= 3", expect: [[3]]}
        redis:
          - {command: [GET, greeting], expect: hello}
        command: [sh, -c, 'test -s "$SCRATCH_UPLOADS_DIR/index.html"']
        service:                       # a scratch copy of Service/web on the restored volume
          name: web                    # (its image and command), health-checked, removed
          env: {DATABASE_URL: "$SCRATCH_DB_URL"}   # the scratch database, never the live one
    ```

    A failing check, a restore that fails, or an RTO/RPO over the policy's objectives fails
    the drill: ``drill history`` shows the reason, the daemon's ``backups`` controller
    reports a failed run in ``status`` and sends an alert (:mod:`stackwright.recover.alerts`).
    Outputs: ``policy``, ``schedule``.
    """

    name: ClassVar[str] = "RestoreDrill"
    spec_model = DrillSpec
    outputs = ("policy", "schedule")
    drivers = {"local": lambda: RecordOnlyDriver(("policy", "schedule"))}


class RecordOnlyDriver(Driver):
    """Kinds that make nothing on the target: the record is the object."""

    reads_io: ClassVar[bool] = False

    def __init__(self, fields: tuple[str, ...]) -> None:
        self.fields = fields

    def read(self, ctx: DriverContext, recorded: Recorded) -> Observed | None:
        return Observed(outputs=dict(recorded.outputs))

    def create(self, ctx: DriverContext, inputs: Mapping[str, Any]) -> Applied:
        name = ctx.address.name if ctx.address else "unnamed"
        return Applied(id=name, outputs={f: inputs.get(f) for f in self.fields})

    def update(self, ctx: DriverContext, recorded: Recorded, inputs: Mapping[str, Any]
               ) -> Applied:
        return self.create(ctx, inputs)

    def delete(self, ctx: DriverContext, recorded: Recorded) -> None:
        return None


BACKUP_REPOSITORY_KIND = RepositoryKind()
BACKUP_POLICY_KIND = PolicyKind()
RESTORE_DRILL_KIND = DrillKind()
