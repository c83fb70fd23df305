"""Workspace writer locks on SQLite and (slow) PostgreSQL."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest

from stackwright.core.state import Cipher, StateStore
from stackwright.errors import LockError


@pytest.fixture()
def second(state_url: str, state_key: Cipher) -> Iterator[StateStore]:
    """Another store on the same database, as another CLI process would open it."""
    opened = StateStore.open(state_url, cipher=state_key)
    yield opened
    opened.close()


def test_lock_info_and_release(store: StateStore) -> None:
    with store.lock("shop", "dev", operation="apply", who="ana") as info:
        assert info.pid == os.getpid() and info.holder.startswith("ana@")
        assert info.operation == "apply" and info.replaced is None
        assert store.current_lock("shop", "dev") == info
    assert store.current_lock("shop", "dev") is None


def test_held_lock_waits_for_timeout_then_names_holder(
    store: StateStore, second: StateStore
) -> None:
    with store.lock("shop", "dev", operation="apply", who="ana") as held:
        started = time.monotonic()
        with pytest.raises(LockError) as err:
            with second.lock("shop", "dev", operation="destroy", timeout=0.3):
                pass
        assert time.monotonic() - started >= 0.3
        message = str(err.value)
        assert held.holder in message and f"pid {os.getpid()}" in message
        assert held.host in message and "'apply'" in message and held.created_at in message
        assert f"stackwright force-unlock {held.id}" in message
        with second.lock("shop", "prod", operation="apply"):
            pass  # other workspaces are free


def test_two_threads_contend(store: StateStore, second: StateStore) -> None:
    order: list[str] = []
    first_in = threading.Event()

    def hold() -> None:
        with store.lock("shop", "dev", operation="apply"):
            order.append("first in")
            first_in.set()
            time.sleep(0.3)
            order.append("first out")

    thread = threading.Thread(target=hold)
    thread.start()
    assert first_in.wait(5)
    with second.lock("shop", "dev", operation="apply", timeout=10):
        order.append("second in")
    thread.join()
    assert order == ["first in", "first out", "second in"]


def test_force_unlock(store: StateStore, second: StateStore) -> None:
    with store.lock("shop", "dev", operation="apply") as held:
        with pytest.raises(LockError, match=held.id):
            second.force_unlock("shop", "dev", "not-the-id")
        removed = second.force_unlock("shop", "dev", held.id)
        assert removed == held
        with second.lock("shop", "dev", operation="apply") as taken:
            assert taken.id != held.id
    with pytest.raises(LockError):
        store.force_unlock("shop", "dev", held.id)
