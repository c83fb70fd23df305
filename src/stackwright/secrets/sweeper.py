"""The expiration manager's clock: a thread that sweeps expired tokens and due leases.

It sleeps until the next lease is due (as the sweep reports) or ``interval`` seconds at most,
and wakes early when poked (a lease was created or made due, the store was unsealed).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

_MIN_DELAY_S = 0.05


class LeaseSweeper:
    """Runs ``sweep`` (which returns seconds until the next due lease, or None) in a thread."""

    def __init__(self, sweep: Callable[[], float | None], interval: float) -> None:
        self.interval = interval
        self._sweep = sweep
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.interval <= 0 or self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="secrets-lease-sweeper", daemon=True
        )
        self._thread.start()

    def poke(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                due = self._sweep()
            except Exception:  # the sweeper must outlive one bad pass; the next one retries
                log.exception("lease sweep failed")
                due = None
            delay = self.interval if due is None else min(self.interval, due)
            self._wake.wait(max(delay, _MIN_DELAY_S))
