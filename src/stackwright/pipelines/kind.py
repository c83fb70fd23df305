"""The ``Pipeline`` kind: a pipeline of the platform, from a file or an application repo."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from stackwright.core.kinds import Driver, DriverContext, Kind, SpecModel
from stackwright.core.model import Applied, Observed, Recorded
from stackwright.errors import PermanentError, SpecErrors
from stackwright.pipelines.loader import PIPELINES_DIR


class PipelineSpec(SpecModel):
    repo: str | None = Field(None, description="Git repository it builds: a path (relative "
                             "to the project) or any git URL.")
    file: str | None = Field(None, description="The pipeline file, in .stackwright/pipelines/ "
                             "of the repo (or of the project when there is no repo); "
                             "default <name>.yaml.")
    branch: str = Field("main", description="Branch whose pipeline file is read at apply.")
    hook: bool = Field(False, description="Install a post-receive hook (a local bare repo).")
    concurrency: int = Field(2, ge=1, le=32, description="Jobs of one run at once.")
    runIn: str | None = Field(None, description="The environment whose runner runs it "  # noqa: N815
                              "(default: the project's default environment); applying "
                              "other environments only checks it.")


def runner_environment(project_dir: Path, spec: PipelineSpec) -> str:
    if spec.runIn:
        return spec.runIn
    from stackwright.core.spec.loader import load_config

    return load_config(project_dir).default_environment


class PipelineKind(Kind):
    """A CI/CD pipeline: jobs in podman containers along a DAG, triggered by pushes,
    schedules, webhooks or ``stackwright pipeline run``.

    ```yaml
    apiVersion: stackwright.dev/v1
    kind: Pipeline
    metadata: {name: web}
    spec:
      repo: ../web.git          # its .stackwright/pipelines/web.yaml holds the jobs
      hook: true                # a push runs it at once (post-receive hook)
      concurrency: 2
    ```

    Runs belong to one environment's runner (``runIn``, default the project's default
    environment): its apply installs the hook and its daemon polls the triggers; a
    ``deploy`` step applying staging or prod only checks the pipeline there.
    Apply reads the pipeline file of ``branch`` and checks it (``needs``, cycles, cron,
    ``uses``, expressions: errors at file:line); each run reads the file of its own commit.
    Outputs: ``jobs`` (names), ``file`` (where it was read), ``hook`` (the installed hook).
    See docs/pipelines.md for the file format.
    """

    name: ClassVar[str] = "Pipeline"
    spec_model = PipelineSpec
    outputs = ("jobs", "file", "hook")
    drivers = {"local": lambda: PipelineDriver()}

    def source_digest(self, inputs: Mapping[str, Any], project_dir: Path) -> str | None:
        """A pipeline file of the project itself: a change plans an update (a repo's file
        is read at each run's commit)."""
        spec = PipelineSpec.model_validate(dict(inputs))
        if spec.repo is None:
            path = project_dir / PIPELINES_DIR / (spec.file or "")
            return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        return None


class PipelineDriver(Driver):
    reads_io = False

    def read(self, ctx: DriverContext, recorded: Recorded) -> Observed | None:
        return Observed(outputs=dict(recorded.outputs))

    def create(self, ctx: DriverContext, inputs: Mapping[str, Any]) -> Applied:
        from stackwright.pipelines.sources import install_hook, load_declared

        assert ctx.address is not None
        spec = PipelineSpec.model_validate(dict(inputs))
        try:
            loaded = load_declared(ctx.project_dir, ctx.environment, ctx.address.name, spec)
        except SpecErrors as exc:
            raise PermanentError(f"pipeline {ctx.address.name} is invalid:\n{exc}",
                                 hint="fix the pipeline file and apply again") from exc
        hook = ""
        if spec.hook and ctx.environment == runner_environment(ctx.project_dir, spec):
            hook = install_hook(ctx.project_dir, ctx.environment, ctx.address.name, spec)
        ctx.log(f"pipeline {ctx.address.name}: {len(loaded.definition.jobs)} job(s) "
                f"from {loaded.file}")
        return Applied(id=ctx.address.name,
                       outputs={"jobs": sorted(loaded.definition.jobs), "file": loaded.file,
                                "hook": hook})

    def update(self, ctx: DriverContext, recorded: Recorded, inputs: Mapping[str, Any]
               ) -> Applied:
        return self.create(ctx, inputs)

    def delete(self, ctx: DriverContext, recorded: Recorded) -> None:
        hook = recorded.outputs.get("hook")  # only the runner's environment installed one
        if hook and Path(str(hook)).is_file() and "stackwright" in Path(str(hook)).read_text():
            Path(str(hook)).unlink()


PIPELINE_KIND = PipelineKind()
