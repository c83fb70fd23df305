"""Small server-rendered charts: a time series as inline SVG (no script, no library), with
a text alternative for screen readers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

Point = tuple[float, float]  # (epoch seconds, value)
WIDTH, HEIGHT, PAD = 320, 90, 4


def line_chart(title: str, points: Sequence[Point], unit: str = "",
               threshold: float | None = None) -> str:
    """A polyline of ``points`` scaled to the box, the latest value in the caption;
    ``threshold`` draws a dashed line (an objective, a burn factor)."""
    finite = [(t, v) for t, v in points if math.isfinite(v)]
    caption = f"{escape(title)}: " + (f"{_fmt(finite[-1][1])}{escape(unit)} now"
                                       if finite else "no data")
    if not finite:
        return f'<figure class="chart"><figcaption>{caption}</figcaption></figure>'
    t0, t1 = finite[0][0], finite[-1][0]
    top = max([v for _, v in finite] + ([threshold] if threshold is not None else []))
    top = top * 1.1 if top > 0 else 1.0
    span = (t1 - t0) or 1.0

    def xy(t: float, v: float) -> str:
        x = PAD + (t - t0) / span * (WIDTH - 2 * PAD)
        y = HEIGHT - PAD - v / top * (HEIGHT - 2 * PAD)
        return f"{x:.1f},{y:.1f}"

    path = " ".join(xy(t, v) for t, v in finite)
    rule = ""
    if threshold is not None:
        y = xy(t0, threshold).split(",")[1]
        rule = (f'<line x1="{PAD}" x2="{WIDTH - PAD}" y1="{y}" y2="{y}" stroke="#a30d0d" '
                f'stroke-dasharray="4 3"/>')
    return (f'<figure class="chart"><svg role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'width="{WIDTH}" height="{HEIGHT}" aria-label="{caption}">'
            f'<title>{caption}</title><rect width="{WIDTH}" height="{HEIGHT}" fill="#f7f7f7"/>'
            f'{rule}<polyline fill="none" stroke="#0b4fa8" stroke-width="2" points="{path}"/>'
            f'</svg><figcaption>{caption}</figcaption></figure>')


def _fmt(value: float) -> str:
    if value == 0 or 0.01 <= abs(value) < 10_000:
        return f"{value:.3g}" if abs(value) < 1 else f"{value:,.2f}"
    return f"{value:.2e}"
