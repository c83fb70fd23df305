"""The console's rollout panel on a service's page: the latest rollout's state, step and
weight, its recent events and analysis measurements, live (htmx polls
``/console/rollouts/<service>`` every second while it runs), with Promote and Abort buttons
posting to the API (``/api/v1/rollouts/<service>/promote|abort``; the console's CSRF header
goes with every htmx request). The buttons are offered to operators only, as the API allows.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from stackwright.server.console.panels import ConsolePanel, PanelView

if TYPE_CHECKING:
    from stackwright.delivery.records import RolloutRecord

EVENTS_SHOWN = 8
MEASUREMENTS_SHOWN = 6


def render_panel(view: PanelView) -> str:
    """The panel for the resource page (services only)."""
    kind, _, name = (view.address or "").partition("/")
    if kind != "Service":
        return '<p class="muted">Rollouts are for services.</p>'
    from stackwright.delivery.records import RolloutStore

    engine = view.ctx.engine
    store = RolloutStore(engine.state_url)
    try:
        record = store.latest(engine.name, engine.environment, name)
    finally:
        store.close()
    return fragment(name, record, view.principal)


def fragment(service: str, record: RolloutRecord | None, principal: Any) -> str:
    """The live part of the panel (pure): what ``/console/rollouts/<service>`` answers."""
    ident = f"rollout-{escape(service)}"
    if record is None:
        return (f'<div id="{ident}"><p class="muted">No canary or blue/green rollout of '
                f"{escape(service)} yet.</p></div>")
    live = (f' hx-get="/console/rollouts/{escape(service)}" hx-trigger="every 1s" '
            'hx-swap="outerHTML"' if record.active else "")
    parts = [f'<div id="{ident}" data-state="{escape(record.state)}"{live}>', _head(record),
             _events(record), _measurements(record), _buttons(service, record, principal),
             "</div>"]
    return "".join(parts)


def _head(record: RolloutRecord) -> str:
    steps = max(record.steps, 1)
    return (f'<p>Rollout {record.id} ({escape(record.strategy)}) of revision '
            f"<code>{escape(record.revision)}</code> over <code>{escape(record.stable)}</code>: "
            f'<strong class="rollout-state">{escape(record.state)}</strong></p>'
            f'<p><label>Step <span class="rollout-step">{record.step}/{record.steps}</span> '
            f'<progress max="{steps}" value="{min(record.step, steps)}"></progress></label> '
            f'<label>Weight <span class="rollout-weight">{record.weight}%</span> to the new '
            f'revision <meter min="0" max="100" value="{record.weight}"></meter></label></p>'
            f'<p class="rollout-message">{escape(record.message)}</p>')


def _events(record: RolloutRecord) -> str:
    items = "".join(f"<li><time>{escape(str(e.get('at', '')))}</time> "
                    f"{escape(str(e.get('what', '')))}</li>"
                    for e in record.events[-EVENTS_SHOWN:])
    return f'<h3>Progress</h3><ol class="rollout-events">{items}</ol>'


def _measurements(record: RolloutRecord) -> str:
    if not record.measurements:
        return '<p class="muted">No analysis measurement.</p>'
    rows = "".join(
        f"<tr><td>{escape(str(m.get('at', '')))}</td><td>{escape(str(m.get('metric', '')))}"
        f"</td><td class=\"{escape(str(m.get('phase', '')))}\">"
        f"{escape(str(m.get('phase', '')))}</td><td>{escape(str(m.get('detail', '')))}</td></tr>"
        for m in record.measurements[-MEASUREMENTS_SHOWN:])
    return ('<h3>Analysis</h3><div class="wrap"><table class="rollout-analysis"><thead><tr>'
            '<th scope="col">Time</th><th scope="col">Metric</th><th scope="col">Result</th>'
            f'<th scope="col">Measured</th></tr></thead><tbody>{rows}</tbody></table></div>')


def _buttons(service: str, record: RolloutRecord, principal: Any) -> str:
    if not record.active:
        return ""
    from stackwright.server.access.roles import at_least

    if not at_least(getattr(principal, "role", None), "operator"):
        return '<p class="muted">Promote and abort need the operator role.</p>'
    base = f"/api/v1/rollouts/{escape(service)}"
    return (f'<p><button hx-post="{base}/promote" hx-swap="none">Promote</button> '
            f'<button hx-post="{base}/abort" hx-swap="none" '
            'hx-confirm="Send all traffic back to the stable revision?">Abort</button></p>')


ROLLOUT_PANEL = ConsolePanel(name="rollout", title="Rollout", pages=("resource",),
                             render=render_panel)
