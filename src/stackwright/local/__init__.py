"""What every local-target driver shares: the configured podman, object names and labels
(names unique per checkout and owners: :mod:`stackwright.local.names`).

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

from typing import Any

from stackwright.core.kinds import DriverContext
from stackwright.core.model import Address
from stackwright.local.names import LABEL_OWNER, Scope, claim, scope_of
from stackwright.tools.podman import LABEL_ENV, LABEL_PROJECT, Podman, PodmanSettings

__all__ = ["Scope", "claim", "labels_for", "mention_legacy_volume", "object_name", "podman_for",
           "scope_of"]


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
    """``sw-<project>-<key>-<env>-<name>``: unique per checkout (the key of its state
    location, see :mod:`stackwright.local.names`), environment and resource."""
    return scope_of(ctx).name(address.name)


def labels_for(ctx: DriverContext, address: Address) -> dict[str, str]:
    """The project, environment and resource, and the owner (key and project directory)."""
    return scope_of(ctx).labels(str(address))


def mention_legacy_volume(ctx: DriverContext, podman: Podman, legacy: str, how: str) -> None:
    """Say so when a volume an older Stackwright named for this resource (``legacy``) is
    retained: no state records it, so it may be another checkout's and was not adopted."""
    if podman.volume_exists(legacy):
        ctx.log(f"a volume {legacy} named by an older Stackwright exists and was not adopted "
                f"(it may be another checkout's); to use its data: {how}")


def checkout_selector(ctx: DriverContext) -> dict[str, str]:
    """Labels that select the objects of this checkout's project environment only (project,
    environment and owner key), for a domain that lists what runs."""
    scope = scope_of(ctx)
    return {LABEL_PROJECT: scope.project, LABEL_ENV: scope.env, LABEL_OWNER: scope.key}
