"""The ``deploy`` step: plan and apply of the platform for one environment, waiting for the
rollouts the apply starts (a canary's steps and analysis included) and failing the job when
one aborts.

```yaml
- uses: deploy
  with:
    environment: prod                 # default: the job's environment
    project: ../platform              # the platform project (default: the pipeline's own)
    variables: {image: "${{ needs.build.outputs.image }}"}
```

The apply runs as ``stackwright -C PROJECT --env ENV apply --yes --var …`` (its output in
the job's log as it goes): it returns once every rollout it started ended, and fails when a
rollout aborts (a canary's analysis failing puts the traffic back on the stable revision).
The step then reads the rollout records of the environment's Services and logs each
(strategy, revisions, state, message); outputs: ``rollouts`` (``web=succeeded,api=aborted``)
and ``rollout_<service>`` (its state).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackwright.errors import StackwrightError
from stackwright.pipelines.procs import stream_stoppable
from stackwright.pipelines.step_api import PipelineStep

if TYPE_CHECKING:
    from stackwright.delivery.records import RolloutRecord
    from stackwright.pipelines.jobexec import JobExecution


def deploy(inputs: Mapping[str, Any], job: JobExecution) -> int:
    environment = str(inputs.get("environment") or job.job.environment or "")
    if not environment:
        raise StackwrightError("deploy needs with.environment (or the job's environment)")
    project = Path(str(inputs.get("project", ".")))
    project = (project if project.is_absolute() else job.env.project_dir / project).resolve()
    variables = dict(inputs.get("variables") or {})
    argv = [sys.executable, "-m", "stackwright", "-C", str(project), "--env",
            environment, "--color", "never", "apply", "--yes"]
    argv += [a for k, v in sorted(variables.items()) for a in ("--var", f"{k}={v}")]
    job.log(f"[stackwright] deploy to {environment}: " + " ".join(
        f"{k}={v}" for k, v in sorted(variables.items())))
    since = datetime.now(UTC).isoformat(timespec="milliseconds")
    code = stream_stoppable(argv, job.log, stop=job.stop_reason)
    rollouts = _report(job, rollouts_since(project, environment, since))
    aborted = [r for r in rollouts if r.state == "aborted"]
    if aborted:
        job.log(f"[stackwright] deploy to {environment} failed: the rollout of "
                + ", ".join(f"Service/{r.service}" for r in aborted) + " aborted")
        return code or 1
    if code != 0:
        job.log(f"[stackwright] deploy to {environment} failed (apply exited {code})")
    return code


def rollouts_since(project: Path, environment: str, since: str) -> list[RolloutRecord]:
    """The latest rollout of each Service of the project's environment started after
    ``since`` (an ISO time, as the records write it)."""
    from stackwright.core.engine import Engine
    from stackwright.delivery.records import RolloutStore

    engine = Engine(project, environment=environment)
    try:
        services = sorted(a.name for a in engine.project.declared if a.kind == "Service")
        if not services:
            return []
        store = RolloutStore(engine.state_url)
        try:
            found = [store.latest(engine.name, environment, s) for s in services]
        finally:
            store.close()
    finally:
        engine.close()
    return [r for r in found if r is not None and r.started_at >= since]


def _report(job: JobExecution, rollouts: list[RolloutRecord]) -> list[RolloutRecord]:
    for r in rollouts:
        job.log(f"[stackwright] rollout of Service/{r.service}: {r.strategy} {r.stable} -> "
                f"{r.revision}: {r.state} (step {r.step}/{r.steps}, weight {r.weight}%)"
                + (f": {r.message}" if r.message else ""))
        job.set_output(f"rollout_{r.service}", r.state)
    if rollouts:
        job.set_output("rollouts", ",".join(f"{r.service}={r.state}" for r in rollouts))
    return rollouts


DEPLOY_STEP = PipelineStep("deploy", "plan + apply of an environment, waiting for its "
                           "rollouts", deploy)
