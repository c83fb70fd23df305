"""Platform API and console speed against a real daemon on a free port.

A scratch project of ``--resources`` File resources (50 by default) is applied, then
``stackwright server`` (no secrets store, no controllers) serves it. Measured, cells
interleaved:

- ``GET /api/v1/status`` (every resource read live, as ``stackwright status`` does, after
  the guard checked the API token) and ``GET /api/v1/health`` (public: the HTTP stack's
  floor, no work behind it), at 1 and 16 concurrent keep-alive clients: requests per second and p99;
- the console's overview page: its weight (HTML + CSS + htmx, and gzip of each) and the time
  to first contentful paint in Debian's headless Chromium (Playwright), after logging in.

- ``GET /api/v1/observe/logs?service=web&limit=1000``: the 1,000 newest of ``--log-lines``
  collected lines (20,000 by default, written into the daemon's log store before it starts,
  as its collector writes them), at 1 and 16 clients; every answer is checked to hold 1,000
  lines.

The last line of stdout is one JSON object (``emit_result``).

    .venv/bin/python benchmarks/api.py                      # 400 requests per cell
    .venv/bin/python benchmarks/api.py --requests 40 --no-browser   # smoke test
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from _harness import emit_result, format_table, free_port, log, machine, scratch_dir
from _loadgen import percentiles

CHROMIUM = "/usr/bin/chromium"
LOGS = "/api/v1/observe/logs?service=web&limit=1000"


def make_project(work: Path, resources: int, cli: str, env: dict[str, str]) -> None:
    (work / "stackwright.yaml").write_text("project: apibench\n")
    docs = [f"apiVersion: stackwright.dev/v1\nkind: File\nmetadata: {{name: f{i}}}\n"
            f"spec: {{path: out/f{i}.txt, content: 'file {i}'}}\n" for i in range(resources)]
    (work / "main.yaml").write_text("---\n".join(docs))
    subprocess.run([cli, "apply", "--yes"], cwd=work, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([cli, "user", "add", "bench", "--role", "viewer", "--password-stdin"],
                   cwd=work, env=env, input=b"bench-password\n", check=True,
                   stdout=subprocess.DEVNULL)


def seed_logs(work: Path, lines: int, env: dict[str, str]) -> None:
    """``lines`` log lines of a service ``web`` in the project's log store."""
    os.environ["STACKWRIGHT_KEY_DIR"] = env["STACKWRIGHT_KEY_DIR"]
    from stackwright.core.engine import Engine
    from stackwright.observe.logstore import LogLine, LogStore
    from stackwright.observe.logview import log_db

    environment = Engine(work).environment
    path = log_db(work, environment)
    path.parent.mkdir(parents=True, exist_ok=True)
    store = LogStore(path)
    now = time.time() - lines * 0.01
    batch = [LogLine(time=now + i * 0.01, service="web", environment=environment,
                     revision="r1", replica=str(i % 3), container=f"web-{i % 3}",
                     stream="stdout", message=f"GET /orders/{i} 200 in {i % 97} ms",
                     level="info") for i in range(lines)]
    store.append(batch, "bench", "web-0", lines, 1)
    store.close()


def token(cli: str, work: Path, env: dict[str, str]) -> str:
    out = subprocess.run([cli, "token", "create", "--user", "bench", "-o", "json"], cwd=work,
                         env=env, check=True, capture_output=True).stdout
    return str(json.loads(out)["token"])


def start(cli: str, work: Path, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([cli, "server", "--no-secrets", "--no-controllers", "--port",
                             str(port)], cwd=work, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/health")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the daemon did not start")


def cell(port: int, path: str, headers: dict[str, str], clients: int, total: int,
         lines: int | None = None) -> dict[str, Any]:
    """``total`` GETs of ``path`` over ``clients`` keep-alive connections; with ``lines``,
    each answer must hold that many log lines."""
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    each = max(1, total // clients)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = []
        for _ in range(each):
            started = time.perf_counter()
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            mine.append(time.perf_counter() - started)
            if resp.status != 200 or (lines is not None
                                      and len(json.loads(body)["lines"]) != lines):
                with lock:
                    failures[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    begun = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - begun
    pct = percentiles(latencies)
    return {"path": path, "clients": clients, "requests": len(latencies),
            "failed": failures[0], "rps": round(len(latencies) / wall, 1),
            "p50_ms": pct.get("p50"),
            "p99_ms": pct.get("p99")}


def page_weight(port: int, cookie_token: str) -> dict[str, Any]:
    weights = {}
    for name, path in (("overview_html", "/console/"), ("css", "/console/static/console.css"),
                       ("htmx", "/console/static/htmx.min.js")):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.request("GET", path, headers={"Authorization": f"Bearer {cookie_token}"})
        body = conn.getresponse().read()
        weights[name] = {"bytes": len(body), "gzip_bytes": len(gzip.compress(body))}
    weights["total_bytes"] = sum(w["bytes"] for w in weights.values())
    return weights


def first_render(port: int) -> float | None:
    if not os.access(CHROMIUM, os.X_OK):
        return None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page()
        base = f"http://127.0.0.1:{port}"
        page.goto(f"{base}/console/login")
        page.fill("#username", "bench")
        page.fill("#password", "bench-password")
        page.press("#password", "Enter")
        page.wait_for_url(f"{base}/console/", timeout=120_000)
        page.goto(f"{base}/console/")
        page.wait_for_function("performance.getEntriesByName('first-contentful-paint')"
                               ".length > 0", timeout=60_000)
        fcp = page.evaluate("performance.getEntriesByName('first-contentful-paint')[0]"
                            "?.startTime ?? null")
        browser.close()
    return round(float(fcp), 1) if fcp is not None else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--resources", type=int, default=50)
    parser.add_argument("--log-lines", type=int, default=20_000)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    cli = str(Path(sys.executable).with_name("stackwright"))
    with scratch_dir("sw-api-bench-") as work:
        env = {**os.environ, "STACKWRIGHT_KEY_DIR": str(work / "keys"), "NO_COLOR": "1"}
        log(f"applying {args.resources} resources")
        make_project(work, args.resources, cli, env)
        seed_logs(work, args.log_lines, env)
        secret = token(cli, work, env)
        port = free_port()
        proc = start(cli, work, env, port)
        try:
            headers = {"Authorization": f"Bearer {secret}"}
            cells = []
            for clients in (1, 16):
                for path in ("/api/v1/health", "/api/v1/status"):
                    log(f"{path} x{clients}")
                    cells.append(cell(port, path, headers, clients, args.requests))
                log(f"{LOGS} x{clients}")
                cells.append(cell(port, LOGS, headers, clients, args.requests,
                                  lines=min(1000, args.log_lines)))
            weight = page_weight(port, secret)
            fcp = None if args.no_browser else first_render(port)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    report(cells, weight, fcp, args)


def report(cells: list[dict[str, Any]], weight: dict[str, Any], fcp: float | None,
           args: argparse.Namespace) -> None:
    print(format_table(["path", "clients", "requests", "failed", "rps", "p50 ms", "p99 ms"],
                       [[c["path"], c["clients"], c["requests"], c["failed"], c["rps"],
                         c["p50_ms"], c["p99_ms"]] for c in cells]))
    print(f"console overview ({args.resources} resources): {weight['total_bytes']} bytes "
          f"(html {weight['overview_html']['bytes']}), first contentful paint {fcp} ms")
    floor = {c["clients"]: c["rps"] for c in cells if c["path"] == "/api/v1/health"}
    ratios = {f"status_vs_health_rps_{c['clients']}": round(c["rps"] / floor[c["clients"]], 4)
              for c in cells if c["path"] == "/api/v1/status" and floor.get(c["clients"])}
    emit_result({"benchmark": "api", "resources": args.resources, "cells": cells,
                 "ratios": ratios, "console": {"weight": weight, "first_paint_ms": fcp},
                 "log_query_1000_lines": [c for c in cells if c["path"] == LOGS],
                 "load_average": os.getloadavg()[0],
                 "machine": machine()})


if __name__ == "__main__":
    main()
