"""How a domain plugs a controller into the platform daemon.

A controller keeps some kind of resource at its recorded desired state between applies
(replace a killed replica, restart a dead load balancer, run cron jobs on schedule). Domains
register controllers in the ``stackwright.controllers`` entry-point group, next to their kinds
in ``stackwright.kinds``; the daemon (``stackwright.server.controllers``) runs each one's
:meth:`Controller.tick` in its own thread every ``interval`` seconds.

A controller only observes and decides; it changes resources through
:meth:`ControllerContext.repair`, which runs an update of the recorded inputs under the same
writer lock as ``apply`` (skipped while an apply holds it) and records the result, with an
audit entry, as a run of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol

from stackwright.core.kinds import DriverContext
from stackwright.core.model import Address, Recorded
from stackwright.registry import Registry

CONTROLLERS_GROUP = "stackwright.controllers"


class ControllerContext(Protocol):
    """What a controller may use; given to every tick by the daemon."""

    @property
    def project(self) -> str: ...

    @property
    def environment(self) -> str: ...

    @property
    def settings(self) -> Mapping[str, Any]:
        """This controller's settings (``settings.controllers.<name>``)."""

    @property
    def stop(self) -> threading.Event:
        """Set when the daemon stops: end the tick early."""

    def resources(self, kind: str) -> dict[Address, Recorded]:
        """The resources of ``kind`` recorded in state now (sensitive values decrypted)."""

    def driver_context(self, address: Address) -> DriverContext: ...

    def repair(self, address: Address, reason: str,
               inputs: Mapping[str, Any] | None = None) -> bool:
        """Update ``address`` to its recorded inputs (or ``inputs``) now; False when an apply
        holds the lock (the apply converges it). Raises what the driver raised."""

    def event(self, name: str, **fields: Any) -> None:
        """One structured line in the daemon's log (never pass secret values)."""


class Controller(Protocol):
    """One control loop. ``tick`` must return promptly and be safe to call again.

    A controller that hands work to threads or processes of its own may also define
    ``close(timeout: float) -> None``: on shutdown, once its loop has stopped, the host calls it
    to wait (at most ``timeout`` seconds) for that work to end."""

    name: ClassVar[str]
    interval: float

    def tick(self, ctx: ControllerContext) -> None: ...


ControllerFactory = Callable[[Mapping[str, Any]], Controller]
"""What the entry point names: settings (``settings.controllers.<name>``) -> controller."""


def controller_registry() -> Registry[ControllerFactory]:
    return Registry[ControllerFactory]("controller", CONTROLLERS_GROUP)


def interval_setting(settings: Mapping[str, Any], default: float) -> float:
    """``interval`` (seconds) from a controller's settings, at least 0.05 s."""
    try:
        value = float(settings.get("interval", default))
    except (TypeError, ValueError):
        value = default
    return max(value, 0.05)
