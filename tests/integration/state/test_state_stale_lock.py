"""A lock left by a process that was killed is taken over; a live holder's lock is not."""

from __future__ import annotations

import base64
import signal
import subprocess
import sys
import textwrap

import pytest

from stackwright.core.state import Cipher, StateStore
from stackwright.errors import LockError

pytestmark = pytest.mark.slow

HOLDER = textwrap.dedent("""
    import base64, sys, time
    from stackwright.core.state import Cipher, StateStore
    store = StateStore.open(sys.argv[1], cipher=Cipher(base64.b64decode(sys.argv[2])))
    with store.lock("shop", "dev", operation="apply", who="crashy") as info:
        print(info.id, flush=True)
        time.sleep(120)
""")


def test_lock_of_killed_process_is_taken_over(
    store: StateStore, state_url: str, state_key: Cipher
) -> None:
    key = base64.b64encode(bytes(range(32))).decode()  # the key of the state_key fixture
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, state_url, key], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        dead_id = child.stdout.readline().strip()
        assert dead_id
        with pytest.raises(LockError, match=f"pid {child.pid}"):
            with store.lock("shop", "dev", operation="apply", timeout=0.2):
                pass
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    with store.lock("shop", "dev", operation="apply") as info:
        assert info.replaced is not None
        assert info.replaced.id == dead_id and info.replaced.pid == child.pid
        assert info.replaced.holder.startswith("crashy@")
    assert store.current_lock("shop", "dev") is None
