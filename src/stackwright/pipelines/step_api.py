"""The ``stackwright.pipeline_steps`` entry-point group: the ``uses:`` steps of pipelines.

Every ``uses`` step, the built-in ones included, is an entry point naming a
:class:`PipelineStep`; a pipeline file is checked against the names registered, so an
unknown ``uses`` lists them all. A domain adds its own step from its package:

    [project.entry-points."stackwright.pipeline_steps"]
    scan = "stackwright.policy.pipeline_step:SCAN_STEP"

    SCAN_STEP = PipelineStep(name="scan", summary="policy scanners over the workspace",
                             run=run_scan)

``run(inputs, job)`` gets the step's rendered ``with`` mapping and the job (see
:class:`StepJob`) and returns an exit code (0 passes); raising :class:`StackwrightError`
fails the step with its message in the job's log. Steps run in the runner's process, on the
host, over the job's workspace (a container job's workspace is the same directory).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, Protocol

from stackwright.errors import StackwrightError

STEPS_GROUP = "stackwright.pipeline_steps"


class StepJob(Protocol):
    """What a step may use of the job it runs in."""

    workspace: Path

    def log(self, line: str) -> None: ...

    def set_output(self, key: str, value: str) -> None: ...

    def keep_artifact(self, paths: Sequence[str]) -> int: ...


@dataclass(frozen=True)
class PipelineStep:
    name: str
    summary: str
    run: Callable[[Mapping[str, Any], Any], int]


@lru_cache(maxsize=1)
def _registered() -> dict[str, EntryPoint]:
    # Installed metadata does not change while a process runs; reading it costs ~10 ms.
    return {ep.name: ep for ep in entry_points(group=STEPS_GROUP)}


def step_names() -> list[str]:
    return sorted(_registered())


def load_step(name: str) -> PipelineStep:
    found = _registered().get(name)
    if found is None:
        raise StackwrightError(f"unknown uses {name!r}",
                               hint=f"registered steps: {', '.join(step_names())}")
    step = found.load()
    if not isinstance(step, PipelineStep):
        raise StackwrightError(f"the {STEPS_GROUP} entry point {name!r} ({found.value}) is "
                               "not a PipelineStep", hint="see stackwright.pipelines.step_api")
    return step
