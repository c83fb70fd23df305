"""The ``Job`` kind: a container run to completion, with retries, a timeout and kept logs."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from stackwright.core.kinds import Driver, DriverContext, Kind, SpecModel
from stackwright.core.model import Address, Applied, Observed, Recorded, Status
from stackwright.errors import PermanentError, TemporaryError
from stackwright.local import labels_for, object_name, podman_for
from stackwright.tools.podman import (
    ContainerSpec,
    NetworkAttachment,
    Podman,
    VolumeMount,
    run_args,
)


class JobVolume(SpecModel):
    name: str = Field(description="Volume name, e.g. ${{ Volume.data.name }}.")
    path: str = Field(description="Where it is mounted in the container.")
    readOnly: bool = Field(False, description="Mount read-only.")  # noqa: N815


class JobSpec(SpecModel):
    image: str = Field(description="Image ref, often ${{ Image.x.image }}.")
    command: list[str] = Field(default_factory=list, description="Command and arguments.")
    env: dict[str, str] = Field(default_factory=dict, description="Environment variables.")
    networks: list[str] = Field(default_factory=list,
                                description="Podman networks, e.g. ${{ Network.x.name }}.")
    volumes: list[JobVolume] = Field(default_factory=list, description="Volumes to mount.")
    retries: int = Field(0, ge=0, le=20, description="Runs after the first failed one.")
    timeout: float = Field(600, gt=0, description="Seconds one run may take.")
    triggers: dict[str, str] = Field(default_factory=dict,
                                     description="Values whose change runs the job again.")


class JobKind(Kind):
    """Runs a container to completion once (and again when its spec changes).

    ```yaml
    apiVersion: stackwright.dev/v1
    kind: Job
    metadata: {name: migrate}
    spec:
      image: "${{ Image.app.image }}"
      command: [python3, /srv/migrate.py]
      retries: 2
      timeout: 120
    ```

    A run that exits non-zero is retried up to ``retries`` times; a run past ``timeout`` is
    killed. Apply fails with the last lines of its output when every run failed. The logs of
    the last run are kept in ``.stackwright/jobs/<env>/<name>.log``. Any change runs the job
    again. Outputs: ``exit_code``, ``attempts``, ``log`` (the log file's path).
    """

    name: ClassVar[str] = "Job"
    spec_model = JobSpec
    outputs = ("exit_code", "attempts", "log")
    immutable = frozenset(JobSpec.model_fields)
    drivers = {"local": lambda: PodmanJobDriver()}


class PodmanJobDriver(Driver):
    reads_io = False

    def read(self, ctx: DriverContext, recorded: Recorded) -> Observed | None:
        # A finished run is a fact of the past; one never recorded as finished did not happen.
        return Observed() if recorded.status is Status.READY else None

    def create(self, ctx: DriverContext, inputs: Mapping[str, Any]) -> Applied:
        spec = JobSpec.model_validate(dict(inputs))
        address = ctx.address or Address("Job", "job")
        podman = podman_for(ctx)
        log_file = ctx.project_dir / ".stackwright" / "jobs" / ctx.environment / (
            f"{address.name}.log")
        log_file.parent.mkdir(parents=True, exist_ok=True)
        failures: list[str] = []
        for attempt in range(1, spec.retries + 2):
            code, output = _run_once(podman, ctx, address, spec, attempt)
            log_file.write_text(output)
            if code == 0:
                return Applied(id=uuid.uuid4().hex,
                               outputs={"exit_code": 0, "attempts": attempt,
                                        "log": str(log_file)})
            failures.append(f"run {attempt}: exit {code}")
            ctx.log(f"run {attempt} failed with exit code {code}")
        tail = "\n".join(output.strip().splitlines()[-10:])
        raise PermanentError(f"job failed after {len(failures)} run(s) "
                             f"({'; '.join(failures)})", hint=f"last output:\n{tail}")

    def update(self, ctx: DriverContext, recorded: Recorded, inputs: Mapping[str, Any]
               ) -> Applied:
        return self.create(ctx, inputs)

    def delete(self, ctx: DriverContext, recorded: Recorded) -> None:
        log = recorded.outputs.get("log")
        if log:
            Path(str(log)).unlink(missing_ok=True)


def _run_once(podman: Podman, ctx: DriverContext, address: Address, spec: JobSpec,
              attempt: int) -> tuple[int, str]:
    """One attached ``podman run --rm``: its exit code and output, or 124 past the timeout.

    Attached rather than detached-then-wait-then-logs: one podman call per run, so no other
    podman process can remove the container between the calls."""
    name = f"{object_name(ctx, address)}-run{attempt}-{uuid.uuid4().hex[:6]}"
    container = ContainerSpec(
        name=name, image=spec.image, command=tuple(spec.command), env=spec.env,
        networks=tuple(NetworkAttachment(n) for n in spec.networks),
        volumes=tuple(VolumeMount(v.name, v.path, v.readOnly) for v in spec.volumes),
        labels=labels_for(ctx, address),
    )
    detached = run_args(container)
    assert detached[:2] == ["run", "-d"]
    try:
        done = podman.probe(["run", "--rm", *detached[2:]], timeout=spec.timeout)
    except TemporaryError:
        podman.probe(["rm", "--force", "--time", "0", name])
        return 124, f"(killed after {spec.timeout}s)\n"
    if done.returncode in (125, 126, 127) and "Error:" in done.stderr:
        raise PermanentError(f"podman could not run the job: {done.stderr.strip()[-500:]}",
                             hint="check the image, networks and volumes it names")
    return done.returncode, done.stdout + done.stderr


JOB_KIND = JobKind()
