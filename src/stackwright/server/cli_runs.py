"""Any CLI command run on the daemon for a remote CLI (``POST /api/v1/cli/run``).

The remote CLI (:mod:`stackwright.cli.remote_http`) sends its command line; the daemon checks
the role the command needs in its environment, then runs the very ``stackwright`` command in
the project directory, as a child process with the daemon's own environment, and streams what
it writes back as the CLI socket does (JSON lines ``{"o": text}``, ``{"e": text}``, ending
with ``{"exit": code}``): the same output, colors and exit code as on this machine, live for
``--follow``. The child records the authenticated user as its actor (``STACKWRIGHT_ACTOR``)
in state history and the audit log. A child process, not a thread: a domain's command may
sleep, follow, or end its process, and the daemon must outlive every one of them; the client
going away stops it (SIGINT, as ^C does).

Roles: ``viewer`` for every command that only reads; ``developer`` for changes (run a
pipeline, a backup, a drill, pause a rollout), or ``operator`` in a protected environment
for apply, destroy and import; ``operator`` for approve, promote, abort, undo, restore and
state surgery. Commands not in :data:`ROLES` are refused (``user``, ``token`` and ``init`` run
where the CLI is; ``secrets`` has Vault's API on the daemon).
"""

from __future__ import annotations

import asyncio
import codecs
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

DEPLOY = "deploy"  # developer, or operator in a protected environment
ROLES: dict[str, str] = {
    "status": "viewer", "validate": "viewer", "plan": "viewer", "drift": "viewer",
    "graph": "viewer", "output": "viewer",
    "state list": "viewer", "state show": "viewer", "state history": "viewer",
    "state rm": "operator", "state mv": "operator", "force-unlock": "operator",
    "audit log": "viewer", "audit verify": "viewer",
    "apply": DEPLOY, "destroy": DEPLOY, "import": DEPLOY,
    "rollout status": "viewer", "rollout history": "viewer", "rollout pause": "developer",
    "rollout resume": "developer", "rollout promote": "operator", "rollout abort": "operator",
    "rollout undo": "operator",
    "logs": "viewer", "alerts": "viewer", "slo status": "viewer", "slo rules": "viewer",
    "pipeline list": "viewer", "pipeline show": "viewer", "pipeline logs": "viewer",
    "pipeline artifacts": "viewer", "pipeline validate": "viewer",
    "pipeline run": "developer", "pipeline rerun": "developer", "pipeline cancel": "developer",
    "pipeline approve": "operator",
    "backup list": "viewer", "backup check": "viewer", "backup run": "developer",
    "backup discard": "developer", "backup restore": "operator",
    "drill history": "viewer", "drill run": "developer",
    "policy test": "viewer", "policy library": "viewer", "scan": "viewer", "sbom": "viewer",
    "gitops status": "viewer",
}
# Options that would point the command elsewhere than the daemon's project and state.
REFUSED_OPTIONS = ("-C", "--chdir", "--state")
_VALUED = {"-e", "--env", "-o", "--output", "--color", "--var"}


class CliRefused(Exception):
    """The command line cannot run on the daemon; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str, hint: str) -> None:
        super().__init__(message)
        self.status = status
        self.hint = hint


def command_of(argv: list[str]) -> str:
    """The command's words (``state list``), skipping global options and their values."""
    words: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg.split("=", 1)[0] in _VALUED:
            skip = "=" not in arg
        elif arg.startswith("-"):
            continue
        else:
            words.append(arg)
            if len(words) == 2:
                break
    two = " ".join(words)
    return two if two in ROLES else (words[0] if words else "")


def needed_role(argv: list[str], environment: str, protected: tuple[str, ...]) -> str:
    """The role ``argv`` needs here, or :class:`CliRefused`."""
    from stackwright.server.access.roles import deploy_role

    if any("\x00" in arg for arg in argv):
        raise CliRefused(400, "an argument holds a NUL character", "check the command line")
    for arg in argv:
        name = arg.split("=", 1)[0]
        if name in REFUSED_OPTIONS:
            raise CliRefused(400, f"{name} is not allowed remotely: the daemon runs commands "
                                  "in its own project and state", f"leave out {name}")
        if arg.startswith("/") or ".." in Path(arg.split("=", 1)[-1]).parts:
            raise CliRefused(400, f"{arg!r}: paths outside the project are not allowed "
                                  "remotely", "give a path relative to the project")
    asked = _env_of(argv)
    if asked is not None and asked != environment:
        raise CliRefused(400, f"this daemon serves environment {environment!r}, not "
                              f"{asked!r}", f"use the daemon of {asked!r}, or leave out --env")
    command = command_of(argv)
    role = ROLES.get(command)
    if role is None:
        raise CliRefused(400, f"{command or 'an empty command'!r} does not run on the daemon",
                         "run it where the CLI is (unset STACKWRIGHT_ADDR); remotely: "
                         + ", ".join(sorted({c.split()[0] for c in ROLES})))
    return deploy_role(environment, protected) if role == DEPLOY else role


def _env_of(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if name in ("-e", "--env"):
            return value if eq else (argv[i + 1] if i + 1 < len(argv) else "")
    return None


def child_argv(root: Path, environment: str, argv: list[str], color: str) -> list[str]:
    return [sys.executable, "-m", "stackwright", "-C", str(root), "--env", environment,
            "--color", color, *argv]


def child_environ(actor: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("STACKWRIGHT_ADDR", "STACKWRIGHT_TOKEN", "STACKWRIGHT_ACTOR")}
    env.update(STACKWRIGHT_ACTOR=actor, STACKWRIGHT_NO_DAEMON="1", PYTHONUNBUFFERED="1")
    return env


async def stream_command(argv: list[str], env: dict[str, str], cwd: Path
                         ) -> AsyncIterator[bytes]:
    """The child's output as JSON lines, ending with its exit code. Stopping the iteration
    (the client went away) interrupts the child as ^C would, then ends it."""
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=str(cwd), env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        start_new_session=True)
    queue: asyncio.Queue[tuple[str, str] | None] = asyncio.Queue()
    assert proc.stdout is not None and proc.stderr is not None
    readers = [asyncio.create_task(_pump(proc.stdout, "o", queue)),
               asyncio.create_task(_pump(proc.stderr, "e", queue))]
    try:
        open_streams = 2
        while open_streams:
            item = await queue.get()
            if item is None:
                open_streams -= 1
                continue
            yield json.dumps({item[0]: item[1]}).encode() + b"\n"
        code = await proc.wait()
        yield json.dumps({"exit": code}).encode() + b"\n"
    finally:
        for task in readers:
            task.cancel()
        if proc.returncode is None:
            await _interrupt(proc)


async def _pump(stream: asyncio.StreamReader, which: str,
                queue: asyncio.Queue[tuple[str, str] | None]) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    try:
        while chunk := await stream.read(65536):
            text = decoder.decode(chunk)
            if text:
                await queue.put((which, text))
    finally:
        await queue.put(None)


async def _interrupt(proc: asyncio.subprocess.Process) -> None:
    for sig, wait in ((signal.SIGINT, 10.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            await asyncio.wait_for(proc.wait(), wait)
            return
        except TimeoutError:
            continue
