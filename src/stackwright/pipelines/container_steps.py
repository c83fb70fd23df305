"""Steps run in a job's container without a ``podman exec`` each.

The container runs a small shell loop (below) over a private directory mounted at ``/sw``:
the runner writes step ``N``'s script and environment, then ``N.ready``; the loop runs it
in ``/workspace`` with its output in ``N.log`` and writes the exit code to ``N.rc``. A
``podman exec`` costs a second on a busy host; a file appearing costs the loop's 50 ms
poll. The runner tails ``N.log`` into the job's log as the step runs. ``stop`` ends the
loop, and the container (started with ``--rm``) removes itself.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from stackwright.tools.podman import Podman

MOUNT = "/sw"
LOOP = f"""cd /workspace; i=0
while [ ! -f {MOUNT}/stop ]; do
  if [ -f {MOUNT}/$i.ready ]; then
    ( . {MOUNT}/$i.env; exec sh -e {MOUNT}/$i.sh ) > {MOUNT}/$i.log 2>&1
    echo $? > {MOUNT}/$i.tmp && mv {MOUNT}/$i.tmp {MOUNT}/$i.rc; i=$((i+1))
  else sleep 0.05; fi
done
touch {MOUNT}/exited"""
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ALIVE_CHECK = 5.0


def env_script(env: Mapping[str, str]) -> str:
    """``export NAME='value'`` lines (values of any text, newlines included)."""
    quoted = {k: "'" + v.replace("'", "'\\''") + "'" for k, v in env.items() if _NAME.match(k)}
    return "".join(f"export {k}={v}\n" for k, v in quoted.items())


class StepChannel:
    """The runner's side of the loop, for one container."""

    def __init__(self, podman: Podman, container: str, folder: Path) -> None:
        self.podman = podman
        self.container = container
        self.folder = folder
        self.index = 0

    def run(self, script: str, env: Mapping[str, str], on_line: Callable[[str], None],
            stop: Callable[[], str | None], kill: Callable[[], None]) -> int:
        i = self.index
        self.index += 1
        env_file = self.folder / f"{i}.env"
        env_file.touch(mode=0o600)
        env_file.write_text(env_script(env))
        (self.folder / f"{i}.sh").write_text(script)
        (self.folder / f"{i}.ready").touch()
        try:
            return self._wait(i, on_line, stop, kill)
        finally:
            env_file.unlink(missing_ok=True)

    def _wait(self, i: int, on_line: Callable[[str], None], stop: Callable[[], str | None],
              kill: Callable[[], None]) -> int:
        log, rc = self.folder / f"{i}.log", self.folder / f"{i}.rc"
        tail = _Tail(log, on_line)
        next_check = time.monotonic() + ALIVE_CHECK
        while not rc.is_file():
            tail.read()
            reason = stop()
            if reason is not None:
                on_line(f"[stackwright] stopping: {reason}")
                kill()
                return 137
            if time.monotonic() > next_check:
                next_check = time.monotonic() + ALIVE_CHECK
                if self.podman.probe(["container", "exists", self.container]).returncode:
                    on_line("[stackwright] the job's container stopped")
                    return 125
            time.sleep(0.02)
        tail.read(final=True)
        return int(rc.read_text().strip() or 1)

    def close(self, timeout: float = 2.0) -> bool:
        """End the loop; True when it ended (the container then removes itself)."""
        (self.folder / "stop").touch()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (self.folder / "exited").is_file():
                return True
            time.sleep(0.02)
        return False


class _Tail:
    """New complete lines of a growing file."""

    def __init__(self, path: Path, on_line: Callable[[str], None]) -> None:
        self.path = path
        self.on_line = on_line
        self.offset = 0
        self.partial = ""

    def read(self, final: bool = False) -> None:
        try:
            with open(self.path, errors="replace") as handle:
                handle.seek(self.offset)
                text = handle.read()
                self.offset = handle.tell()
        except FileNotFoundError:
            return
        lines = (self.partial + text).split("\n")
        self.partial = lines.pop()
        for line in lines:
            self.on_line(line)
        if final and self.partial:
            self.on_line(self.partial)
            self.partial = ""
