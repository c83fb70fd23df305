"""Who a driver works for: the project, the environment and the resource's name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from stackwright.core.kinds import DriverContext
from stackwright.errors import PermanentError
from stackwright.local.names import Scope, scope_of


@dataclass(frozen=True)
class Identity:
    project: str
    env: str
    name: str
    key: str = ""  # the checkout's owner key (see stackwright.local.names)
    project_dir: str = ""
    legacy: bool = False  # recorded under the name an older Stackwright gave it

    @property
    def scope(self) -> Scope:
        return Scope(self.project, self.env, self.key, self.project_dir)

    @property
    def id(self) -> str:
        """``sw-<project>-<key>-<env>-<name>`` (``sw-<project>-<env>-<name>`` for a service
        recorded so): container-name prefix and the routes' service key."""
        return self.scope.legacy_name(self.name) if self.legacy else self.scope.name(self.name)

    def labels(self) -> dict[str, str]:
        """The project, environment, resource and owner labels of its containers."""
        return self.scope.labels(f"Service/{self.name}")

    def owns(self, labels: Mapping[str, str]) -> bool:
        """Whether a container labelled so is this service's own (one made under a legacy
        name before owners were labelled counts when the record has that name)."""
        return self.scope.owns(labels) or (self.legacy and self.scope.owns_unlabelled(labels))


def identity(ctx: DriverContext, name: str | None = None,
             recorded_id: str | None = None) -> Identity:
    """The identity of the resource being worked on.

    ``name`` comes from the recorded address when there is one, else from ``ctx.address``;
    ``recorded_id`` keeps the name an older Stackwright recorded.
    """
    if name is None and ctx.address is not None:
        name = ctx.address.name
    if not name:
        raise PermanentError("the engine did not tell the driver which resource it creates",
                             hint="DriverContext.address must be set for Service/LoadBalancer")
    scope = scope_of(ctx)
    legacy = bool(recorded_id) and recorded_id == scope.legacy_name(str(name))
    return Identity(scope.project, scope.env, str(name), scope.key, scope.project_dir, legacy)
