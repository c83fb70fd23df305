"""What the recover commands and controller share: the project's recorded resources, the
policies and repositories they name, and the domain's records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from stackwright.core.kinds import DriverContext
from stackwright.core.model import Address, Recorded
from stackwright.errors import PermanentError
from stackwright.recover.kinds import DrillSpec, PolicySpec, RepositorySpec
from stackwright.recover.records import Records
from stackwright.registry import did_you_mean
from stackwright.tools.restic import Repo

if TYPE_CHECKING:
    from stackwright.core.engine import Engine


@dataclass(frozen=True)
class Source:
    """One thing a policy backs up: ``kind`` is Database, Cache, Volume or File."""

    kind: str
    name: str
    record: Recorded | None = None  # None for a File

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def env_name(self) -> str:
        import re

        return re.sub(r"[^A-Z0-9]", "_", self.name.upper())


class Platform:
    """One project and environment, as the recover domain sees it."""

    def __init__(self, engine: Engine, log: Callable[[str], None] | None = None) -> None:
        self.engine = engine
        self.log = log or (lambda line: None)

    @property
    def project(self) -> str:
        return self.engine.name

    @property
    def environment(self) -> str:
        return self.engine.environment

    @cached_property
    def records(self) -> Records:
        return Records.open(self.engine.state_url, self.project, self.environment)

    def close(self) -> None:
        if "records" in self.__dict__:
            self.records.close()

    def ctx(self, address: Address | None = None) -> DriverContext:
        return self.engine.driver_context(address, log=self.log)

    def resources(self, kind: str) -> dict[str, Recorded]:
        return {a.name: r for a, r in self.engine.snapshot().resources.items()
                if a.kind == kind}

    def recorded(self, kind: str, name: str) -> Recorded:
        found = self.resources(kind)
        if name not in found:
            raise PermanentError(f"no {kind} named {name!r} is applied in {self.project}/"
                                 f"{self.environment}",
                                 hint=did_you_mean(name, sorted(found)) or
                                 f"declare a {kind} and apply it")
        return found[name]

    def policy(self, name: str) -> PolicySpec:
        return PolicySpec.model_validate(dict(self.recorded("BackupPolicy", name).inputs))

    def drill(self, name: str) -> DrillSpec:
        return DrillSpec.model_validate(dict(self.recorded("RestoreDrill", name).inputs))

    def repo(self, policy: PolicySpec) -> Repo:
        from stackwright.recover.repository import repo_for

        record = self.recorded("BackupRepository", policy.repository)
        spec = RepositorySpec.model_validate(dict(record.inputs))
        return repo_for(self.ctx(record.address), policy.repository, spec)

    def sources(self, policy: PolicySpec) -> list[Source]:
        """The policy's sources, named ones first, then those its selector picks."""
        spec = policy.sources
        named = [*(("Database", n) for n in spec.databases), *(("Cache", n) for n in
                                                                spec.caches),
                 *(("Volume", n) for n in spec.volumes)]
        named += self._selected(spec.selector, set(named))
        found = [Source(kind, name, self.recorded(kind, name)) for kind, name in named]
        return found + [Source("File", path) for path in spec.files]

    def _selected(self, selector: dict[str, str], taken: set[tuple[str, str]]
                  ) -> list[tuple[str, str]]:
        if not selector:
            return []
        picked: list[tuple[str, str]] = []
        for address, declared in self.engine.project.declared.items():
            if address.kind not in ("Database", "Cache", "Volume"):
                continue
            labels = dict(declared.labels)
            if all(labels.get(k) == v for k, v in selector.items()):
                if (address.kind, address.name) not in taken:
                    picked.append((address.kind, address.name))
        return sorted(picked)

    def host(self) -> str:
        """The hostname snapshots are made under (one per project and environment)."""
        return f"sw-{self.project}-{self.environment}"

    def tags(self, policy: str) -> list[str]:
        return [f"sw-project={self.project}", f"sw-env={self.environment}",
                f"sw-policy={policy}"]
