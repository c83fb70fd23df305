"""The CLI against a remote daemon: with ``STACKWRIGHT_ADDR`` (the daemon's API, e.g.
``https://platform.example:8443``) and ``STACKWRIGHT_TOKEN`` set, project commands run on that
daemon, which prints exactly what the CLI prints here (it runs the same code) and gives the
same exit code. The token's role decides what is allowed, as for any API client.
Standard library only, like :mod:`.remote`.

``validate`` and ``plan`` use ``GET /api/v1/cli/{command}``; ``apply --yes`` and
``destroy --yes`` start an operation and follow its events; every other command (``status``,
``drift``, ``state …``, ``audit …``, the domains' ``rollout``, ``logs``, ``slo``,
``alerts``, ``pipeline``, ``backup``, ``drill``, ``policy``, ``scan``…) goes to
``POST /api/v1/cli/run`` (:mod:`stackwright.server.cli_runs`), whose output streams as it
is written, so ``--follow`` follows. ``--help``, ``version``, ``init``, ``user``, ``token``
and ``gitops`` (a client of the API itself) run here. ``STACKWRIGHT_CA`` names a CA bundle
to verify an HTTPS daemon with.
"""

from __future__ import annotations

import json
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

LOCAL_ONLY = {"--help", "-h", "version", "init", "user", "token", "--install-completion",
              "--show-completion", "schema", "gitops"}


def try_remote(argv: list[str], environ: Any) -> int | None:
    """Run ``argv`` on the daemon at ``STACKWRIGHT_ADDR``; None when it is not set or the
    command runs locally anyway."""
    addr = environ.get("STACKWRIGHT_ADDR", "").rstrip("/")
    if not addr or not argv or any(a in LOCAL_ONLY for a in argv):
        return None
    from stackwright.cli import quick, remote

    client = Client(addr, environ.get("STACKWRIGHT_TOKEN", ""), environ.get("STACKWRIGHT_CA"))
    read = quick.parse(argv, {})
    if read is not None:
        return _read_only(client, read)
    change = remote.parse(argv)
    if change is not None:
        return _operation(client, change)
    words = [a for a in argv if not a.startswith("-")]
    if words[:1] in (["apply"], ["destroy"]) and not any(a in ("--yes", "-y") for a in argv):
        sys.stderr.write("Error: a remote apply or destroy cannot ask for confirmation: "
                         "review `stackwright plan`, then add --yes\n")
        return 1
    return _run_there(client, argv)


def _run_there(client: Client, argv: list[str]) -> int:
    """Any other command, run by the daemon; its output printed as it streams."""
    color = _color(_option(argv, "--color") or "auto")
    argv = _without(argv, "--color")  # decided here, where the terminal is
    try:
        with client._open("POST", "/api/v1/cli/run", {"argv": argv, "color": color}) as resp:
            for raw in resp:
                msg = json.loads(raw)
                if "exit" in msg:
                    return int(msg["exit"])
                stream = sys.stdout if "o" in msg else sys.stderr
                stream.write(msg.get("o", msg.get("e", "")))
                stream.flush()
    except urllib.error.HTTPError as exc:
        _refused(exc)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        sys.stderr.write(f"Error: cannot reach the daemon at {client.addr}: {exc} "
                         "(check STACKWRIGHT_ADDR)\n")
        return 1
    except KeyboardInterrupt:
        return 130  # closing the connection interrupts the command on the daemon
    sys.stderr.write("Error: the daemon stopped streaming; its outcome is in its log\n")
    return 1


def _without(argv: list[str], name: str) -> list[str]:
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(name + "="):
            out.append(arg)
    return out


def _option(argv: list[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _color(asked: str) -> str:
    if asked in ("always", "never"):
        return asked
    return "always" if sys.stdout.isatty() else "never"


def _read_only(client: Client, req: dict[str, Any]) -> int:
    params = {"output": req["output"], "color": _color(req["color"]),
              "destroy": str(req["destroy"]).lower(), "refresh": str(req["refresh"]).lower(),
              "detailed_exitcode": str(req["detailed"]).lower()}
    doc = client.call("GET", f"/api/v1/cli/{req['command']}?{urllib.parse.urlencode(params)}")
    if doc is None:
        return 1
    sys.stdout.write(doc["stdout"])
    sys.stderr.write(doc["stderr"])
    return int(doc["exit_code"])


def _operation(client: Client, req: dict[str, Any]) -> int:
    if req.get("plan_file"):
        sys.stderr.write("Error: a saved plan file applies on the machine it was saved on; "
                         "remotely, save plans with POST /api/v1/plans\n")
        return 1
    op = client.call("POST", "/api/v1/operations", {
        "action": req["command"], "output": req["output"],
        "parallelism": req["parallelism"], "lock_timeout": req["lock_timeout"]})
    if op is None:
        return 1
    return client.follow(op["links"]["events"])


class Client:
    def __init__(self, addr: str, token: str, ca: str | None) -> None:
        self.addr = addr
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.context = ssl.create_default_context(cafile=ca) if ca else None

    def _open(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        headers = {**self.headers, **({"Content-Type": "application/json"} if data else {})}
        request = urllib.request.Request(self.addr + path, data=data, method=method,
                                         headers=headers)
        return urllib.request.urlopen(request, timeout=600, context=self.context)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """The JSON answer, or None after printing why the daemon refused."""
        try:
            with self._open(method, path, body) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            _refused(exc)
        except (urllib.error.URLError, OSError) as exc:
            sys.stderr.write(f"Error: cannot reach the daemon at {self.addr}: {exc} "
                             "(check STACKWRIGHT_ADDR)\n")
        return None

    def follow(self, path: str) -> int:
        """Print an operation's output as it streams; its exit code."""
        try:
            with self._open("GET", path) as resp:
                for raw in resp:
                    line = raw.decode()
                    if not line.startswith("data: "):
                        continue
                    event = json.loads(line[6:])
                    if event["type"] == "output":
                        stream = sys.stdout if event["stream"] == "stdout" else sys.stderr
                        stream.write(event["text"])
                        stream.flush()
                    elif event["type"] == "done":
                        return int(event["exit_code"])
        except urllib.error.HTTPError as exc:
            _refused(exc)
            return 1
        sys.stderr.write("Error: the daemon stopped streaming; see `state history` there\n")
        return 1


def _refused(exc: urllib.error.HTTPError) -> None:
    try:
        doc = json.loads(exc.read())
    except ValueError:
        doc = {}
    message = doc.get("error") or doc.get("detail") or exc.reason
    hint = doc.get("hint")
    sys.stderr.write(f"Error: the daemon refused ({exc.code}): {message}"
                     + (f" ({hint})" if hint else "") + "\n")
