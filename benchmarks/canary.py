"""A bad canary under a fixed request rate: how fast is it caught and rolled back, and how
many user requests did it fail?

One temp project (a short path under /tmp: HAProxy's unix sockets live there): a Service of
``--replicas`` busybox httpd replicas behind a LoadBalancer, whose CGI answers 500 to a share
``ERROR_RATE`` of requests. Revision 1 (``ERROR_RATE=0``) is deployed; then, while an
open-loop generator sends ``--rate`` requests a second (each on a new connection, on a fixed
schedule), ``stackwright apply`` deploys revision 2 with ``ERROR_RATE=--error-rate`` as a
canary: ``setWeight: 10``, then a long pause; background analysis of HAProxy's 5xx ratio
every ``--interval`` (``failureCondition: result > 0.05``, ``failureLimit: 0``).

HAProxy's ``show stat`` is polled every 20 ms from the start, so the figures are what HAProxy
did, not what the rollout says it did:

- ``exposure_s``: from the first poll that shows the canary with a weight above 0 to the
  first that shows it out (weight 0, drained or deleted): all traffic back on stable;
- ``failed`` / ``requests`` of the user requests due in that window, and ``failed_share``;
- the floor: ``10% x error rate x rate x one interval`` failed requests (an analysis cannot
  decide before one interval of traffic), and ``failed_vs_floor``; beside it the same
  product at the measured exposure (what the failures should be, as a cross-check).

Target: rolled back within two analysis intervals (``exposure_s <= 2 x interval``).

    python benchmarks/canary.py                    # 2 replicas, 100 req/s, interval 2s, 3 runs
    python benchmarks/canary.py --quick            # smoke test: one run, 50 req/s

Progress goes to stderr; a table to stdout, whose last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import format_table, free_port, log, machine, scratch_dir  # noqa: E402
from _loadgen import OpenLoop, summarize  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STACKWRIGHT = str(Path(sys.executable).with_name("stackwright"))
CONTAINERFILE = """\
FROM {base}
COPY app /www/cgi-bin/app
RUN echo ok > /www/healthz && chmod 755 /www/cgi-bin/app
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
"""
CGI = """\
#!/bin/sh
if awk -v r="${ERROR_RATE:-0}" -v x="$RANDOM" 'BEGIN{exit !(x/32768 < r)}'; then
  printf 'Status: 500 Internal Server Error\\r\\nContent-Type: text/plain\\r\\n\\r\\nerror\\n'
else
  printf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' "${PAGE:-page}"
fi
"""
SPEC = """\
apiVersion: stackwright.dev/v1
kind: Service
metadata: {{name: web}}
spec:
  image: {image}
  env: {{ERROR_RATE: "{error_rate}", PAGE: {page}}}
  ports: [8080]
  replicas: {replicas}
  healthCheck: {{http: /healthz, interval: 200ms}}
  rollout: {{healthTimeout: 30s, drainTimeout: 2s}}
  deploy:
    strategy: canary
    canary:
      steps: [{{setWeight: 10}}, {{pause: {{duration: 10m}}}}]
      analysis:
        metrics:
          - {{name: errors, metric: error_ratio, interval: {interval}s, minRequests: 3,
              failureCondition: result > 0.05, failureLimit: 0, inconclusiveLimit: 1000}}
---
apiVersion: stackwright.dev/v1
kind: LoadBalancer
metadata: {{name: edge}}
spec:
  http:
    port: {lb}
    routes: [{{service: "${{{{ Service.web.id }}}}", port: 8080}}]
  checkInterval: 500ms
"""


def build_image(work: Path) -> str:
    from stackwright.tools.images import app_image, busybox_rootfs_image
    from stackwright.tools.podman import Podman, PodmanSettings

    podman = Podman(PodmanSettings(state_dir=work / "podman"))
    cache = Path(os.environ.get("STACKWRIGHT_TEST_CACHE", "/var/tmp/stackwright-test-cache"))
    base = busybox_rootfs_image(podman, cache_dir=cache)
    ctx = work / "app"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(CONTAINERFILE.format(base=base.ref))
    (ctx / "app").write_text(CGI)
    return app_image(podman, "localhost/stackwright/bench-canary", ctx).ref


def apply(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STACKWRIGHT_NO_DAEMON": "1"}
    return subprocess.run([STACKWRIGHT, "-C", str(root), "apply", "--yes"], env=env,
                          capture_output=True, text=True, timeout=900)


class WeightWatch:
    """Polls HAProxy's weights of the canary's servers every 20 ms: (time, canary weight)."""

    def __init__(self, root: Path, stable: set[str]) -> None:
        from stackwright.tools.haproxy import HaproxyRuntime

        self.runtime = HaproxyRuntime(next(root.glob(".stackwright/run/*/haproxy/edge/"
                                                     "stats.sock")))
        self.stable, self.seen = stable, [(0.0, 0)]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def servers(self) -> dict[str, int]:
        return {r.name: r.weight if r.status.startswith("UP") else 0
                for r in self.runtime.show_stat() if r.type == "server"}

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                weights = self.servers()
                canary = sum(w for n, w in weights.items() if n not in self.stable)
                self.seen.append((time.monotonic(), canary))
            except Exception:  # noqa: BLE001 - the next poll tells
                pass
            time.sleep(0.02)

    def window(self) -> tuple[float, float] | None:
        start = next((t for t, w in self.seen if w > 0), None)
        if start is None:
            return None
        end = next((t for t, w in self.seen if t > start and w == 0), None)
        return None if end is None else (start, end)


def one_run(root: Path, args: argparse.Namespace, lb: int, image: str, n: int) -> dict[str, Any]:
    spec = root / "web.yaml"
    spec.write_text(SPEC.format(image=image, error_rate=0, page="good", lb=lb,
                                replicas=args.replicas, interval=args.interval))
    done = apply(root)
    if done.returncode != 0:
        raise SystemExit(f"deploying the good revision failed: {done.stderr[-800:]}")
    from stackwright.tools.haproxy import HaproxyRuntime

    sock = next(root.glob(".stackwright/run/*/haproxy/edge/stats.sock"))
    stable = {r.name for r in HaproxyRuntime(sock).show_stat() if r.type == "server"}
    spec.write_text(SPEC.format(image=image, error_rate=args.error_rate, page="bad", lb=lb,
                                replicas=args.replicas, interval=args.interval))
    watch = WeightWatch(root, stable)
    with OpenLoop(lb, args.rate, path="/cgi-bin/app") as load:
        started = time.monotonic()
        done = apply(root)
        elapsed = time.monotonic() - started
        time.sleep(1.0)
    watch.stop.set()
    watch.thread.join()
    window = watch.window()
    if done.returncode == 0 or window is None:
        raise SystemExit(f"the bad canary was not rolled back (exit {done.returncode}, "
                         f"window {window}): {done.stdout[-800:]} {done.stderr[-800:]}")
    stats = summarize(load.samples, window)
    canary = [x for x in load.samples if window[0] <= x.at <= window[1]
              and (x.body == "bad" or x.outcome == "http 500")]
    exposure = window[1] - window[0]
    floor = 0.10 * args.error_rate * args.rate * args.interval
    log(f"run {n}: exposure {exposure:.2f}s, {stats['failed']} of {stats['requests']} failed")
    return {"exposure_s": round(exposure, 3), "apply_s": round(elapsed, 2),
            "requests": stats["requests"], "failed": stats["failed"],
            "failed_share": round(stats["failed"] / max(1, stats["requests"]), 4),
            "floor_failed": round(floor, 2), "failed_vs_floor": round(stats["failed"] / floor, 2),
            "expected_at_this_exposure": round(floor * exposure / args.interval, 2),
            "failures": stats["failures"], "canary_answers": len(canary),
            "canary_error_share": round(sum(x.outcome == "http 500" for x in canary)
                                        / max(1, len(canary)), 3),
            "within_target": exposure <= 2 * args.interval}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--error-rate", type=float, default=0.5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one run at 50 req/s")
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.rate = 1, 50.0
    with scratch_dir("swcb", keep=False) as work:
        image = build_image(work)
        root = work / "p"
        root.mkdir()
        (root / "stackwright.yaml").write_text(
            f"project: cb{uuid.uuid4().hex[:6]}\nenvironments: {{dev: {{}}}}\n")
        lb = free_port()
        try:
            runs = [one_run(root, args, lb, image, n) for n in range(1, args.repeat + 1)]
        finally:
            subprocess.run([STACKWRIGHT, "-C", str(root), "destroy", "--yes"],
                           capture_output=True, timeout=300,
                           env={**os.environ, "STACKWRIGHT_NO_DAEMON": "1"})
    report(args, runs)


def report(args: argparse.Namespace, runs: list[dict[str, Any]]) -> None:
    rows = [[i + 1, r["exposure_s"], r["requests"], r["failed"], r["failed_share"],
             r["floor_failed"], r["failed_vs_floor"]] for i, r in enumerate(runs)]
    print(format_table(["run", "exposure s", "requests", "failed", "share", "floor",
                        "vs floor"], rows))
    exposure = statistics.median(r["exposure_s"] for r in runs)
    target = 2 * args.interval
    print(json.dumps({
        "benchmark": "canary", "machine": machine(), "replicas": args.replicas,
        "rate_rps": args.rate, "interval_s": args.interval, "error_rate": args.error_rate,
        "first_step_percent": 10, "runs": runs, "median_exposure_s": exposure,
        "exposure_vs_interval": round(exposure / args.interval, 3),
        "median_failed_vs_floor": statistics.median(r["failed_vs_floor"] for r in runs),
        "target": f"back on stable within 2 analysis intervals ({target:g} s)",
        "target_met": all(r["within_target"] for r in runs)}))


if __name__ == "__main__":
    main()
