"""Multiwindow multi-burn-rate windows (Google SRE workbook, chapter 5) for any SLO period.

A condition alerts when both its short and long window burn the error budget faster than
``factor = budget share spent in the long window x period / long window``: for 30 days,
2% in 1h is 14.4, 5% in 6h is 6, 10% in 1d is 3 and 10% in 3d is 1; for 28 days the same
shares give 13.44, 5.6, 2.8 and 0.933 (Sloth's 28d windows).
"""

from __future__ import annotations

from dataclasses import dataclass

from stackwright.observe.slo_spec import SLOSpec, duration_seconds

DAY = 86400
GOOGLE_PERIOD = 30 * DAY
GOOGLE_WINDOWS = (  # severity, short, long, budget percent
    ("page", 5 * 60, 3600, 2.0),
    ("page", 30 * 60, 6 * 3600, 5.0),
    ("ticket", 2 * 3600, DAY, 10.0),
    ("ticket", 6 * 3600, 3 * DAY, 10.0),
)
_FIXED_FROM = 28 * DAY  # periods this long keep Google's windows; shorter ones scale them
_MIN_SCALED = 60  # a scaled window is at least a minute: rate() needs several scrapes


@dataclass(frozen=True)
class Window:
    """One alert condition, its windows in seconds and its burn-rate factor."""

    severity: str
    short: int
    long: int
    factor: float


def prom_duration(seconds: int) -> str:
    """``300`` → ``5m``, ``86400`` → ``1d``: the largest unit that divides exactly."""
    for unit, size in (("d", DAY), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def burn_windows(spec: SLOSpec) -> list[Window]:
    """The SLO's alert conditions, in the order page (fast first), then ticket."""
    period = duration_seconds(spec.period)
    raw: list[tuple[str, int, int, float]]
    if spec.windows is not None:
        raw = [(w.severity, duration_seconds(w.short), duration_seconds(w.long),
                w.budgetPercent) for w in spec.windows]
    elif period >= _FIXED_FROM:
        raw = list(GOOGLE_WINDOWS)
    else:
        scale = period / GOOGLE_PERIOD
        raw = [(sev, max(_MIN_SCALED, round(s * scale)),
                max(2 * _MIN_SCALED, round(lg * scale)), pct)
               for sev, s, lg, pct in GOOGLE_WINDOWS]
    return [Window(sev, s, lg, _factor(pct, period, lg)) for sev, s, lg, pct in raw]


def _factor(budget_percent: float, period: int, long: int) -> float:
    return round(budget_percent / 100 * period / long, 6)


def sli_windows(windows: list[Window]) -> list[int]:
    """Every window an error ratio is recorded for, shortest first."""
    return sorted({w.short for w in windows} | {w.long for w in windows})
