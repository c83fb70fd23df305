"""Where the observability stack keeps its files: ``.stackwright/observe/<env>/``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ObservePaths:
    """The directory layout of one project environment's monitoring stack."""

    root: Path

    @classmethod
    def of(cls, project_dir: Path, environment: str) -> ObservePaths:
        return cls(Path(project_dir) / ".stackwright" / "observe" / environment)

    @property
    def rules(self) -> Path:
        """Rule files written by the SLO and AlertRule kinds (Prometheus loads ``*.yaml``)."""
        return self.root / "rules"

    @property
    def channels(self) -> Path:
        """Alertmanager receivers and routes written by the NotificationChannel kind."""
        return self.root / "channels"

    @property
    def targets(self) -> Path:
        """File-based service discovery: one JSON file per job."""
        return self.root / "targets"

    @property
    def prometheus(self) -> Path:
        return self.root / "prometheus"

    @property
    def alertmanager(self) -> Path:
        return self.root / "alertmanager"

    def rule_file(self, kind: str, name: str) -> Path:
        return self.rules / f"{kind}-{name}.yaml"
