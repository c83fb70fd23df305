"""The DAG of a run: matrix jobs expanded into named jobs, ``needs`` into their instances."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stackwright.pipelines.model import Job, PipelineDef


@dataclass(frozen=True)
class PlannedJob:
    """One job of a run: ``name`` is unique in the run (``test-3.12`` for a matrix cell)."""

    name: str
    source: str  # the job's key in the pipeline file
    job: Job
    needs: tuple[str, ...]
    matrix: Mapping[str, Any] = field(default_factory=dict)


def _cell_name(job: str, cell: Mapping[str, Any]) -> str:
    parts = [re.sub(r"[^A-Za-z0-9_.]+", "_", str(v)) for v in cell.values()]
    return "-".join([job, *parts]) if parts else job


def cells(job: Job) -> list[dict[str, Any]]:
    """Every combination of the matrix axes, in declaration order ([{}] without a matrix)."""
    axes = list(job.matrix.items())
    if not axes:
        return [{}]
    return [dict(zip([a for a, _ in axes], combo, strict=True))
            for combo in itertools.product(*(values for _, values in axes))]


def expand(definition: PipelineDef) -> list[PlannedJob]:
    """The run's jobs in a dependency order (a job after everything it needs)."""
    instances = {name: [_cell_name(name, c) for c in cells(job)]
                 for name, job in definition.jobs.items()}
    planned: dict[str, PlannedJob] = {}
    for name in topological(definition):
        job = definition.jobs[name]
        needs = tuple(i for n in job.needs for i in instances[n])
        for cell in cells(job):
            cell_name = _cell_name(name, cell)
            planned[cell_name] = PlannedJob(cell_name, name, job, needs, cell)
    return list(planned.values())


def topological(definition: PipelineDef) -> list[str]:
    """Job keys, each after its needs; ties keep file order (the loader rejected cycles)."""
    order: list[str] = []
    done: set[str] = set()
    remaining = list(definition.jobs)
    while remaining:
        ready = [n for n in remaining if set(definition.jobs[n].needs) <= done]
        if not ready:
            raise ValueError(f"needs form a cycle among {', '.join(remaining)}")
        for name in ready:
            order.append(name)
            done.add(name)
            remaining.remove(name)
    return order


def dependents(jobs: list[PlannedJob], failed: str) -> set[str]:
    """Every job that needs ``failed``, directly or through others."""
    out: set[str] = set()
    frontier = {failed}
    while frontier:
        frontier = {j.name for j in jobs if set(j.needs) & frontier} - out
        out |= frontier
    return out
