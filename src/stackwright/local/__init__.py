"""What every local-target driver shares: the configured podman, object names and labels.

Settings (``settings:`` in stackwright.yaml) read here, with defaults that work on Debian 12
as root and on a normal host:

```yaml
settings:
  podman:
    binary: podman
    runtime: runc          # null: podman's own default (crun)
    ulimits: ["nofile=16384:16384", "nproc=16384:16384"]
```
"""

from __future__ import annotations

import re
from typing import Any

from stackwright.core.kinds import DriverContext
from stackwright.core.model import Address
from stackwright.tools.podman import Podman, PodmanSettings, StackwrightLabels


def podman_for(ctx: DriverContext) -> Podman:
    """A Podman wrapper configured from the project's settings; its containers.conf lives in
    ``.stackwright/podman``."""
    conf: dict[str, Any] = dict(ctx.settings.get("podman") or {})
    defaults = PodmanSettings()
    settings = PodmanSettings(
        binary=str(conf.get("binary", defaults.binary)),
        runtime=conf.get("runtime", defaults.runtime),
        ulimits=tuple(conf.get("ulimits", defaults.ulimits)),
        state_dir=ctx.project_dir / ".stackwright" / "podman",
    )
    return Podman(settings)


def object_name(ctx: DriverContext, address: Address) -> str:
    """``sw-<project>-<env>-<name>``: unique per project, environment and resource."""
    raw = f"sw-{ctx.project}-{ctx.environment}-{address.name}"
    return re.sub(r"[^a-zA-Z0-9_.-]", "-", raw)


def labels_for(ctx: DriverContext, address: Address) -> dict[str, str]:
    return StackwrightLabels(ctx.project, ctx.environment, str(address)).as_dict()
