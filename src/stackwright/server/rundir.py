"""Where a daemon keeps its pid file, lock, log and address: ``.stackwright/run/<env>/``."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunDir:
    """The run directory of one project and environment."""

    root: Path

    @classmethod
    def of(cls, project_root: Path, environment: str) -> RunDir:
        return cls(project_root / ".stackwright" / "run" / environment)

    @property
    def info_file(self) -> Path:
        return self.root / "daemon.json"

    @property
    def lock_file(self) -> Path:
        return self.root / "daemon.lock"

    @property
    def log_file(self) -> Path:
        return self.root / "daemon.log"

    @property
    def vault_audit_file(self) -> Path:
        return self.root / "vault-audit.log"

    def ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def read_info(self) -> dict[str, Any] | None:
        """The running daemon's pid, api and start time, or None if there is none alive."""
        try:
            info: dict[str, Any] = json.loads(self.info_file.read_text())
        except (OSError, ValueError):
            return None
        return info if pid_alive(int(info.get("pid", 0))) else None

    def write_info(self, info: dict[str, Any]) -> None:
        tmp = self.info_file.with_name(".daemon.json.tmp")
        tmp.write_text(json.dumps(info, indent=1))
        tmp.replace(self.info_file)


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
