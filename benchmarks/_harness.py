"""Shared helpers for the benchmarks: timing a command, free ports, tables, the JSON line.

Standard library only, so a benchmark runs with any Python 3.11+ and measures the tools,
not an import of ours. Every benchmark ends by calling ``emit_result``: its last line of
stdout is one JSON object with the raw figures, the ratios and the targets.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
_TAIL_CHARS = 4000


@dataclass(frozen=True)
class Timing:
    """One run of a command: wall-clock seconds, exit code (None if it timed out), output tails."""

    argv: tuple[str, ...]
    seconds: float
    returncode: int | None
    stdout_tail: str
    stderr_tail: str

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    def describe_failure(self) -> str:
        what = "timed out" if self.timed_out else f"exited {self.returncode}"
        tail = (self.stderr_tail.strip() or self.stdout_tail.strip())[-600:]
        return f"{' '.join(self.argv[:4])} ... {what}: {tail}"


def run_timed(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> Timing:
    """Run ``argv`` and time it; output goes to temp files so a chatty tool cannot stall a pipe.

    The child gets its own process group so a timeout kills its children too (provisioners,
    plugins), not only the direct child.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True,
        )
        try:
            returncode: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            returncode = None
        seconds = time.perf_counter() - start
        return Timing(tuple(argv), seconds, returncode, _tail(out), _tail(err))


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _tail(stream: Any) -> str:
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    stream.seek(max(0, size - _TAIL_CHARS))
    return stream.read().decode("utf-8", errors="replace")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks it; close the race by retrying)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextmanager
def scratch_dir(prefix: str, *, keep: bool = False) -> Iterator[Path]:
    """A temp dir removed afterwards, unless ``keep`` (then its path is printed to stderr)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if keep:
            log(f"kept work dir {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def find_executable(name: str, *candidates: str | os.PathLike[str]) -> str | None:
    """The first candidate path that is an executable file, else ``name`` on PATH."""
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and Path(candidate).is_file():
            return str(candidate)
    return shutil.which(name)


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 4)


def seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def emit_result(result: Mapping[str, Any]) -> None:
    """Print the result as one JSON object on one line: the benchmark's last line of stdout."""
    sys.stdout.flush()
    print(json.dumps(result, separators=(",", ":"), sort_keys=False), flush=True)
