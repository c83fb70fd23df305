"""Log collection and search against their floors.

1. Ingestion: a real podman container writes ``--lines`` lines to stdout and exits; the
   collector's core (``collect_once``: read podman's k8s-file log from its offset, parse each
   record and its JSON, mask, insert into SQLite + FTS5, commit the offset) stores them.
   Floor: reading the same log file and splitting it into records (no parsing, no storing).
2. Search: ``--store-lines`` lines (one million by default) in the store; ``logs --grep``'s
   query (a rare and a common term) against ``grep -F -i`` on the same messages as a text
   file, median of ``--repeat`` runs each.

Target: ingestion at least 50,000 lines/s (the collector keeps up with a chatty service);
a rare-term grep faster than ``grep`` on the text file.

    .venv/bin/python benchmarks/logs.py                 # 200k lines ingested, 1M searched
    .venv/bin/python benchmarks/logs.py --quick         # 20k / 100k (smoke)
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import emit_result  # noqa: E402

from stackwright.observe.logcollect import Source, collect_once  # noqa: E402
from stackwright.observe.logstore import LogStore, Query  # noqa: E402

RARE = "needle-4242"
BENCH_LABEL = "dev.stackwright.bench=logs"
COMMON = "checkout"


def container_log(lines: int, work: Path) -> tuple[Path, str]:
    """A container that printed ``lines`` lines; its k8s-file log path and name."""
    from stackwright.tools.images import busybox_rootfs_image
    from stackwright.tools.podman import Podman, PodmanSettings

    podman = Podman(PodmanSettings(state_dir=work / "podman"))
    cache = Path("/var/tmp/stackwright-test-cache")
    image = busybox_rootfs_image(podman, cache_dir=cache).ref
    name = f"sw-bench-logs-{uuid.uuid4().hex[:8]}"
    script = (f"seq 1 {lines} | sed 's|.*|{{\"level\":\"info\",\"msg\":\"GET /{COMMON} &"
              f" 200\",\"trace_id\":\"t&\"}}|'")
    done = podman.probe(["run", "--name", name, "--label", BENCH_LABEL,
                         image, "sh", "-c", script])
    if done.returncode != 0:
        raise SystemExit(f"podman run failed: {done.stderr[-800:]}")
    path = podman.probe(["inspect", "--format", "{{.HostConfig.LogConfig.Path}}", name])
    return Path(path.stdout.strip()), name


def floor_read(path: Path) -> tuple[float, int]:
    started = time.perf_counter()
    count = 0
    with open(path, "rb") as f:
        for _raw in f:
            count += 1  # one record (a line, or part of a long one)
    return time.perf_counter() - started, count


def ingest(path: Path, work: Path, name: str) -> tuple[float, int]:
    store = LogStore(work / f"ingest-{uuid.uuid4().hex[:6]}.db")
    source = Source(name, str(path), "bench", "r1", "1", secrets=("not-in-these-lines",))
    started = time.perf_counter()
    stored = 0
    while True:
        n = collect_once(store, [source], "bench")
        if not n:
            break
        stored += n
    seconds = time.perf_counter() - started
    store.close()
    return seconds, stored


def synthetic_log(path: Path, lines: int) -> None:
    with open(path, "w") as f:
        for i in range(lines):
            word = RARE if i % 100_000 == 4242 else f"item-{i % 977}"
            f.write(f"2026-12-03T09:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}"
                    f"000000+00:00 stdout F GET /{COMMON}/{word} 200 {i}\n")


def search(work: Path, lines: int, repeat: int) -> dict[str, Any]:
    log = work / "big.log"
    synthetic_log(log, lines)
    store = LogStore(work / "search.db")
    load_s, stored = ingest_store(store, log)
    text = work / "messages.txt"
    with open(text, "w") as out:
        for row in _messages(log):
            out.write(row + "\n")
    result: dict[str, Any] = {"stored_lines": stored, "load_s": round(load_s, 3)}
    for label, term in (("rare", RARE), ("common", COMMON)):
        ours = [_time(lambda term=term: store.query(Query(grep=term, limit=1000)))
                for _ in range(repeat)]
        peer = [_time(lambda term=term: subprocess.run(
                    ["grep", "-F", "-i", "-m", "1000", term, str(text)],
                    capture_output=True, check=False)) for _ in range(repeat)]
        result[label] = {"term": term, "stackwright_s": round(statistics.median(ours), 5),
                         "grep_s": round(statistics.median(peer), 5),
                         "ratio": round(statistics.median(ours) / statistics.median(peer), 3)}
    store.close()
    return result


def ingest_store(store: LogStore, log: Path) -> tuple[float, int]:
    source = Source("bench", str(log), "bench", "r1", "1")
    started = time.perf_counter()
    stored = 0
    while n := collect_once(store, [source], "bench"):
        stored += n
    return time.perf_counter() - started, stored


def _messages(log: Path) -> list[str]:
    with open(log) as f:
        return [ln.rstrip("\n").split(" ", 3)[3] for ln in f]


def _time(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=200_000, help="lines a container writes")
    p.add_argument("--store-lines", type=int, default=1_000_000, help="lines searched")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="20k ingested, 100k searched")
    args = p.parse_args(argv)
    if args.quick:
        args.lines, args.store_lines, args.repeat = 20_000, 100_000, 3
    work = Path(tempfile.mkdtemp(prefix="sw-bench-logs-"))
    doc: dict[str, Any] = {"benchmark": "logs", "targets": {
        "ingest_lines_per_s_min": 50_000, "rare_grep_ratio_max": 1.0}}
    name = None
    try:
        if shutil.which("podman"):
            path, name = container_log(args.lines, work)
            floor_s, floor_n = floor_read(path)
            ours_s, stored = ingest(path, work, name)
            doc["ingest"] = {"lines": stored, "floor_records": floor_n,
                             "stackwright_s": round(ours_s, 3), "floor_s": round(floor_s, 4),
                             "stackwright_lines_per_s": round(stored / ours_s),
                             "floor_records_per_s": round(floor_n / floor_s),
                             "ratio": round(ours_s / floor_s, 2)}
            print(f"ingest: {stored} lines in {ours_s:.2f}s ({stored / ours_s:,.0f}/s); "
                  f"floor: reading its {floor_n} records {floor_s:.3f}s "
                  f"({floor_n / floor_s:,.0f}/s)")
        doc["search"] = search(work, args.store_lines, args.repeat)
        for label in ("rare", "common"):
            s = doc["search"][label]
            print(f"grep {label} {s['term']!r} over {doc['search']['stored_lines']} lines: "
                  f"{s['stackwright_s'] * 1000:.1f} ms vs grep {s['grep_s'] * 1000:.1f} ms")
    finally:
        if name:
            subprocess.run(["podman", "rm", "-f", name], capture_output=True, check=False)
        elif shutil.which("podman"):  # a run that failed half-way: its container by label
            subprocess.run(["podman", "rm", "-f", "--filter", f"label={BENCH_LABEL}"],
                           capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)
    ingest_rate = (doc.get("ingest") or {}).get("stackwright_lines_per_s", 0)
    doc["met"] = {"ingest": ingest_rate >= 50_000,
                  "rare_grep": doc["search"]["rare"]["ratio"] <= 1.0}
    emit_result(doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
