"""Secrets API speed: KV v2 writes and reads through hvac, against the HTTP stack's floor.

Two servers run side by side, each in its own subprocess on a free port, with the same uvicorn
configuration as the daemon (h11, one worker, no access log):

- **vault**: Stackwright's Vault-compatible app over a SQLite state file and an audit file in
  a scratch directory, initialized fresh and unsealed; every request is authenticated,
  checked against the ACL, audited twice (request and response; ``--fsync``, default batch:
  group commit) and served from the encrypted store; ``--also-fsync MODE`` adds the same
  server with another fsync mode, ``--baseline REF`` the server of an older commit ("before");
- **floor**: the same stack (uvicorn + FastAPI) answering one constant KV-read-shaped JSON body
  on one catch-all route: what no secrets server on this stack can beat.

The same client code drives both: N threads, each with its own ``hvac.Client``, calling
``kv.v2.create_or_update_secret`` (write) or ``kv.v2.read_secret_version`` (read). Cells run
interleaved (floor, then vault, for each concurrency and operation) so all see the same
machine load; each round also times an fsync where the audit files are. Targets: vault
throughput at least 0.8 of the floor's for reads and 0.5 for writes, at 1 and at 16 clients,
and a p99 under 3x the floor's.

    .venv/bin/python benchmarks/secrets_api.py                  # 2,000 operations per cell
    .venv/bin/python benchmarks/secrets_api.py --ops 500 --rounds 3 --baseline main \
        --also-fsync never                                      # before/after, same run
    .venv/bin/python benchmarks/secrets_api.py --ops 100        # smoke test

It needs the project's virtualenv (hvac, uvicorn, stackwright). A readable table goes to
stdout, progress to stderr, and the last line of stdout is one JSON object (``emit_result``).
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the standard library's ``secrets``, which the code under test
# imports: keep its directory out of the front of the import path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE)]

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from typing import Any  # noqa: E402

from _harness import (  # noqa: E402
    emit_result,
    format_table,
    free_port,
    log,
    machine,
    ratio,
    scratch_dir,
)
from fastapi import FastAPI, Request, Response  # noqa: E402

CLIENTS = (1, 16)
OPS = ("write", "read")
TARGETS = {"write": 0.5, "read": 0.8}
P99_TARGET = 3.0  # vault p99 at most this many times the floor's
KEYS_PER_CLIENT = 10
VALUE = "x" * 64
WARMUP = 5
FLOOR_BODY = {
    "request_id": "00000000-0000-0000-0000-000000000000",
    "lease_id": "",
    "renewable": False,
    "lease_duration": 0,
    "data": {
        "data": {"value": VALUE},
        "metadata": {
            "created_time": "2026-01-01T00:00:00.000000Z",
            "custom_metadata": None,
            "deletion_time": "",
            "destroyed": False,
            "version": 1,
        },
    },
    "wrap_info": None,
    "warnings": None,
    "auth": None,
    "mount_type": "",
}


# -- the servers (run in subprocesses) -------------------------------------------------------
def floor_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None)
    body = json.dumps(FLOOR_BODY).encode()
    methods = ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "LIST"]

    @app.api_route("/v1/{path:path}", methods=methods)
    async def constant(path: str, request: Request) -> Response:
        await request.body()
        return Response(body, media_type="application/json")

    return app


def vault_app(work: Path, fsync: str | None) -> tuple[Any, Callable[[], None]]:
    import stackwright
    from stackwright.secrets.api import create_vault_app
    from stackwright.secrets.store import SecretsSettings, SecretsStore

    print(f"stackwright from {stackwright.__file__}", file=sys.stderr, flush=True)
    extra = {"audit_fsync": fsync} if fsync else {}  # a baseline may predate the setting
    settings = SecretsSettings(
        database_url=f"sqlite:///{work / 'state.db'}", audit_path=work / "audit.jsonl", **extra
    )
    store = SecretsStore.open(settings)
    return create_vault_app(store), store.close


def serve(kind: str, port: int, work: Path, fsync: str | None) -> int:
    """Serve until SIGTERM with the daemon's uvicorn settings."""
    import uvicorn

    app, close = vault_app(work, fsync) if kind != "floor" else (floor_app(), lambda: None)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http="h11", lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    try:
        server.run()
    finally:
        close()
    return 0


@dataclass
class Server:
    kind: str
    url: str
    process: subprocess.Popen[bytes]
    token: str = ""


def start_server(kind: str, work: Path, args: argparse.Namespace) -> Server:
    port = free_port()
    workdir = work / kind
    workdir.mkdir()
    serves = "vault" if kind.startswith("vault") else kind  # vault-MODE: another fsync mode
    argv = [sys.executable, __file__, "--serve", serves, "--port", str(port), "--dir", str(workdir)]
    env = dict(os.environ)
    if serves == "vault":
        argv += ["--fsync", kind.removeprefix("vault-") if "-" in kind else args.fsync]
    if kind == "before":
        env["PYTHONPATH"] = str(_export_baseline(args.baseline, work / "baseline-src"))
    with (workdir / "server.log").open("wb") as stderr:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr, env=env
        )
    server = Server(kind, f"http://127.0.0.1:{port}", process)
    _wait_listening(server, workdir / "server.log")
    if kind != "floor":
        server.token = _init_and_unseal(server.url)
    return server


def _export_baseline(ref: str, target: Path) -> Path:
    """The package's source at ``ref`` (``git archive``), to run as the "before" server."""
    root = _HERE.parent
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", ref, "src"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target / "src"


def _wait_listening(server: Server, log_file: Path) -> None:
    import requests

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            sys.exit(f"the {server.kind} server exited:\n{log_file.read_text()[-2000:]}")
        try:
            requests.get(f"{server.url}/v1/sys/health", timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    sys.exit(f"the {server.kind} server did not start")


def _init_and_unseal(url: str) -> str:
    import hvac

    client = hvac.Client(url=url, timeout=30)
    result = client.sys.initialize(1, 1)
    client.sys.submit_unseal_keys(result["keys"])
    return str(result["root_token"])


def stop_server(server: Server) -> None:
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


# -- the client -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cell:
    round: int
    server: str
    op: str
    clients: int
    ops: int
    errors: int
    seconds: float
    ops_per_s: float
    p50_ms: float
    p99_ms: float


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def _operation(client: Any, op: str, worker: int) -> Callable[[int], None]:
    kv = client.secrets.kv.v2

    def call(i: int) -> None:
        path = f"bench/{worker}/k{i % KEYS_PER_CLIENT}"
        if op == "write":
            kv.create_or_update_secret(path=path, secret={"value": VALUE})
        else:
            kv.read_secret_version(path=path, raise_on_deleted_version=True)

    return call


def run_cell(server: Server, op: str, clients: int, ops: int, round_: int = 0) -> Cell:
    import hvac

    per_client = max(1, ops // clients)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    started: list[float] = []
    gate = threading.Barrier(clients, action=lambda: started.append(time.perf_counter()))

    def worker(index: int) -> None:
        client = hvac.Client(url=server.url, token=server.token, timeout=60)
        call = _operation(client, op, index)
        try:
            for i in range(WARMUP):
                call(i)
        finally:
            gate.wait(timeout=300)  # a worker that failed to warm up must not hang the others
        for i in range(per_client):
            begin = time.perf_counter()
            try:
                call(i)
            except Exception:  # counted; the cell reports it instead of dying
                errors[index] += 1
            latencies[index].append(time.perf_counter() - begin)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started[0]
    flat = sorted(v for per in latencies for v in per)
    return Cell(
        round=round_,
        server=server.kind,
        op=op,
        clients=clients,
        ops=len(flat),
        errors=sum(errors),
        seconds=round(elapsed, 3),
        ops_per_s=round(len(flat) / elapsed, 1),
        p50_ms=round(percentile(flat, 0.50) * 1000, 3),
        p99_ms=round(percentile(flat, 0.99) * 1000, 3),
    )


def populate(server: Server) -> None:
    """Every key the read cells will read exists (on the floor this is only a warm-up)."""
    run_cell(server, "write", max(CLIENTS), max(CLIENTS) * KEYS_PER_CLIENT)


# -- the comparison ---------------------------------------------------------------------------
def compare(cells: list[Cell], rounds: int, server: str = "vault") -> list[dict[str, Any]]:
    """Per (op, clients): ``server`` against the floor of the same round, the median over
    rounds and every round's figure."""
    by_key = {(c.round, c.server, c.op, c.clients): c for c in cells}
    rows = []
    for clients in CLIENTS:
        for op in OPS:
            pairs = [(by_key[(r, server, op, clients)], by_key[(r, "floor", op, clients)])
                     for r in range(rounds)]
            per_round = [ratio(v.ops_per_s, f.ops_per_s) for v, f in pairs]
            p99s = [ratio(v.p99_ms, f.p99_ms) for v, f in pairs]
            rows.append({
                "server": server,
                "op": op,
                "clients": clients,
                "throughput_ratio": _median(per_round),
                "p50_ratio": _median([ratio(v.p50_ms, f.p50_ms) for v, f in pairs]),
                "p99_ratio": _median(p99s),
                "throughput_ratio_rounds": per_round,
                "p99_ratio_rounds": p99s,
                "target": TARGETS[op],
                "p99_target": P99_TARGET,
            })
    return rows


def _median(values: list[float | None]) -> float | None:
    known = sorted(v for v in values if v is not None)
    if not known:
        return None
    middle = len(known) // 2
    return known[middle] if len(known) % 2 else round((known[middle - 1] + known[middle]) / 2, 3)


def unmet_targets(cells: list[Cell], ratios: list[dict[str, Any]]) -> list[str]:
    unmet = [f"{c.server} {c.op} x{c.clients} round {c.round}: {c.errors} failed requests"
             for c in cells if c.errors]
    for row in ratios:
        value, p99 = row["throughput_ratio"], row["p99_ratio"]
        if value is None or value < row["target"]:
            unmet.append(f"{row['op']} x{row['clients']}: vault/floor throughput {value} "
                         f"< {row['target']}")
        if p99 is None or p99 >= P99_TARGET:
            unmet.append(f"{row['op']} x{row['clients']}: vault/floor p99 {p99} "
                         f">= {P99_TARGET}")
    return unmet


def print_tables(cells: list[Cell], ratios: list[dict[str, Any]]) -> None:
    headers = ["round", "server", "op", "clients", "ops", "errors", "s", "ops/s", "p50 ms",
               "p99 ms"]
    print(format_table(headers, [[c.round, c.server, c.op, c.clients, c.ops, c.errors,
                                  c.seconds, c.ops_per_s, c.p50_ms, c.p99_ms] for c in cells]))
    print()
    headers = ["server", "op", "clients", "throughput / floor (median)", "target",
               "p50 ratio", "p99 ratio", "rounds"]
    print(format_table(headers, [[r["server"], r["op"], r["clients"], r["throughput_ratio"],
                                  r["target"], r["p50_ratio"], r["p99_ratio"],
                                  r["throughput_ratio_rounds"]] for r in ratios]))


def run_rounds(
    servers: dict[str, Server], args: argparse.Namespace, work: Path
) -> tuple[list[Cell], list[dict[str, float]]]:
    """Every cell, interleaved: for each round, concurrency and operation, each server once
    (floor first), so all of them see the same machine load. Each round also times the
    disk's fsync where the audit files are (what a durable line costs at that moment)."""
    cells: list[Cell] = []
    fsyncs = []
    for round_ in range(args.rounds):
        fsyncs.append(fsync_probe(work))
        for clients in CLIENTS:
            for op in OPS:
                for kind, server in servers.items():
                    log(f"round {round_}: {kind} {op} x{clients}: {args.ops} operations")
                    cells.append(run_cell(server, op, clients, args.ops, round_))
    return cells, fsyncs


def fsync_probe(work: Path, count: int = 200) -> dict[str, float]:
    """p50/p99 of appending one audit-sized line and fsyncing it, in ``work``."""
    path = work / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    samples = []
    try:
        for _ in range(count):
            os.write(fd, b"x" * 599 + b"\n")
            begin = time.perf_counter()
            os.fsync(fd)
            samples.append((time.perf_counter() - begin) * 1000)
    finally:
        os.close(fd)
        path.unlink()
    samples.sort()
    return {"p50": round(percentile(samples, 0.5), 3), "p99": round(percentile(samples, 0.99), 3)}


def measure(args: argparse.Namespace) -> int:
    kinds = ["floor", "vault"] + [f"vault-{mode}" for mode in args.also_fsync]
    kinds += ["before"] if args.baseline else []
    with scratch_dir("sw-bench-secrets-", keep=args.keep) as work:
        servers: dict[str, Server] = {}
        try:
            for kind in kinds:
                servers[kind] = start_server(kind, work, args)
            for server in servers.values():
                populate(server)
            cells, fsyncs = run_rounds(servers, args, work)
        finally:
            for server in servers.values():
                stop_server(server)
    ratios = compare(cells, args.rounds)
    before = compare(cells, args.rounds, "before") if args.baseline else []
    others = [r for mode in args.also_fsync for r in compare(cells, args.rounds, f"vault-{mode}")]
    unmet = unmet_targets([c for c in cells if c.server in ("floor", "vault")], ratios)
    print_tables(cells, ratios + others + before)
    print(f"\nfsync of a 600-byte line in the scratch directory, per round (ms): {fsyncs}")
    for reason in unmet:
        print(f"unmet: {reason}")
    emit_result({
        "benchmark": "secrets",
        "rows": [asdict(c) for c in cells],
        "ratios": ratios,
        "before": {"ref": args.baseline, "ratios": before} if args.baseline else None,
        "other_fsync_modes": others,
        "disk_fsync_ms": fsyncs,
        "targets": {"throughput_ratio_min": TARGETS, "p99_ratio_max": P99_TARGET,
                    "clients": list(CLIENTS)},
        "met": not unmet,
        "unmet": unmet,
        "ops_per_cell": args.ops,
        "rounds": args.rounds,
        "fsync": args.fsync,
        "machine": machine(),
    })
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=2000, help="operations per cell")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat every cell this many times, interleaved; medians reported")
    parser.add_argument("--baseline", metavar="GIT_REF",
                        help="also run the secrets server of this commit (e.g. main) as "
                             "'before', interleaved with the others")
    parser.add_argument("--fsync", choices=("always", "batch", "never"), default="batch",
                        help="the audit fsync mode of the vault server (default batch)")
    parser.add_argument("--also-fsync", action="append", default=[],
                        choices=("always", "batch", "never"),
                        help="also run a vault server with this audit fsync mode (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--serve", choices=("vault", "floor", "before"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ops < max(CLIENTS):
        parser.error(f"--ops must be at least {max(CLIENTS)}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        fsync = args.fsync if args.serve == "vault" else None
        return serve(args.serve, args.port, args.dir, fsync)
    return measure(args)


if __name__ == "__main__":
    sys.exit(main())
