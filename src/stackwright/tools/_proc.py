"""Running a tool's CLI and translating its failures into Stackwright's error tree."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from stackwright.errors import PermanentError, TemporaryError

LineSink = Callable[[str], None]


@dataclass(frozen=True)
class Completed:
    """A finished command: its argv, exit code and captured output."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class ToolError(PermanentError):
    """A tool exited non-zero; ``stderr`` holds what it said."""

    def __init__(
        self, message: str, *, argv: Sequence[str] = (), stderr: str = "", hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.argv = tuple(argv)
        self.stderr = stderr


class NotFoundError(ToolError):
    """The object a command named (image, network, container, volume, file) does not exist."""


class PortInUseError(ToolError):
    """A port to publish or bind is already taken on the host."""

    def __init__(
        self, message: str, *, port: int, argv: Sequence[str] = (), stderr: str = "",
        hint: str | None = None,
    ) -> None:
        super().__init__(message, argv=argv, stderr=stderr, hint=hint)
        self.port = port


class NameInUseError(ToolError):
    """A container (or other object) of that name already exists."""


class ToolTimeoutError(TemporaryError):
    """A tool did not finish in time."""


def tool_env(extra: Mapping[str, str]) -> dict[str, str]:
    return {**os.environ, **extra}


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    input_text: str | None = None,
) -> Completed:
    """Run ``argv`` to completion and capture its output; never raises on a non-zero exit."""
    try:
        proc = subprocess.run(
            list(argv), capture_output=True, text=True, env=tool_env(env or {}),
            timeout=timeout, input=input_text, check=False,
        )
    except FileNotFoundError as exc:
        raise ToolError(f"{argv[0]} is not installed", argv=argv,
                        hint=f"install it or configure its path ({exc})") from exc
    except subprocess.TimeoutExpired as exc:
        raise ToolTimeoutError(f"{' '.join(argv[:3])} timed out after {timeout}s",
                               delay=5.0) from exc
    return Completed(tuple(argv), proc.returncode, proc.stdout, proc.stderr)


def stream(
    argv: Sequence[str],
    on_line: LineSink,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Completed:
    """Run ``argv``, passing each output line (stdout and stderr merged) to ``on_line``."""
    lines: list[str] = []
    try:
        with subprocess.Popen(
            list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=tool_env(env or {}), cwd=cwd, bufsize=1,
        ) as proc:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.rstrip("\n")
                lines.append(line)
                on_line(line)
            code = proc.wait()
    except FileNotFoundError as exc:
        raise ToolError(f"{argv[0]} is not installed", argv=argv,
                        hint=f"install it or configure its path ({exc})") from exc
    return Completed(tuple(argv), code, "\n".join(lines), "\n".join(lines[-30:]))


def tail(text: str, lines: int = 12) -> str:
    """The last lines of a tool's output, without the noise podman logs when systemd is absent."""
    kept = [
        ln for ln in text.strip().splitlines()
        if ln.strip() and "systemd" not in ln and "connect to syslog" not in ln
    ]
    return "\n".join(kept[-lines:])
