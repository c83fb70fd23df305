"""HAProxy server weights that give a revision a share of the traffic (pure).

HAProxy's ``roundrobin`` sends each server requests in proportion to its weight (0-256).
Stable and canary replicas get one weight each, the pair (1-256 each) whose split is
nearest the step: within a percentage point of it, or of the nearest share weights of 1 to
256 can give (11 stable replicas at weight 1 beside one canary at 256 still get 4.1 %).
"""

from __future__ import annotations

from collections.abc import Mapping

MAX_WEIGHT = 256
FULL = 100  # the weight of a replica taking its whole share (as the rolling path adds them)


def split(percent: int, stable: int, canary: int) -> tuple[int, int]:
    """(weight of each stable replica, weight of each canary replica) for ``percent`` % to
    the canary."""
    if not 0 <= percent <= 100:
        raise ValueError(f"a weight is a percent 0-100, got {percent}")
    if canary == 0 or percent == 0:
        return FULL, 0
    if stable == 0 or percent == 100:
        return 0, FULL
    ratio = (100 - percent) * canary / (percent * stable)  # stable weight per canary weight
    best: tuple[float, int, int] | None = None
    for c in range(1, MAX_WEIGHT + 1):
        w = min(MAX_WEIGHT, max(1, round(c * ratio)))
        error = abs(100.0 * canary * c / (canary * c + stable * w) - percent)
        if best is None or error < best[0] - 1e-9:
            best = (error, w, c)
    assert best is not None
    return best[1], best[2]


def share(weights: Mapping[str, int], revision: str) -> float:
    """The percent of traffic servers ``<revision>-<n>`` get, from server name -> weight."""
    total = sum(weights.values())
    if total == 0:
        return 0.0
    mine = sum(w for name, w in weights.items() if name.rpartition("-")[0] == revision)
    return 100.0 * mine / total
