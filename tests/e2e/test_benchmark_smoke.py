"""The engine benchmark runs end to end (Stackwright side, 100 resources) and ends with
its JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_engine_benchmark_quick_runs() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/engine_vs_terraform.py"), "--quick",
         "--skip-terraform", "--stackwright", str(Path(sys.executable).with_name("stackwright"))],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert doc["benchmark"] == "engine_vs_terraform"
    ops = {row["op"]: row["stackwright_s"] for row in doc["rows"]}
    assert set(ops) == {"apply", "plan", "destroy"}
    assert all(isinstance(v, float) and v > 0 for v in ops.values())


@pytest.mark.slow
def test_policy_benchmark_small_runs() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/policy.py"), "--sizes", "20", "--repeat", "1"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert doc["benchmark"] == "policy"
    row = doc["rows"][0]
    assert row["size"] == 20 and row["findings"] == 2  # every tenth resource is unlabelled
    assert row["eval_create_s"] > 0 and row["no_change_plan_s"] > 0


@pytest.mark.slow
def test_logs_benchmark_small_runs() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/logs.py"), "--lines", "1000",
         "--store-lines", "3000", "--repeat", "1"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert doc["benchmark"] == "logs"
    assert doc["ingest"]["lines"] == 1000  # every line the container wrote, once
    assert doc["search"]["stored_lines"] == 3000
    assert doc["search"]["rare"]["stackwright_s"] > 0


@pytest.mark.slow
def test_cli_start_benchmark_quick_runs() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks/cli_start.py"), "--rounds",
                           "2"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert doc["benchmark"] == "cli_start" and doc["floor"]["wall_s"] > 0
    assert set(doc["commands"]) == {"help", "validate", "plan"}
    assert all(c["cpu_s"] > doc["floor"]["cpu_s"] for c in doc["commands"].values())
