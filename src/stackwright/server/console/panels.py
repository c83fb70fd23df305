"""Extension point: panels other domains add to the console's pages.

A panel is a title and a function rendering an HTML fragment (escaped by its author: use
:func:`html.escape` or a Jinja2 environment with autoescape) for one page — ``overview``,
``resource`` (with ``address``), ``history``, ``drift`` or a page of the panel's own.
Domains register panels through the ``stackwright.console_panels`` entry-point group, each
naming a :class:`ConsolePanel`, for instance the rollout domain's live canary progress on the
resource page, the SLO domain's error budgets on the overview, the logs domain's tail with
search, the pipelines domain's runs with an approve button. A panel that fails renders as a
short error line; the page still renders.

    [project.entry-points."stackwright.console_panels"]
    canary = "stackwright.delivery.console:CANARY_PANEL"

    CANARY_PANEL = ConsolePanel(name="canary", title="Rollout", pages=("resource",),
                                render=lambda view: render_canary(view.ctx, view.address))

A panel may also add a page of its own to the navigation with ``nav`` (its ``href`` is
served by the domain's routes, mounted under ``/console/<domain>/``).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

PANELS_GROUP = "stackwright.console_panels"


@dataclass(frozen=True)
class PanelView:
    """What a panel is rendered for: the daemon's context, the page, the resource (on a
    resource page) and the request's principal."""

    ctx: Any
    page: str
    principal: Any
    address: str | None = None


@dataclass(frozen=True)
class ConsolePanel:
    name: str
    title: str
    render: Callable[[PanelView], str]
    pages: Sequence[str] = ("overview",)
    nav: tuple[str, str] | None = None  # (title, href): a page of the panel's own


@dataclass(frozen=True)
class Rendered:
    title: str
    html: str


class PanelRegistry:
    """The panels, from entry points and :meth:`add`; kept on the app (no module global)."""

    def __init__(self, panels: Sequence[ConsolePanel] = ()) -> None:
        self._panels = list(panels)

    @classmethod
    def from_entry_points(cls) -> PanelRegistry:
        from importlib.metadata import entry_points

        found = []
        for ep in sorted(entry_points(group=PANELS_GROUP), key=lambda e: e.name):
            panel = ep.load()
            if isinstance(panel, ConsolePanel):
                found.append(panel)
        return cls(found)

    def add(self, panel: ConsolePanel) -> None:
        self._panels.append(panel)

    def nav(self) -> list[dict[str, str]]:
        return [{"title": p.nav[0], "href": p.nav[1]} for p in self._panels if p.nav]

    def render(self, view: PanelView) -> list[Rendered]:
        out = []
        for panel in self._panels:
            if view.page not in panel.pages:
                continue
            try:
                body = panel.render(view)
            except Exception as exc:  # one broken panel must not break the page
                body = f'<p class="bad">{html.escape(panel.name)} failed: ' \
                       f"{html.escape(type(exc).__name__)}</p>"
            out.append(Rendered(panel.title, body))
        return out
