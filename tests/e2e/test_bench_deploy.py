"""The deploy benchmark runs end to end at --quick settings (real podman, HAProxy, the CLI and
the daemon) and ends with its JSON line; it leaves no container behind."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.podman_cleanup import remove_images

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bench_images() -> Iterator[None]:
    if shutil.which("podman") is None or shutil.which("haproxy") is None:
        pytest.skip("podman and haproxy are needed")
    yield
    remove_images("localhost/stackwright/bench-deploy")


def leftovers(project: str) -> list[str]:
    done = subprocess.run(["podman", "ps", "-a", "--format", "{{.Names}}", "--filter",
                           f"label=dev.stackwright.project={project}"],
                          capture_output=True, text=True, check=True)
    return done.stdout.split()


@pytest.mark.slow
def test_deploy_benchmark_quick_runs(bench_images: None) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/deploy.py"), "--quick",
         "--stackwright", str(Path(sys.executable).with_name("stackwright"))],
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert doc["benchmark"] == "deploy" and doc["errors"] == []
    start = doc["start"]
    assert len(start["floor_s"]) == len(start["apply_s"]) == 1
    assert start["floor_median_s"] > 0 and start["apply_median_s"] > 0
    assert start["ratio"] == pytest.approx(start["apply_median_s"] / start["floor_median_s"],
                                           rel=0.01)
    rollout = doc["rollout"]
    assert rollout["whole_run"]["requests"] >= 100  # 50 req/s for about 4 s at least
    assert rollout["answers"].get("v1", 0) > 0 and rollout["answers"].get("v2", 0) > 0
    assert rollout["during_rollout"]["latency_ms"]["p99"] is not None
    repair = doc["repair"]
    if repair.get("skipped"):
        assert repair["seconds"] is None and "no controller" in repair["skipped"]
    else:
        assert repair["seconds"] > 0 and len(repair["kills"]) == 1
        killed = repair["kills"][0]["killed"]
        assert killed.startswith(f"sw-{doc['project']}-") and "-dev-web-" in killed
    assert leftovers(doc["project"]) == []
