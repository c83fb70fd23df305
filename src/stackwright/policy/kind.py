"""The ``Policy`` kind: Rego modules that every plan of its environments is checked against."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from stackwright.core.kinds import Driver, DriverContext, Kind, SpecModel
from stackwright.core.model import Applied, Enforcement, Observed, Recorded
from stackwright.errors import SpecError
from stackwright.policy.library import LIBRARY

LEVELS = tuple(e.value for e in Enforcement)


class ModuleSource(SpecModel):
    file: str | None = Field(None, description="A .rego file, relative to the project.")
    inline: str | None = Field(None, description="Rego source written in the spec.")

    @model_validator(mode="after")
    def _one(self) -> ModuleSource:
        if (self.file is None) == (self.inline is None):
            raise ValueError("give exactly one of file or inline")
        return self


class PolicySpec(SpecModel):
    modules: list[ModuleSource] = Field(default_factory=list,
                                        description="Rego modules with deny/warn rules.")
    tests: list[str] = Field(default_factory=list,
                             description="Rego files with test_* rules (policy test).")
    library: list[str] = Field(default_factory=list,
                               description=f"Built-in rules to use: all, or {sorted(LIBRARY)}.")
    enforcement: str | dict[str, str] = Field(
        "advisory", description="advisory, soft-mandatory or hard-mandatory; or a map of "
        "environment to level with '*' for the others.")
    environments: list[str] = Field(default_factory=list,
                                    description="Environments it applies to (empty: all).")
    params: dict[str, Any] = Field(default_factory=dict,
                                   description="data.params for the rules.")

    @field_validator("library")
    @classmethod
    def _known(cls, names: list[str]) -> list[str]:
        unknown = [n for n in names if n != "all" and n not in LIBRARY]
        if unknown:
            raise ValueError(f"unknown built-in rule(s) {unknown}; known: all, "
                             f"{', '.join(sorted(LIBRARY))}")
        return names

    @field_validator("enforcement")
    @classmethod
    def _levels(cls, value: str | dict[str, str]) -> str | dict[str, str]:
        levels = [value] if isinstance(value, str) else list(value.values())
        bad = [lv for lv in levels if lv not in LEVELS]
        if bad:
            raise ValueError(f"unknown enforcement level(s) {bad}; use one of {list(LEVELS)}")
        return value

    def level_for(self, environment: str) -> Enforcement:
        if isinstance(self.enforcement, str):
            return Enforcement(self.enforcement)
        return Enforcement(self.enforcement.get(environment, self.enforcement.get("*",
                                                                                   "advisory")))

    def applies_to(self, environment: str) -> bool:
        return not self.environments or environment in self.environments

    def library_names(self) -> list[str]:
        return sorted(LIBRARY) if "all" in self.library else list(dict.fromkeys(self.library))


class PolicyDriver(Driver):
    """A policy has no live object: it is evaluated by the plan check, and recorded so that
    plan shows when its rules change."""

    reads_io = False

    def read(self, ctx: DriverContext, recorded: Recorded) -> Observed | None:
        return Observed(inputs=dict(recorded.inputs), outputs=dict(recorded.outputs))

    def create(self, ctx: DriverContext, inputs: Mapping[str, Any]) -> Applied:
        name = ctx.address.name if ctx.address else "policy"
        return Applied(id=f"policy/{name}", outputs={})

    def update(self, ctx: DriverContext, recorded: Recorded,
               inputs: Mapping[str, Any]) -> Applied:
        return Applied(id=recorded.id or "policy", outputs={})

    def delete(self, ctx: DriverContext, recorded: Recorded) -> None:
        return None


class PolicyKind(Kind):
    """Rego policy gating every plan of its environments (OPA's language, run by regopy).

    ``deny`` and ``warn`` rules are written as for conftest; ``input.changes`` holds the
    plan's changes (kind, name, action, masked before/after, labels, refs), ``input.summary``
    the plan's counts, ``input.environment`` and ``input.actor`` who plans where.

    ```yaml
    apiVersion: stackwright.dev/v1
    kind: Policy
    metadata: {name: baseline}
    spec:
      library: [required-labels, resource-limits, image-digest]
      modules:
        - file: policies/no_deletes_in_prod.rego
      tests: [policies/no_deletes_in_prod_test.rego]
      enforcement: {prod: hard-mandatory, staging: soft-mandatory, "*": advisory}
      params: {required_labels: [owner, team]}
    ```
    """

    name = "Policy"
    spec_model = PolicySpec
    drivers = {"local": PolicyDriver, "kubernetes": PolicyDriver, "aws": PolicyDriver}

    def source_digest(self, inputs: Mapping[str, Any], project_dir: Path) -> str | None:
        from stackwright.core.values import spec_fields

        spec = PolicySpec.model_validate(spec_fields(inputs))
        files = [m.file for m in spec.modules if m.file] + list(spec.tests)
        if not files:
            return None
        digest = hashlib.sha256()
        for index, rel in enumerate(files):
            digest.update(rel.encode() + b"\0" + read_rego(project_dir, rel, f"modules[{index}]")
                          .encode())
        return digest.hexdigest()


def read_rego(project_dir: Path, rel: str, field: str) -> str:
    path = project_dir / rel
    try:
        return path.read_text()
    except OSError as exc:
        raise SpecError(f"cannot read Rego file {rel}: {exc.strerror}", field=f"spec.{field}",
                        hint="paths are relative to the project directory") from exc


POLICY_KIND = PolicyKind()

__all__ = ["POLICY_KIND", "PolicyKind", "PolicySpec", "read_rego"]
