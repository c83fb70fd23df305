"""What the services integration tests share: ports, HTTP, the CLI, waiting."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from stackwright.ports import free_port  # noqa: F401 - the tests import it from here

STACKWRIGHT = str(Path(sys.executable).with_name("stackwright"))


def get(url: str, timeout: float = 2.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return str(resp.read().decode().strip())


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STACKWRIGHT, "-C", str(root), *args], capture_output=True,
                          text=True, timeout=180)


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60.0) -> float:
    """Seconds until ``check()`` held; AssertionError naming ``what`` past ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
