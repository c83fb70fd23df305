"""A run's waiting: commands left in its record by another process (a real SQLite record)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from stackwright.core.kinds import DriverContext
from stackwright.delivery.records import RolloutStore
from stackwright.delivery.run import Interrupt, RolloutRun
from stackwright.services.identity import Identity


def make_run(tmp_path: Path) -> tuple[RolloutRun, RolloutStore]:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    rollout = SimpleNamespace(ident=Identity("p", "dev", "web"), spec=None, revision="bbb",
                              log=lambda line: None)
    run = RolloutRun(DriverContext(tmp_path, "dev"), rollout, RolloutStore(url),  # type: ignore[arg-type]
                     "me")
    run.strategy = "canary"
    run.begin("aaa", 2)
    return run, RolloutStore(url)


def test_a_paused_wait_does_not_end_until_resumed(tmp_path: Path) -> None:
    run, cli = make_run(tmp_path)
    cli.request("p", "dev", "web", "pause")
    waiter = threading.Thread(target=run.wait, args=(0.5,))
    waiter.start()
    time.sleep(1.5)
    assert waiter.is_alive(), "a 0.5 s wait ended while paused"
    assert cli.latest("p", "dev", "web").state == "paused"  # type: ignore[union-attr]
    cli.request("p", "dev", "web", "resume")
    waiter.join(30)
    assert not waiter.is_alive()


def test_promote_ends_a_gate_and_abort_interrupts(tmp_path: Path) -> None:
    run, cli = make_run(tmp_path)
    cli.request("p", "dev", "web", "promote")
    run.wait(None, gate=True)  # returns: promoted
    cli.request("p", "dev", "web", "abort")
    with pytest.raises(Interrupt, match="abort from the CLI"):
        run.wait(None, gate=True)


def test_cancelling_the_apply_interrupts_as_an_abort(tmp_path: Path) -> None:
    run, _ = make_run(tmp_path)
    run.ctx.cancelled.set()
    with pytest.raises(Interrupt, match="cancelled"):
        run.wait(60)
