"""Who a driver works for: the project, the environment and the resource's name."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from stackwright.core.kinds import DriverContext
from stackwright.errors import PermanentError


@dataclass(frozen=True)
class Identity:
    project: str
    env: str
    name: str

    @property
    def id(self) -> str:
        """``sw-<project>-<env>-<name>``: container-name prefix and the routes' service key."""
        return f"sw-{self.project}-{self.env}-{self.name}"


@functools.lru_cache(maxsize=32)
def _project_name(project_dir: Path) -> str:
    from stackwright.core.spec.loader import load_config

    return load_config(project_dir).name


def identity(ctx: DriverContext, name: str | None = None) -> Identity:
    """The identity of the resource being worked on.

    ``name`` comes from the recorded address when there is one, else from ``ctx.address``.
    """
    project = ctx.project or _project_name(Path(ctx.project_dir))
    if name is None and ctx.address is not None:
        name = ctx.address.name
    if not name:
        raise PermanentError("the engine did not tell the driver which resource it creates",
                             hint="DriverContext.address must be set for Service/LoadBalancer")
    return Identity(project, ctx.environment, str(name))
