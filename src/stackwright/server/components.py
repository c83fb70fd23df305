"""Platform components: long-running processes the daemon manages beside its controllers
(a Prometheus, an Alertmanager, a job runner).

A domain registers a factory in the ``stackwright.components`` entry-point group:
``factory(ctx: PlatformContext) -> Component | None`` (None when the project does not need
it). The daemon starts every component after its API answers and before the controllers,
and stops them, in reverse order, after the controllers have stopped. A component that fails
to start is reported in ``status`` (and the daemon log); it does not stop the daemon.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from stackwright.server.app import PlatformContext

COMPONENTS_GROUP = "stackwright.components"


class Component(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def status(self) -> dict[str, Any]: ...


class _Failed:
    """Stands in for a component whose factory or start raised."""

    def __init__(self, name: str, error: BaseException) -> None:
        self.name = name
        self.error = error

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None

    def status(self) -> dict[str, Any]:
        return {"state": "failed", "error": str(self.error)}


def start_components(ctx: PlatformContext) -> None:
    """Create and start every registered component into ``ctx.components``."""
    for ep in sorted(entry_points(group=COMPONENTS_GROUP), key=lambda e: e.name):
        try:
            component = ep.load()(ctx)
            if component is None:
                continue
            component.start()
        except Exception as exc:  # one broken component must not take the daemon down
            component = _Failed(ep.name, exc)
            if ctx.log is not None:
                ctx.log("component.failed", level="error", component=ep.name, error=str(exc))
        else:
            if ctx.log is not None:
                ctx.log("component.started", component=ep.name)
        ctx.components[ep.name] = component


def stop_components(ctx: PlatformContext) -> None:
    for name in reversed(list(ctx.components)):
        try:
            ctx.components[name].stop()
        except Exception as exc:  # stop the rest all the same
            if ctx.log is not None:
                ctx.log("component.stop_failed", level="error", component=name, error=str(exc))
    ctx.components.clear()
