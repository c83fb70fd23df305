"""The console's panel registry (the extension point for other domains) and the graph SVG."""

from __future__ import annotations

from stackwright.server.console.graph_svg import depths, render_svg
from stackwright.server.console.panels import ConsolePanel, PanelRegistry, PanelView


def _boom(view: PanelView) -> str:
    raise RuntimeError("broken panel")


def test_panels_render_on_their_pages_and_a_broken_one_is_contained() -> None:
    registry = PanelRegistry([
        ConsolePanel("slo", "Error budget", lambda v: f"<p>{v.page}</p>", pages=("overview",)),
        ConsolePanel("canary", "Rollout", lambda v: f"<p>{v.address}</p>", pages=("resource",),
                     nav=("Rollouts", "/console/rollouts/")),
    ])
    registry.add(ConsolePanel("bad", "Bad", _boom, pages=("overview",)))
    overview = registry.render(PanelView(ctx=None, page="overview", principal=None))
    assert [(r.title, r.html) for r in overview][0] == ("Error budget", "<p>overview</p>")
    assert "bad failed: RuntimeError" in overview[1].html
    resource = registry.render(PanelView(None, "resource", None, address="Service/web"))
    assert [r.html for r in resource] == ["<p>Service/web</p>"]
    assert registry.nav() == [{"title": "Rollouts", "href": "/console/rollouts/"}]


def test_graph_columns_follow_dependencies_and_names_are_escaped() -> None:
    edges = {"File/a": [], "Command/b": ["File/a"], "File/<c>": ["Command/b", "File/a"]}
    assert depths(edges) == {"File/a": 0, "Command/b": 1, "File/<c>": 2}
    svg = render_svg(edges)
    assert svg.count("<rect") == 3 and svg.count("<line") == 3
    assert "File/&lt;c&gt;" in svg and "<c>" not in svg
