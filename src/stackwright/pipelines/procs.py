"""Running one step's process with its output streamed line by line, stoppable from outside
(cancel, timeout) while it runs."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from stackwright.tools._proc import ToolError

POLL = 0.2


def stream_stoppable(argv: Sequence[str], on_line: Callable[[str], None], *,
                     stop: Callable[[], str | None], on_stop: Callable[[], None] | None = None,
                     env: Mapping[str, str] | None = None, cwd: Path | None = None) -> int:
    """Run ``argv`` to its end, each output line (stdout and stderr) to ``on_line``.

    ``stop()`` is asked every 0.2 s; when it gives a reason, ``on_stop`` runs (removing the
    container the process drives) or the process is killed, the reason is logged and the
    exit code is returned all the same."""
    try:
        proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace", env=dict(env or os.environ),
                                cwd=cwd, bufsize=1, start_new_session=True)
    except FileNotFoundError as exc:
        raise ToolError(f"{argv[0]} is not installed", argv=argv) from exc
    reader = threading.Thread(target=_pump, args=(proc, on_line), daemon=True)
    reader.start()
    stopped = False
    while True:
        try:
            proc.wait(timeout=POLL)  # returns as soon as the process ends
            break
        except subprocess.TimeoutExpired:
            pass
        reason = None if stopped else stop()
        if reason is not None:
            stopped = True
            on_line(f"[stackwright] stopping: {reason}")
            (on_stop or (lambda: _kill(proc)))()
    reader.join(timeout=10)
    return proc.returncode


def _pump(proc: subprocess.Popen[str], on_line: Callable[[str], None]) -> None:
    assert proc.stdout is not None
    for raw in proc.stdout:
        on_line(raw.rstrip("\n"))


def _kill(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, 9)
    except ProcessLookupError:
        pass
