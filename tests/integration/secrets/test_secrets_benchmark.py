"""The secrets benchmark runs end to end with tiny counts and ends with its JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_secrets_benchmark_smoke_run() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/secrets_api.py"), "--ops", "32"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert doc["benchmark"] == "secrets"
    cells = {(r["server"], r["op"], r["clients"]): r for r in doc["rows"]}
    assert set(cells) == {
        (server, op, clients)
        for server in ("vault", "floor") for op in ("write", "read") for clients in (1, 16)
    }
    for row in cells.values():
        assert row["errors"] == 0 and row["ops"] >= 16
        assert row["ops_per_s"] > 0 and 0 < row["p50_ms"] <= row["p99_ms"]
    assert {(r["op"], r["clients"]) for r in doc["ratios"]} == {
        (op, clients) for op in ("write", "read") for clients in (1, 16)
    }
    assert all(r["throughput_ratio"] > 0 for r in doc["ratios"])
    assert isinstance(doc["met"], bool) and doc["targets"]["throughput_ratio_min"]
