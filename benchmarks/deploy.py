"""Deploying services on podman + HAProxy: start, rolling update, repair, against floors.

Three phases on one temp project (a short path under /tmp: HAProxy's unix sockets live there),
driven through the CLI as a user runs it (``stackwright apply --yes`` in a subprocess):

1. **start**: from ``apply`` to every replica answering through the LoadBalancer (each
   replica reports its own id at ``/id``, so "serving" means all N ids came back through
   HAProxy; polled from the start every 20 ms, and the service health-checks its replicas
   every 20 ms too), against the floor: the same containers started by hand, ``podman run -d`` in
   parallel with the same image, ports, runtime and ulimits, plus each one's first passing
   HTTP health check (polled every 20 ms). Two ways of running apply: as after
   ``stackwright up`` (the project's daemon runs, and the CLI hands the apply to it), and
   with no daemon (``STACKWRIGHT_NO_DAEMON=1``: the CLI process imports everything and runs
   it itself). All three are timed in rotating order in the same run, ``--repeat`` times
   each; medians are compared. Target: apply <= 1.5x the floor (judged on the daemon mode,
   the platform's normal one; the other ratio is reported beside it).
2. **rollout**: image v1 -> v2 while an open-loop generator sends ``--rate`` requests a
   second to the LoadBalancer, each on a new connection, on a fixed schedule (a slow answer
   never delays the next request; latency counts from the scheduled time). Target: zero
   failed requests. With ``wrk`` installed, a second rollout (v2 -> v1) runs under wrk
   (keep-alive connections paced by a Lua ``delay()`` to about the same rate) as a cross-check.
3. **repair**: with the platform daemon running (``stackwright server``), one replica is
   removed with ``podman rm -f`` (``--repeat`` times); timed until the LoadBalancer again
   answers with N replica ids, none of them the removed one, while a light load (20 req/s)
   counts failed requests. Skipped (``null``) when the daemon runs no ``services`` controller.

The load generators are in ``_loadgen.py``.

    python benchmarks/deploy.py                      # 3 replicas, 200 req/s, 5 repeats
    python benchmarks/deploy.py --replicas 5 --rate 400 --duration 30
    python benchmarks/deploy.py --quick              # smoke test

Progress goes to stderr; a table to stdout, whose last line is one JSON object.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _harness import (
    REPO_ROOT,
    Timing,
    emit_result,
    find_executable,
    format_table,
    free_port,
    log,
    machine,
    ratio,
    run_timed,
    seconds,
)
from _loadgen import OpenLoop, Wrk, overlap, slowest, summarize

IMAGE_REPO = "localhost/stackwright/bench-deploy"
PORT = 8080
PODMAN_GLOBAL = ("--runtime", "runc")
PODMAN_RUN = ("--ulimit", "nofile=16384:16384", "--ulimit", "nproc=16384:16384")
BENCH_LABEL = "dev.stackwright.bench"
APPLY_RATIO_MAX = 1.5
FLOOR_POLL_S = 0.02
READY_POLL_S = 0.05
READY_TIMEOUT_S = 120.0
WARMUP_S = 1.0
REPAIR_RATE = 20.0
CLI_TIMEOUT_S = 600.0

CONTAINERFILE = """\
FROM {base}
RUN mkdir -p /www && echo {version} > /www/index.html && echo ok > /www/healthz
CMD ["/bin/sh", "-c", "hostname > /www/id && exec httpd -f -p 8080 -h /www"]
"""

SPEC = """\
apiVersion: stackwright.dev/v1
kind: Service
metadata: {{name: web}}
spec:
  image: {image}
  ports: [8080]
  replicas: {replicas}
  healthCheck: {{http: /healthz, interval: {interval}}}
---
apiVersion: stackwright.dev/v1
kind: LoadBalancer
metadata: {{name: edge}}
spec:
  http:
    port: {lb}
    routes: [{{service: "${{{{ Service.web.id }}}}", port: 8080}}]
"""


class BenchError(Exception):
    """A phase could not be measured (a command failed, something never became ready)."""


# --- small helpers ---------------------------------------------------------------------------


def http_get(port: int, path: str, timeout: float = 1.0) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace").strip()
    finally:
        conn.close()


def answers(port: int, path: str, count: int) -> set[str]:
    """Bodies of the 200 answers to ``count`` requests in a row (failures ignored)."""
    seen: set[str] = set()
    for _ in range(count):
        try:
            status, body = http_get(port, path)
        except (OSError, http.client.HTTPException):
            continue
        if status == 200:
            seen.add(body)
    return seen


def wait_until(check: Callable[[], bool], timeout: float, poll: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(poll)
    return False


def podman(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *PODMAN_GLOBAL, *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def median(values: Sequence[float]) -> float | None:
    return seconds(statistics.median(values)) if values else None


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --- images -----------------------------------------------------------------------------------


def build_images(work: Path) -> dict[str, str]:
    """v1 and v2 of a busybox httpd app (``/``: its version, ``/id``: its hostname, ``/healthz``),
    tagged by content hash, so an unchanged recipe is never rebuilt."""
    try:
        from stackwright.tools.images import app_image, busybox_rootfs_image
        from stackwright.tools.podman import Podman, PodmanSettings
    except ImportError as exc:
        raise SystemExit(f"run with the project's venv (.venv/bin/python): {exc}") from exc
    tool = Podman(PodmanSettings())
    base = busybox_rootfs_image(tool)
    refs = {}
    for version in ("v1", "v2"):
        ctx = work / version
        ctx.mkdir(parents=True)
        (ctx / "Containerfile").write_text(CONTAINERFILE.format(base=base.ref, version=version))
        refs[version] = app_image(tool, IMAGE_REPO, ctx).ref
    return refs


# --- the project, driven through the CLI -----------------------------------------------------


@dataclass
class Project:
    root: Path
    name: str
    binary: str
    lb_port: int
    env: dict[str, str]

    @classmethod
    def create(cls, root: Path, binary: str) -> Project:
        name = f"b{uuid.uuid4().hex[:6]}"
        (root / "stackwright.yaml").write_text(f"project: {name}\nenvironments: {{dev: {{}}}}\n")
        env = {**os.environ, "STACKWRIGHT_KEY_DIR": str(root.parent / f"{root.name}-keys"),
               "NO_COLOR": "1", "STACKWRIGHT_NO_DAEMON": "1"}
        return cls(root, name, binary, free_port(), env)

    def write(self, image: str, replicas: int) -> None:
        # The service checks its replicas as often as the floor polls its containers
        # (FLOOR_POLL_S), so both sides see the first passing check equally soon.
        text = SPEC.format(image=image, replicas=replicas, lb=self.lb_port,
                           interval=f"{round(FLOOR_POLL_S * 1000)}ms")
        (self.root / "services.yaml").write_text(text)

    def cli(self, *args: str, via_daemon: bool = False) -> Timing:
        """Run the CLI; unless ``via_daemon``, it runs the command itself even when a daemon
        runs for the project (STACKWRIGHT_NO_DAEMON=1)."""
        env = {**self.env, "STACKWRIGHT_NO_DAEMON": "0" if via_daemon else "1"}
        timing = run_timed([self.binary, "-C", str(self.root), *args], env=env,
                           timeout=CLI_TIMEOUT_S)
        if timing.returncode != 0:
            raise BenchError(f"stackwright {args[0]}: {timing.describe_failure()}")
        return timing

    def running(self) -> dict[str, str]:
        """Running replicas: short container id (= the hostname /id reports) -> name."""
        done = podman("ps", "--filter", f"label=dev.stackwright.project={self.name}",
                      "--filter", "label=dev.stackwright.service", "--format",
                      "{{.ID}} {{.Names}}")
        pairs = (line.split() for line in done.stdout.splitlines() if line.strip())
        return {cid: name for cid, name in pairs}

    def ids(self, replicas: int) -> set[str]:
        """Replica ids answering through HAProxy (round robin: 3 rounds of requests)."""
        return answers(self.lb_port, "/id", 3 * replicas)

    def verify(self, replicas: int, version: str | None = None) -> None:
        """Every running replica (and only those) answers through HAProxy, with ``version``."""
        running = self.running()
        seen = self.ids(replicas)
        if len(running) != replicas or seen != set(running):
            raise BenchError(f"expected {replicas} replicas serving; running {sorted(running)}, "
                             f"answering through haproxy {sorted(seen)}")
        pages = answers(self.lb_port, "/", 2 * replicas)
        if version is not None and pages != {version}:
            raise BenchError(f"expected only {version} through haproxy, got {sorted(pages)}")

    def deploy(self, image: str, replicas: int, version: str) -> None:
        """Apply (untimed) and wait until every replica serves ``version``."""
        self.write(image, replicas)
        self.cli("apply", "--yes")
        wait_until(lambda: len(self.ids(replicas)) == replicas, READY_TIMEOUT_S, READY_POLL_S)
        self.verify(replicas, version)


# --- phase 1: apply vs the floor ----------------------------------------------------------------


def floor_once(image: str, replicas: int, run_id: str) -> float:
    """``podman run -d`` of every replica in parallel, each until its /healthz answers 200."""
    names = [f"swbench-{run_id}-floor-{i}" for i in range(1, replicas + 1)]
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=replicas) as pool:
            list(pool.map(lambda name: _start_checked(image, name, run_id), names))
        return time.monotonic() - started
    finally:
        podman("rm", "--force", "--ignore", "--time", "0", *names)


def _start_checked(image: str, name: str, run_id: str) -> None:
    port = free_port()
    done = podman("run", "-d", "--pull", "never", "--name", name, *PODMAN_RUN,
                  "--publish", f"127.0.0.1:{port}:{PORT}", "--label", f"{BENCH_LABEL}={run_id}",
                  "--restart", "on-failure", "--init", image)
    if done.returncode != 0:
        raise BenchError(f"podman run {name}: {done.stderr.strip()[-400:]}")
    if not wait_until(lambda: _healthy(port), READY_TIMEOUT_S, FLOOR_POLL_S):
        raise BenchError(f"{name} never answered /healthz on 127.0.0.1:{port}")


def _healthy(port: int) -> bool:
    try:
        return http_get(port, "/healthz", timeout=1.0)[0] == 200
    except (OSError, http.client.HTTPException):
        return False


def apply_once(project: Project, image: str, replicas: int, via_daemon: bool = False
               ) -> tuple[float, float]:
    """Seconds from ``apply`` to all replicas answering through HAProxy, and to apply's exit.

    HAProxy is polled from the start, every FLOOR_POLL_S as the floor polls its containers,
    so "serving" is the moment it happens, which may come before the command exits."""
    project.write(image, replicas)
    serving: list[float] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            if len(project.ids(replicas)) == replicas:
                serving.append(time.monotonic() - started)
                return
            time.sleep(FLOOR_POLL_S)

    started = time.monotonic()
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        project.cli("apply", "--yes", via_daemon=via_daemon)
        exited = time.monotonic() - started
        poller.join(READY_TIMEOUT_S)
    finally:
        stop.set()
    if not serving:
        raise BenchError(f"apply finished but not {replicas} replicas answer through haproxy")
    project.verify(replicas, "v1")
    return serving[0], exited


def measure_start(project: Project, image: str, args: argparse.Namespace, run_id: str,
                  work: Path) -> dict[str, Any]:
    floor: list[float] = []
    times: dict[bool, tuple[list[float], list[float]]] = {True: ([], []), False: ([], [])}

    def run_floor() -> None:
        floor.append(floor_once(image, args.replicas, run_id))
        log(f"[start] floor              {floor[-1]:7.3f}s")

    def run_apply(via_daemon: bool) -> None:
        serving, exited = apply_once(project, image, args.replicas, via_daemon)
        times[via_daemon][0].append(serving)
        times[via_daemon][1].append(exited)
        how = "through the daemon" if via_daemon else "without a daemon"
        log(f"[start] apply {how:18} {serving:7.3f}s to serving (the command took "
            f"{exited:.3f}s)")
        project.cli("destroy", "--yes", via_daemon=via_daemon)
        if project.running():
            raise BenchError(f"destroy left replicas running: {sorted(project.running())}")

    steps = [run_floor, lambda: run_apply(True), lambda: run_apply(False)]
    daemon = Daemon(project, work)
    daemon.start()
    try:
        # As after `stackwright up`, which applies once as it starts the daemon: the daemon
        # has loaded the kinds (its warm-up) and run one apply before the timed ones.
        if not wait_until(lambda: bool(daemon.events("daemon.warmed_up")), 60, 0.1):
            raise BenchError("the daemon never finished its warm-up")
        apply_once(project, image, args.replicas, via_daemon=True)
        project.cli("destroy", "--yes", via_daemon=True)
        for i in range(args.repeat):  # rotate which goes first, so none always runs warm
            for step in steps[i % 3:] + steps[:i % 3]:
                step()
        handed = len(daemon.events("cli.done"))
    finally:
        daemon.stop()
    if handed != 2 * args.repeat + 2:
        raise BenchError(f"the daemon ran {handed} of the {2 * args.repeat + 2} handed-off "
                         "applies and destroys")
    cli = run_timed([project.binary, "version"], timeout=60).seconds
    (warm, warm_exit), (cold, cold_exit) = times[True], times[False]
    return {"replicas": args.replicas, "repeat": args.repeat,
            "floor_s": [seconds(v) for v in floor], "floor_median_s": median(floor),
            "apply_s": [seconds(v) for v in warm], "apply_exit_s": [seconds(v) for v in warm_exit],
            "apply_median_s": median(warm), "ratio": ratio(median(warm), median(floor)),
            "apply_without_daemon_s": [seconds(v) for v in cold],
            "apply_without_daemon_exit_s": [seconds(v) for v in cold_exit],
            "apply_without_daemon_median_s": median(cold),
            "ratio_without_daemon": ratio(median(cold), median(floor)),
            "ratio_max": APPLY_RATIO_MAX, "cli_startup_s": seconds(cli)}


# --- phase 2: a rolling update under load -------------------------------------------------------


def apply_under_load(project: Project, load: OpenLoop | Wrk, duration: float, what: str
                     ) -> tuple[float, float, list[str]]:
    """Apply the spec as written while ``load`` runs (from 1 s before to about ``duration``);
    returns when it began and ended, and what the apply warned about (drains cut short)."""
    with load:
        time.sleep(WARMUP_S)
        began = time.monotonic()
        timing = project.cli("apply", "--yes")
        ended = time.monotonic()
        log(f"[rollout] {what} took {ended - began:.3f}s")
        time.sleep(max(WARMUP_S, duration - (ended - began) - WARMUP_S))
    warnings = [ln.strip() for ln in timing.stdout_tail.splitlines()
                if any(w in ln for w in ("still open", "kept", "does not answer"))]
    return began, ended, warnings


def measure_rollout(project: Project, images: dict[str, str], args: argparse.Namespace
                    ) -> dict[str, Any]:
    """v1 -> v2 under the open-loop generator."""
    project.deploy(images["v1"], args.replicas, "v1")
    project.write(images["v2"], args.replicas)
    load = OpenLoop(project.lb_port, args.rate)
    began, ended, warnings = apply_under_load(
        project, load, args.duration, f"v1 -> v2 under {args.rate:g} req/s (open loop)")
    project.verify(args.replicas, "v2")
    samples = load.samples
    return {"loadgen": "open loop (asyncio, a new connection per request)", "rate": args.rate,
            "rollout_s": seconds(ended - began), "apply_warnings": warnings,
            "both_versions_served_s": overlap(samples, "v1", "v2"),
            "answers": dict(Counter(s.body for s in samples if s.outcome == "ok")),
            "whole_run": summarize(samples), "during_rollout": summarize(samples, (began, ended)),
            "slowest": slowest(samples, began)}


def measure_rollout_wrk(project: Project, binary: str, args: argparse.Namespace, image: str,
                        work: Path) -> dict[str, Any]:
    """v2 -> v1 under wrk: keep-alive connections paced to about ``rate``."""
    project.write(image, args.replicas)
    load = Wrk(binary, f"http://127.0.0.1:{project.lb_port}/", args.rate, work)
    began, ended, warnings = apply_under_load(project, load, args.duration,
                                              "v2 -> v1 under wrk")
    project.verify(args.replicas, "v1")
    return {"loadgen": load.label, "rate": args.rate, "rollout_s": seconds(ended - began),
            "apply_warnings": warnings, **load.result()}


# --- phase 3: the daemon replaces a killed replica ------------------------------------------------


class Daemon:
    """``stackwright server`` for the project, in the background."""

    def __init__(self, project: Project, work: Path) -> None:
        self.project = project
        self.run_dir = project.root / ".stackwright" / "run" / "dev"
        self.output = work / "daemon.out"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> dict[str, Any]:
        with self.output.open("wb") as out:
            self.proc = subprocess.Popen(
                [self.project.binary, "-C", str(self.project.root), "server", "--no-secrets"],
                env=self.project.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        info = self.run_dir / "daemon.json"
        if not wait_until(info.exists, 60, 0.1):
            raise BenchError(f"the daemon never wrote {info}: {self.output.read_text()[-400:]}")
        api = json.loads(info.read_text())["api"]
        with urllib.request.urlopen(f"{api}/api/v1/status", timeout=10) as resp:
            return dict(json.loads(resp.read()))

    def events(self, name: str) -> list[dict[str, Any]]:
        path = self.run_dir / "daemon.log"
        lines = path.read_text().splitlines() if path.exists() else []
        return [e for e in (json.loads(ln) for ln in lines if ln.startswith("{"))
                if e.get("event") == name]

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def measure_repair(project: Project, image: str, version: str, args: argparse.Namespace,
                   work: Path) -> dict[str, Any]:
    project.deploy(image, args.replicas, version)
    daemon = Daemon(project, work)
    try:
        status = daemon.start()
        controllers = {c.get("name"): c for c in status.get("controllers") or []}
        if "services" not in controllers:
            failed = [f"{e.get('controller')}: {e.get('error')}"
                      for e in daemon.events("controller.load_failed")]
            return {"seconds": None, "skipped": "no controller: the daemon runs no 'services' "
                    f"controller (it runs {sorted(map(str, controllers)) or 'none'})",
                    "load_failed": failed}
        kills = [_kill_and_wait(project, args.replicas) for _ in range(args.repeat)]
        took = [k["seconds"] for k in kills]
        return {"seconds": median(took), "seconds_each": took, "kills": kills,
                "failed": sum(k["load"]["failed"] for k in kills),
                "daemon_repair_s": [seconds(float(e["seconds"]))
                                    for e in daemon.events("service.repaired")],
                "controller_interval_s": controllers["services"].get("interval_s")}
    finally:
        daemon.stop()


def _kill_and_wait(project: Project, replicas: int) -> dict[str, Any]:
    """Remove the oldest-named replica; seconds until N others answer through HAProxy."""
    victim_id, victim = sorted(project.running().items(), key=lambda kv: kv[1])[0]
    with OpenLoop(project.lb_port, REPAIR_RATE) as load:
        time.sleep(WARMUP_S)
        began = time.monotonic()
        done = podman("rm", "--force", "--time", "0", victim)
        removed = time.monotonic() - began
        if done.returncode != 0:
            raise BenchError(f"podman rm {victim}: {done.stderr.strip()}")

        def replaced() -> bool:
            ids = project.ids(replicas)
            return len(ids) == replicas and victim_id not in ids

        ok = wait_until(replaced, READY_TIMEOUT_S, READY_POLL_S)
        took = time.monotonic() - began
        log(f"[repair] {victim} removed; {replicas} serving again after {took:.3f}s")
        time.sleep(WARMUP_S)
    if not ok:
        raise BenchError(f"no replacement for {victim} within {READY_TIMEOUT_S}s")
    project.verify(replicas)
    samples = load.samples
    return {"seconds": seconds(took), "podman_rm_s": seconds(removed), "killed": victim,
            "load": {"rate": REPAIR_RATE, **summarize(samples), "slowest": slowest(samples, began)}}


# --- running it all -----------------------------------------------------------------------------


@contextmanager
def project_dir(keep: bool) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="swb", dir="/tmp"))  # short: unix sockets live under it
    try:
        yield root
    finally:
        if keep:
            log(f"kept work dir {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
            shutil.rmtree(root.parent / f"{root.name}-keys", ignore_errors=True)


def cleanup(project: Project, run_id: str) -> None:
    """Destroy through the CLI, then remove whatever a failed phase may have left."""
    try:
        project.cli("destroy", "--yes")
    except BenchError as exc:
        log(f"cleanup: {exc}")
    for label in (f"dev.stackwright.project={project.name}", f"{BENCH_LABEL}={run_id}"):
        listed = podman("ps", "-a", "-q", "--filter", f"label={label}").stdout.split()
        if listed:
            podman("rm", "--force", "--time", "0", *listed)
    for pid_file in project.root.glob(".stackwright/run/*/haproxy/*/haproxy.pid"):
        try:
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def run_phase(name: str, errors: list[str], measure: Callable[[], dict[str, Any]]
              ) -> dict[str, Any] | None:
    try:
        return measure()
    except (BenchError, subprocess.SubprocessError, OSError, ValueError, KeyError) as exc:
        log(f"[{name}] FAILED: {exc}")
        errors.append(f"{name}: {exc}")
        return None


def run_all(args: argparse.Namespace, binary: str, work: Path) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    (work / "project").mkdir()
    images = build_images(work / "images")
    project = Project.create(work / "project", binary)
    errors: list[str] = []
    out: dict[str, Any] = {"project": project.name, "images": images}
    try:
        out["start"] = run_phase("start", errors, lambda: measure_start(
            project, images["v1"], args, run_id, work))
        out["rollout"] = run_phase("rollout", errors, lambda: measure_rollout(
            project, images, args))
        last = "v2"
        wrk = None if args.no_wrk else shutil.which("wrk")
        out["rollout_wrk"] = None if wrk is None else run_phase(
            "rollout_wrk", errors, lambda: measure_rollout_wrk(project, wrk, args,
                                                               images["v1"], work))
        if out["rollout_wrk"] is not None:
            last = "v1"
        out["repair"] = run_phase("repair", errors, lambda: measure_repair(
            project, images[last], last, args, work))
    finally:
        cleanup(project, run_id)
    out["errors"] = errors
    return out


def unmet_targets(out: dict[str, Any]) -> list[str]:
    unmet = list(out["errors"])
    start, roll, wrk, repair = (out.get(k) for k in ("start", "rollout", "rollout_wrk", "repair"))
    if start and (start["ratio"] is None or start["ratio"] > APPLY_RATIO_MAX):
        unmet.append(f"start: apply through the daemon {start['apply_median_s']}s is "
                     f"{start['ratio']}x the floor {start['floor_median_s']}s "
                     f"(target <= {APPLY_RATIO_MAX}x)")
    if roll and roll["whole_run"]["failed"]:
        unmet.append(f"rollout: {roll['whole_run']['failed']} failed requests "
                     f"{roll['whole_run']['failures']} (target 0)")
    if wrk and wrk["failed"]:
        unmet.append(f"rollout under wrk: {wrk['failed']} errors {wrk['errors']} (target 0)")
    if repair and repair.get("skipped"):
        unmet.append(f"repair: not measured, {repair['skipped']}")
    if repair and repair.get("failed"):
        unmet.append(f"repair: {repair['failed']} failed requests (target 0)")
    return unmet


def print_report(out: dict[str, Any]) -> None:
    rows: list[list[Any]] = []
    if start := out.get("start"):
        rows.append(["start: floor (podman run + health), median s", start["floor_median_s"]])
        rows.append(["start: apply to serving, through the daemon, median s",
                     start["apply_median_s"]])
        rows.append(["start: ratio (target <= 1.5)", start["ratio"]])
        rows.append(["start: apply to serving, no daemon, median s",
                     start["apply_without_daemon_median_s"]])
        rows.append(["start: ratio without a daemon", start["ratio_without_daemon"]])
    for key, label in (("rollout", "rollout"), ("rollout_wrk", "rollout (wrk)")):
        if roll := out.get(key):
            whole = roll.get("whole_run", roll)
            rows.append([f"{label}: apply s", roll["rollout_s"]])
            rows.append([f"{label}: requests / failed", f"{whole['requests']} / {whole['failed']}"])
            lat = (roll.get("during_rollout") or roll)["latency_ms"]
            rows.append([f"{label}: p50 / p99 ms", f"{lat['p50']} / {lat['p99']}"])
    if repair := out.get("repair"):
        rows.append(["repair: seconds", repair.get("seconds") or repair.get("skipped")])
        if "failed" in repair:
            rows.append(["repair: failed requests", repair["failed"]])
    print(format_table(["measure", "value"], rows))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--replicas", type=int, default=3)
    p.add_argument("--rate", type=float, default=200.0, help="requests/s during the rollout")
    p.add_argument("--duration", type=float, default=20.0,
                   help="seconds of load around a rollout (at least 1 s either side)")
    p.add_argument("--repeat", type=int, default=5, help="timed starts of each side; kills")
    p.add_argument("--quick", action="store_true", help="2 replicas, 50 req/s, 1 repeat")
    p.add_argument("--no-wrk", action="store_true", help="skip the rollout under wrk")
    p.add_argument("--stackwright", help="path to the stackwright executable")
    p.add_argument("--keep", action="store_true", help="keep the work dir for inspection")
    args = p.parse_args(argv)
    if args.quick:
        args.replicas, args.rate, args.duration, args.repeat = 2, 50.0, 4.0, 1
    if args.replicas < 1 or args.rate <= 0 or args.repeat < 1:
        p.error("--replicas and --repeat must be >= 1 and --rate > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_fd_limit()
    venv_bin = REPO_ROOT / ".venv" / "bin" / "stackwright"
    binary = find_executable("stackwright", args.stackwright or "", venv_bin)
    if binary is None or shutil.which("podman") is None or shutil.which("haproxy") is None:
        sys.exit("stackwright, podman and haproxy are needed")
    with project_dir(args.keep) as work:
        out = run_all(args, binary, work)
    unmet = unmet_targets(out)
    print_report(out)
    for reason in unmet:
        print(f"unmet: {reason}")
    emit_result({
        "benchmark": "deploy",
        "settings": {k: getattr(args, k) for k in ("replicas", "rate", "duration", "repeat",
                                                    "quick")},
        **{k: out.get(k) for k in ("project", "images", "start", "rollout", "rollout_wrk",
                                   "repair", "errors")},
        "targets": {"apply_ratio_max": APPLY_RATIO_MAX, "rollout_failed_requests": 0,
                    "repair_failed_requests": 0},
        "met": not unmet, "unmet": unmet, "machine": machine(),
    })
    return 1 if out["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
