"""A scratch Redis is stopped by another process (``backup discard``) from its handle."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stackwright.recover import scratch

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis")]


def _running(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


def test_discard_from_another_process_stops_the_scratch_redis() -> None:
    """redis-server rewrites its command line, so the handle is matched by its directory;
    matching on the command line left every discarded scratch Redis running."""
    redis = scratch.new_redis_dir()
    redis.start()
    assert redis.process is not None
    pid = redis.process.pid
    try:
        code = ("from pathlib import Path; from stackwright.recover import scratch; "
                f"scratch.stop_redis(Path({str(redis.root)!r}), {pid})")
        subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
        redis.process.wait(timeout=30)
        assert not _running(pid)
        assert not redis.root.exists()
    finally:
        redis.stop()


def test_a_pid_serving_elsewhere_is_left_alone(tmp_path: Path) -> None:
    redis = scratch.new_redis_dir()
    redis.start()
    assert redis.process is not None
    try:
        scratch.stop_redis(tmp_path / "not-its-dir", redis.process.pid)
        assert _running(redis.process.pid)
    finally:
        redis.stop()
