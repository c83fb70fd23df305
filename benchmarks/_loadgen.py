"""Load generators for the benchmarks: an open-loop HTTP generator and a paced ``wrk``.

``OpenLoop`` sends GETs at a fixed rate on a schedule that a slow answer never delays (open
loop, so a stall shows as latency instead of hiding as fewer requests), each on a new
connection, and records every request: when it was due, its latency counted from then, its
outcome and body. ``Wrk`` runs Debian's ``wrk`` (keep-alive connections; plain wrk has no
fixed rate, so each connection pauses in a Lua ``delay()`` to total about the rate) and
parses the summary its Lua ``done()`` prints. Standard library only.
"""

from __future__ import annotations

import asyncio
import json
import math
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any


@dataclass(frozen=True)
class Sample:
    at: float  # when the request was due (time.monotonic)
    latency: float  # from ``at`` to the whole answer (or the failure), seconds
    lag: float  # how late the request actually left
    outcome: str  # "ok", "http 503", "timeout", "ConnectionResetError", ...
    body: str


class OpenLoop:
    """``rate`` GETs a second to 127.0.0.1:``port``, from an asyncio loop in a thread."""

    def __init__(self, port: int, rate: float, path: str = "/", timeout: float = 5.0) -> None:
        self.port, self.rate, self.timeout = port, rate, timeout
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                         "Connection: close\r\n\r\n").encode()

    def __enter__(self) -> OpenLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.timeout + 10)
        self.samples.sort(key=lambda s: s.at)

    async def _run(self) -> None:
        start, sent = time.monotonic(), 0
        pending: set[asyncio.Task[None]] = set()
        while not self._stop.is_set():
            due = start + sent / self.rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            task = asyncio.create_task(self._one(due))
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent += 1
        await asyncio.gather(*pending)

    async def _one(self, due: float) -> None:
        lag = time.monotonic() - due
        try:
            raw = await asyncio.wait_for(self._exchange(), self.timeout)
            status = int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/") else 0
            outcome = "ok" if 200 <= status < 300 else f"http {status}"
            body = raw.partition(b"\r\n\r\n")[2].decode(errors="replace").strip()
        except TimeoutError:
            outcome, body = "timeout", ""
        except OSError as exc:
            outcome, body = type(exc).__name__, ""
        self.samples.append(Sample(due, time.monotonic() - due, lag, outcome, body))

    async def _exchange(self) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(self._request)
            await writer.drain()
            return await reader.read()
        finally:
            writer.close()


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    """p50/p90/p99/max in milliseconds (nearest rank)."""
    ordered = sorted(values)

    def at(p: float) -> float | None:
        if not ordered:
            return None
        return round(1000 * ordered[max(0, math.ceil(p * len(ordered)) - 1)], 2)

    return {"p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": at(1.0)}


def summarize(samples: Sequence[Sample], window: tuple[float, float] | None = None
              ) -> dict[str, Any]:
    """Requests, failures by kind, rate achieved and latency of those due in ``window``."""
    chosen = [s for s in samples if window is None or window[0] <= s.at <= window[1]]
    failures = Counter(s.outcome for s in chosen if s.outcome != "ok")
    span = (chosen[-1].at - chosen[0].at) if len(chosen) > 1 else 0.0
    return {
        "requests": len(chosen), "failed": sum(failures.values()), "failures": dict(failures),
        "achieved_rps": round((len(chosen) - 1) / span, 1) if span else None,
        "latency_ms": percentiles([s.latency for s in chosen if s.outcome == "ok"]),
        "max_send_lag_ms": round(1000 * max((s.lag for s in chosen), default=0.0), 2),
    }


def slowest(samples: Sequence[Sample], origin: float, count: int = 3) -> list[dict[str, Any]]:
    """The slowest requests: when they were due (s after ``origin``), latency, outcome."""
    worst = sorted(samples, key=lambda s: s.latency, reverse=True)[:count]
    return [{"at_s": round(s.at - origin, 3), "ms": round(1000 * s.latency, 1),
             "outcome": s.outcome} for s in worst]


def overlap(samples: Sequence[Sample], old: str, new: str) -> float | None:
    """Seconds from the first answer ``new`` to the last answer ``old`` (both served)."""
    first_new = min((s.at for s in samples if s.body == new), default=None)
    last_old = max((s.at for s in samples if s.body == old), default=None)
    if first_new is None or last_old is None:
        return None
    return round(max(0.0, last_old - first_new), 3)


WRK_SCRIPT = """\
-- each connection waits {delay_ms} ms after an answer: about {rate} req/s in all
function delay() return {delay_ms} end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('SWB_WRK {{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


class Wrk:
    """``wrk`` against ``url`` until the block ends (then SIGINT: wrk prints its summary)."""

    def __init__(self, binary: str, url: str, rate: float, work: Path) -> None:
        self.connections = max(1, round(rate / 10))
        self.delay_ms = round(1000 * self.connections / rate)
        script = work / "pace.lua"
        script.write_text(WRK_SCRIPT.format(delay_ms=self.delay_ms, rate=rate))
        self.argv = [binary, "-t", "1", "-c", str(self.connections), "-d", "3600s",
                     "--latency", "-s", str(script), url]
        self.output = ""
        self._out: IO[bytes] | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def label(self) -> str:
        return f"wrk -c {self.connections}, delay() {self.delay_ms} ms, keep-alive"

    def __enter__(self) -> Wrk:
        self._out = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(self.argv, stdout=self._out, stderr=subprocess.STDOUT)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._proc is not None and self._out is not None
        self._proc.send_signal(signal.SIGINT)
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._out.seek(0)
        self.output = self._out.read().decode(errors="replace")
        self._out.close()

    def result(self) -> dict[str, Any]:
        """Requests, errors by kind (non-2xx/3xx answers are ``status``), rate, latency."""
        line = next((ln for ln in self.output.splitlines() if ln.startswith("SWB_WRK ")), None)
        if line is None:
            raise ValueError(f"wrk printed no summary: {self.output[-400:]}")
        raw = json.loads(line.removeprefix("SWB_WRK "))
        errors = {k: raw[k] for k in ("connect", "read", "write", "status", "timeout")}
        return {"requests": raw["requests"], "failed": sum(errors.values()), "errors": errors,
                "achieved_rps": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
                "latency_ms": {k: round(raw[f"{k}_us"] / 1000, 2)
                               for k in ("p50", "p90", "p99", "max")}}
