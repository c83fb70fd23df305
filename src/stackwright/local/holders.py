"""Who listens on a TCP port of this machine, to name it in an error: the process, and when it
is an HAProxy or daemon Stackwright started, the project directory and environment it runs
for (its files live under ``<project>/.stackwright/run/<env>/``)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

LISTEN = "0A"
_RUN_DIR = re.compile(r"(?P<project>/\S+?)/\.stackwright/run/(?P<env>[^/\s]+)/")


@dataclass(frozen=True)
class Holder:
    pid: int
    command: str
    project_dir: str | None = None
    env: str | None = None

    def describe(self) -> str:
        what = f"{self.command.split()[0].rsplit('/', 1)[-1]} (pid {self.pid})"
        if self.project_dir:
            return f"{what} of environment {self.env} in {self.project_dir}"
        return what


def listening_inodes(port: int, proc: Path = Path("/proc")) -> set[str]:
    """Inodes of the sockets listening on ``port`` (IPv4 and IPv6)."""
    found: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == LISTEN and \
                    int(fields[1].rsplit(":", 1)[1], 16) == port:
                found.add(fields[9])
    return found


def port_holder(port: int, proc: Path = Path("/proc")) -> Holder | None:
    """The process listening on ``port``, or None when it cannot be told (not ours to see)."""
    inodes = {f"socket:[{i}]" for i in listening_inodes(port, proc)}
    if not inodes:
        return None
    for entry in proc.iterdir():
        if entry.name.isdigit() and _holds(entry, inodes):
            return holder_of(int(entry.name), _cmdline(entry))
    return None


def holder_of(pid: int, command: str) -> Holder:
    """A holder, with the project directory and environment its command line names."""
    match = _RUN_DIR.search(command + " ")
    if match is None:
        return Holder(pid, command)
    return Holder(pid, command, match["project"], match["env"])


def _holds(entry: Path, inodes: set[str]) -> bool:
    try:
        return any(os.readlink(fd) in inodes for fd in (entry / "fd").iterdir())
    except OSError:
        return False


def _cmdline(entry: Path) -> str:
    try:
        return (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return "?"
