"""A plan made while another writer holds the lock says who is changing a resource, instead of
calling it an interrupted apply (which it says once that writer is gone)."""

from __future__ import annotations

from pathlib import Path

from stackwright.core.engine import Engine
from stackwright.core.model import Action, Address, Status

MOTD = Address("File", "motd")


def _project(root: Path) -> Path:
    (root / "stackwright.yaml").write_text("project: busy\nenvironments: {dev: {}}\n")
    (root / "main.yaml").write_text(
        "apiVersion: stackwright.dev/v1\nkind: File\nmetadata: {name: motd}\n"
        "spec: {path: out/motd.txt, content: hello}\n")
    return root


def test_a_resource_another_writer_changes_now_is_named_as_such(tmp_path: Path) -> None:
    root = _project(tmp_path)
    eng = Engine(root)
    assert eng.apply(None).result.ok  # type: ignore[union-attr]
    serial = eng.store.begin_run("busy", "dev", operation="repair", actor="daemon/services")
    eng.store.mark_started("busy", "dev", MOTD, Status.UPDATING, serial=serial, depends_on=())

    def reason() -> str:
        other = Engine(root)
        try:
            change = next(c for c in other.plan().changes if c.address == MOTD)
        finally:
            other.close()
        assert change.action is Action.UPDATE
        return str(change.reason)

    assert reason() == "a previous apply was interrupted while updating it"
    with eng.store.lock("busy", "dev", operation="repair", who="daemon/services"):
        busy = reason()
    assert busy.startswith("daemon/services@") and " is updating it right now (repair, pid " in busy
    assert reason() == "a previous apply was interrupted while updating it"
    eng.close()
