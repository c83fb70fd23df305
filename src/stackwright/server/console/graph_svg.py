"""The resource graph as an SVG drawn on the server: resources in columns by depth (what
depends on nothing on the left), an arrow to each dependency. No JavaScript needed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

BOX_W, BOX_H, GAP_X, GAP_Y = 200, 34, 60, 14


def depths(edges: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Each node's column: one more than its deepest dependency (cycles are impossible in
    a validated spec; a node seen again on the path counts as depth 0)."""
    memo: dict[str, int] = {}

    def depth(node: str, path: frozenset[str]) -> int:
        if node in memo:
            return memo[node]
        deps = [d for d in edges.get(node, ()) if d not in path]
        memo[node] = 1 + max((depth(d, path | {node}) for d in deps), default=-1)
        return memo[node]

    for node in edges:
        depth(node, frozenset())
    return memo


def render_svg(edges: Mapping[str, Sequence[str]]) -> str:
    columns: dict[int, list[str]] = {}
    for node, d in sorted(depths(edges).items()):
        columns.setdefault(d, []).append(node)
    pos = {n: (c * (BOX_W + GAP_X) + 4, r * (BOX_H + GAP_Y) + 4)
           for c, nodes in columns.items() for r, n in enumerate(nodes)}
    width = max((x for x, _ in pos.values()), default=0) + BOX_W + 8
    height = max((y for _, y in pos.values()), default=0) + BOX_H + 8
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="Resource graph with {len(pos)} resources">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
             'markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L10,5L0,10z" '
             'fill="#444"/></marker></defs>']
    for node, deps in sorted(edges.items()):
        x, y = pos[node]
        for dep in deps:
            dx, dy = pos[dep]
            parts.append(f'<line x1="{x}" y1="{y + BOX_H / 2}" x2="{dx + BOX_W}" '
                         f'y2="{dy + BOX_H / 2}" stroke="#444" marker-end="url(#arrow)"/>')
    for node, (x, y) in sorted(pos.items()):
        parts.append(f'<g><title>{escape(node)}</title><rect x="{x}" y="{y}" width="{BOX_W}" '
                     f'height="{BOX_H}" rx="4" fill="#eef3fb" stroke="#0b4fa8"/>'
                     f'<text x="{x + 8}" y="{y + 22}" font-size="13">{escape(node[:28])}</text>'
                     '</g>')
    parts.append("</svg>")
    return "".join(parts)
