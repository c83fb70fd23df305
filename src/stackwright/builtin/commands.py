"""The ``Command`` kind: commands run on create, update and destroy, like Terraform's
``terraform_data`` with ``local-exec`` provisioners."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field

from stackwright.core.kinds import Driver, DriverContext, Kind, SpecModel
from stackwright.core.model import Applied, Observed, Recorded, Status
from stackwright.errors import PermanentError

_STDOUT_LIMIT = 64 * 1024


class CommandSpec(SpecModel):
    create: str | None = Field(None, description="Run when the resource is created.")
    update: str | None = Field(
        None, description="Run when triggers change; without it, a change replaces."
    )
    destroy: str | None = Field(None, description="Run when the resource is destroyed.")
    triggers: dict[str, str] = Field(
        default_factory=dict, description="Values whose change re-runs the command."
    )
    environment: dict[str, str] = Field(
        default_factory=dict, description="Extra environment variables for the commands."
    )
    workdir: str | None = Field(None, description="Working directory, relative to the project.")
    interpreter: list[str] = Field(
        default_factory=lambda: ["/bin/sh", "-c"], description="Program and flags to run with."
    )
    timeout: float | None = Field(None, gt=0, description="Seconds before a command is killed.")
    sensitive: bool = Field(False, description="Treat stdout as a secret.")


class CommandKind(Kind):
    """Runs shell commands on create, update and destroy; ``triggers`` re-run them.

    ```yaml
    apiVersion: stackwright.dev/v1
    kind: Command
    metadata: {name: announce}
    spec:
      create: "echo created ${{ File.motd.sha256 }} >> out/log.txt"
      destroy: "echo destroyed >> out/log.txt"
      triggers: {motd: "${{ File.motd.sha256 }}"}
    ```

    A change of ``create``, ``triggers``, ``environment``, ``workdir`` or ``interpreter``
    replaces the resource (destroy, then create) unless an ``update`` command is given, which
    then runs instead. Outputs: ``exit_code`` and ``stdout`` of the last command run.
    """

    name: ClassVar[str] = "Command"
    spec_model = CommandSpec
    outputs = ("exit_code", "stdout")
    immutable = frozenset({"create", "triggers", "environment", "workdir", "interpreter"})
    drivers = {"local": lambda: LocalCommandDriver()}

    def replace_fields(
        self, before: Mapping[str, Any], after: Mapping[str, Any], changed: set[str]
    ) -> set[str]:
        if after.get("update"):
            return set()
        return {f for f in changed if f in self.immutable}

    def sensitive_outputs_for(self, inputs: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({"stdout"}) if inputs.get("sensitive") else frozenset()


class LocalCommandDriver(Driver):
    """Runs commands as child processes that die with Stackwright (``setpriv --pdeathsig``),
    so a killed apply never leaves a command running whose result nobody records."""

    reads_io = False

    def read(self, ctx: DriverContext, recorded: Recorded) -> Observed | None:
        # A command leaves nothing to observe; one never recorded as finished did not happen.
        if recorded.status is not Status.READY:
            return None
        return Observed()

    def create(self, ctx: DriverContext, inputs: Mapping[str, Any]) -> Applied:
        spec = CommandSpec.model_validate(dict(inputs))
        outputs = _run(ctx, spec, spec.create)
        return Applied(id=uuid.uuid4().hex, outputs=outputs)

    def update(
        self, ctx: DriverContext, recorded: Recorded, inputs: Mapping[str, Any]
    ) -> Applied:
        spec = CommandSpec.model_validate(dict(inputs))
        outputs = _run(ctx, spec, spec.update) if spec.update else dict(recorded.outputs)
        return Applied(id=recorded.id or uuid.uuid4().hex, outputs=outputs)

    def delete(self, ctx: DriverContext, recorded: Recorded) -> None:
        spec = CommandSpec.model_validate(dict(recorded.inputs))
        _run(ctx, spec, spec.destroy)


def _run(ctx: DriverContext, spec: CommandSpec, command: str | None) -> dict[str, Any]:
    if not command:
        return {"exit_code": 0, "stdout": ""}
    argv = [*spec.interpreter, command]
    setpriv = shutil.which("setpriv")
    if setpriv and ctx.settings.get("commands.pdeathsig", True):
        argv = [setpriv, "--pdeathsig", "KILL", "--", *argv]
    env = {**os.environ, **spec.environment, "STACKWRIGHT_ENV": ctx.environment}
    cwd = ctx.resolve_path(spec.workdir) if spec.workdir else ctx.project_dir
    try:
        proc = subprocess.run(
            argv, cwd=cwd, env=env, capture_output=True, timeout=spec.timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise PermanentError(f"command timed out after {spec.timeout}s: {command}") from exc
    except OSError as exc:
        raise PermanentError(
            f"cannot run {spec.interpreter[0]}: {exc.strerror}", hint="check spec.interpreter"
        ) from exc
    stdout = proc.stdout[:_STDOUT_LIMIT].decode(errors="replace").rstrip("\n")
    for line in stdout.splitlines()[-20:]:
        ctx.log(line)
    if proc.returncode != 0:
        stderr = proc.stderr.decode(errors="replace").strip()[-2000:]
        raise PermanentError(
            f"command exited with status {proc.returncode}: {command}",
            hint=f"stderr: {stderr}" if stderr else "it printed nothing on stderr",
        )
    return {"exit_code": proc.returncode, "stdout": stdout}


COMMAND_KIND = CommandKind()
