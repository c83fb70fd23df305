"""Hand ``apply`` and ``destroy`` to the project's running daemon.

When ``stackwright up`` runs a daemon for the project and environment, an ``apply --yes`` (or
``destroy --yes``, or ``apply PLANFILE``) is run by the daemon, whose interpreter has
everything imported and warm, instead of by a new process that first spends most of a second
importing. The CLI then only parses its arguments, sends one request over the daemon's unix
socket and prints what comes back: the same text, colors, JSON and exit code as when it runs
the command itself.

The CLI runs the command itself (this module returns None) whenever the hand-off could change
what happens: no daemon, a daemon of another directory, environment or state database,
``STACKWRIGHT_*``/``VAULT_*`` variables that differ from the daemon's (it runs with its own
environment), a command line this parser does not fully understand (``--help``, a
confirmation prompt, anything unknown), or ``STACKWRIGHT_NO_DAEMON=1``.

Only the standard library's ``json``, ``os``, ``socket`` and ``hashlib`` are imported here, so
that the hand-off costs milliseconds. Protocol: one JSON request line; JSON reply lines
``{"o": text}`` (stdout), ``{"e": text}`` (stderr), ending with ``{"exit": code}``, or a single
``{"refused": reason}`` when the daemon will not run it (then the CLI runs it itself).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
from typing import Any

PROTOCOL = 1
OPT_OUT_ENV = "STACKWRIGHT_NO_DAEMON"
_ENV_PREFIXES = ("STACKWRIGHT_", "VAULT_")
_GLOBAL = {"-C": "chdir", "--chdir": "chdir", "--env": "environment", "-e": "environment",
           "--state": "state", "--var": "var", "--output": "output", "-o": "output",
           "--color": "color"}


def environ_digest(environ: Any) -> str:
    """A digest of the variables Stackwright reads (``STACKWRIGHT_*``, ``VAULT_*``), so that a
    daemon started with other values never runs a command meant for these."""
    pairs = sorted((k, v) for k, v in environ.items()
                   if k.startswith(_ENV_PREFIXES) and k != OPT_OUT_ENV)
    return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()


def parse(argv: list[str]) -> dict[str, Any] | None:
    """The request for ``argv``, or None when it is not a command the daemon may run."""
    req: dict[str, Any] = {"v": PROTOCOL, "command": None, "chdir": ".", "environment": None,
                           "state": None, "variables": {}, "output": "text", "color": "auto",
                           "yes": False, "plan_file": None, "parallelism": 10,
                           "lock_timeout": 0.0, "refresh": True, "no_wait": False}
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, inline = arg.partition("=")
        if name in _GLOBAL or (req["command"] and name in ("--parallelism", "--lock-timeout")):
            if eq:
                value = inline
            elif i + 1 < len(argv):
                i += 1
                value = argv[i]
            else:
                return None
            if not _set_option(req, name, value):
                return None
        elif arg in ("apply", "destroy") and req["command"] is None:
            req["command"] = arg
        elif arg in ("--yes", "-y") and req["command"]:
            req["yes"] = True
        elif arg in ("--refresh", "--no-refresh") and req["command"] == "apply":
            req["refresh"] = arg == "--refresh"
        elif arg == "--no-wait" and req["command"] == "apply":
            req["no_wait"] = True
        elif (req["command"] == "apply" and req["plan_file"] is None and arg
              and not arg.startswith("-")):
            req["plan_file"] = arg
        else:
            return None  # --help, --, an option this parser does not know: the full CLI
        i += 1
    if req["command"] is None or not (req["yes"] or req["plan_file"]):
        return None  # nothing to hand off, or a confirmation prompt
    if req["output"] not in ("text", "json") or req["color"] not in ("auto", "always", "never"):
        return None  # the full CLI explains the mistake
    return req


def _set_option(req: dict[str, Any], name: str, value: str) -> bool:
    if name == "--parallelism":
        if not value.isdigit() or int(value) < 1:
            return False
        req["parallelism"] = int(value)
    elif name == "--lock-timeout":
        try:
            req["lock_timeout"] = float(value)
        except ValueError:
            return False
        return bool(req["lock_timeout"] >= 0)
    elif _GLOBAL[name] == "var":
        key, sep, val = value.partition("=")
        if not sep:
            return False
        req["variables"][key] = val
    elif _GLOBAL[name] == "output":
        req["output"] = value.lower()
    else:
        req[_GLOBAL[name]] = value
    return True


def daemon_socket(root: str, environment: str | None) -> list[str]:
    """The CLI sockets of live daemons of the project at ``root`` (for ``environment``, or of
    every environment when none is named: the daemon says whether it is the default one)."""
    run = os.path.join(root, ".stackwright", "run")
    try:
        envs = [environment] if environment else sorted(os.listdir(run))
    except OSError:
        return []
    found = []
    for env in envs:
        try:
            with open(os.path.join(run, env, "daemon.json")) as handle:
                info = json.load(handle)
            pid, path = int(info["pid"]), str(info["cli_socket"])
            os.kill(pid, 0)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        found.append(path)
    return found


def try_run(argv: list[str], environ: Any = None) -> int | None:
    """Run ``argv`` through the daemon and return its exit code; None to run it here."""
    environ = os.environ if environ is None else environ
    if environ.get(OPT_OUT_ENV, "") not in ("", "0"):
        return None
    req = parse(argv)
    if req is None:
        return None
    root = os.path.realpath(req.pop("chdir"))
    if req["state"] is None and environ.get("STACKWRIGHT_STATE"):
        req["state"] = environ["STACKWRIGHT_STATE"]
    req.update(root=root, environ=environ_digest(environ),
               color=_resolve_color(req["color"], environ))
    for path in daemon_socket(root, req["environment"]):
        code = _send(path, req)
        if code is not None:
            return code
    return None


def _resolve_color(color: str, environ: Any) -> str:
    if color != "auto":
        return color
    tty = sys.stdout.isatty()
    return "always" if tty and "NO_COLOR" not in environ else "never"


def _send(path: str, req: dict[str, Any]) -> int | None:
    try:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(path)
    except OSError:
        return None
    seen = {"started": False}  # once the daemon has begun, never run the command here too
    try:
        conn.sendall(json.dumps(req).encode() + b"\n")
        replies = conn.makefile("rb")
        try:
            return _follow(replies, seen)
        except KeyboardInterrupt:
            # As the CLI itself does: no further action starts, those in flight finish and
            # are recorded. Shutting our side down tells the daemon; ^C again stops waiting.
            conn.shutdown(socket.SHUT_WR)
            sys.stderr.write("\nInterrupted: no further action starts; waiting for those in "
                             "flight (^C again to stop waiting)...\n")
            try:
                return _follow(replies, seen)
            except KeyboardInterrupt:
                return 130
    except (OSError, ValueError):
        if not seen["started"]:
            return None
    finally:
        conn.close()
    sys.stderr.write("Error: the daemon stopped answering during the run; its outcome is in "
                     "`stackwright state history` and the daemon's log.\n")
    return 1


def _follow(replies: Any, seen: dict[str, bool]) -> int | None:
    """Print the daemon's replies until its exit code. None for a refusal before any output
    (the CLI then runs the command itself)."""
    for line in replies:
        msg = json.loads(line)
        if "refused" in msg and not seen["started"]:
            return None
        seen["started"] = True
        if "o" in msg:
            sys.stdout.write(msg["o"])
            sys.stdout.flush()
        elif "e" in msg:
            sys.stderr.write(msg["e"])
            sys.stderr.flush()
        elif "exit" in msg:
            return int(msg["exit"])
    raise OSError("the daemon closed the connection")
