"""Thin wrappers around Prometheus' tools: ``promtool`` (check rules, check config, test
rules), ``amtool`` (check-config), and the ``prometheus`` / ``alertmanager`` /
``node_exporter`` servers started with explicit flags on 127.0.0.1 (Debian's packages do
not start by themselves here). Reloads go through HTTP (``POST /-/reload``), never a restart.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackwright.tools._proc import ToolError, run, tail

PROMTOOL = "promtool"
AMTOOL = "amtool"
PROMETHEUS = "prometheus"
ALERTMANAGER = "prometheus-alertmanager"
NODE_EXPORTER = "prometheus-node-exporter"


@dataclass(frozen=True)
class CheckResult:
    """What a check said: ok, and its output (errors name file:line of the checked file)."""

    ok: bool
    output: str


def check_rules(paths: Sequence[Path], *, binary: str = PROMTOOL) -> CheckResult:
    """``promtool check rules`` on rule files (PromQL is parsed, names and labels checked)."""
    done = run([binary, "check", "rules", *map(str, paths)], timeout=120)
    return CheckResult(done.returncode == 0, (done.stdout + done.stderr).strip())


def check_config(path: Path, *, binary: str = PROMTOOL) -> CheckResult:
    """``promtool check config`` (its rule files and scrape configs included)."""
    done = run([binary, "check", "config", str(path)], timeout=120)
    return CheckResult(done.returncode == 0, (done.stdout + done.stderr).strip())


def test_rules(path: Path, *, binary: str = PROMTOOL) -> CheckResult:
    """``promtool test rules``: a unit-test file of input series and expected alerts."""
    done = run([binary, "test", "rules", str(path)], timeout=600)
    return CheckResult(done.returncode == 0, (done.stdout + done.stderr).strip())


def check_alertmanager_config(path: Path, *, binary: str = AMTOOL) -> CheckResult:
    """``amtool check-config`` on an Alertmanager configuration."""
    done = run([binary, "check-config", str(path)], timeout=120)
    return CheckResult(done.returncode == 0, (done.stdout + done.stderr).strip())


def http_get(url: str, *, timeout: float = 5.0) -> tuple[int, bytes]:
    """(status, body) of a GET; (0, b"") when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (loopback)
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def http_post(url: str, *, timeout: float = 10.0, json_body: Any = None) -> tuple[int, bytes]:
    """(status, body) of a POST (of ``json_body`` as JSON, if given); (0, b"") when nothing
    answers."""
    data = b"" if json_body is None else json.dumps(json_body).encode()
    headers = {} if json_body is None else {"Content-Type": "application/json"}
    req = urllib.request.Request(url, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (loopback)
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


@dataclass
class ServerProcess:
    """One of Prometheus' servers, run in the background with its output in ``log_path``.

    ``ready_path`` is the URL path that answers 200 once it serves (``/-/ready``)."""

    name: str
    argv: tuple[str, ...]
    url: str
    log_path: Path
    ready_path: str = "/-/ready"
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def pid_file(self) -> Path:
        return self.log_path.with_name(self.log_path.name + ".pid")

    def start(self, *, timeout: float = 60.0, cancel: threading.Event | None = None) -> None:
        """Start the server (after stopping one a killed daemon left on the same files)
        and wait until it is ready. It gets SIGTERM if the thread that started it dies."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        with open(self.log_path, "ab") as log:
            try:
                self.proc = subprocess.Popen(list(self.argv), stdout=log,
                                             stderr=subprocess.STDOUT,
                                             start_new_session=True,
                                             preexec_fn=_die_with_parent())
            except FileNotFoundError as exc:
                raise ToolError(f"{self.argv[0]} is not installed", argv=self.argv,
                                hint="make setup installs Prometheus' Debian packages") from exc
        self.pid_file.write_text(str(self.proc.pid))
        self.wait_ready(timeout, cancel)

    def _stop_leftover(self) -> None:
        try:
            pid = int(self.pid_file.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return
        if self.argv[1].encode() in cmdline:  # its config file: the same server, not a reuse
            os.kill(pid, signal.SIGKILL)

    def wait_ready(self, timeout: float, cancel: threading.Event | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not (cancel is not None and cancel.is_set()):
            if self.proc is not None and self.proc.poll() is not None:
                raise ToolError(f"{self.name} exited with {self.proc.returncode} at start",
                                argv=self.argv, stderr=self.log_tail(),
                                hint=f"its log: {self.log_path}\n{self.log_tail()}")
            if http_get(self.url + self.ready_path, timeout=2.0)[0] == 200:
                return
            time.sleep(0.1)
        if cancel is not None and cancel.is_set():
            return
        raise ToolError(f"{self.name} did not become ready in {timeout:.0f}s", argv=self.argv,
                        hint=f"its log: {self.log_path}")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def reload(self) -> None:
        """``POST /-/reload`` (the server re-reads its config file; no restart)."""
        status, body = http_post(self.url + "/-/reload")
        if status != 200:
            raise ToolError(f"{self.name} refused to reload ({status})",
                            stderr=body.decode(errors="replace"),
                            hint=f"its log: {self.log_path}")

    def stop(self, *, timeout: float = 8.0) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)
        self.pid_file.unlink(missing_ok=True)

    def log_tail(self) -> str:
        try:
            return tail(self.log_path.read_text(errors="replace"))
        except OSError:
            return ""


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec function asking Linux to SIGTERM the child when its parent thread dies
    (``PR_SET_PDEATHSIG``), so a killed daemon leaves no server behind; None elsewhere."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return None
    pr_set_pdeathsig = 1

    def preexec() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)

    return preexec


def prometheus_server(config: Path, data: Path, port: int, log: Path,
                      *, binary: str = PROMETHEUS, retention: str = "15d") -> ServerProcess:
    url = f"http://127.0.0.1:{port}"
    argv = (binary, f"--config.file={config}", f"--storage.tsdb.path={data}",
            f"--storage.tsdb.retention.time={retention}",
            f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle",
            f"--web.external-url={url}")
    return ServerProcess("prometheus", argv, url, log)


def alertmanager_server(config: Path, data: Path, port: int, log: Path,
                        *, binary: str = ALERTMANAGER) -> ServerProcess:
    url = f"http://127.0.0.1:{port}"
    # No cluster: a lone Alertmanager must not wait for peers nor bind a gossip port.
    argv = (binary, f"--config.file={config}", f"--storage.path={data}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
            f"--web.external-url={url}")
    return ServerProcess("alertmanager", argv, url, log)


def node_exporter_server(port: int, log: Path, *, binary: str = NODE_EXPORTER) -> ServerProcess:
    argv = (binary, f"--web.listen-address=127.0.0.1:{port}")
    return ServerProcess("node_exporter", argv, f"http://127.0.0.1:{port}", log,
                         ready_path="/metrics")
