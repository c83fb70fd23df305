"""Two checkouts of the bundled example on one host (issue 15): two copies of
examples/quickstart, with the same project name and environment, are up at the same time
(their public ports and subnets set by variables), each serves its own data, `down` and `up`
of one leave the other serving, and destroying one leaves every object of the other
running."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackwright.ports import free_port
from tests.e2e.test_quickstart import EXAMPLE, fetch
from tests.fixtures.cli import STACKWRIGHT, Project
from tests.fixtures.podman_cleanup import (
    free_subnet,
    owned_objects,
    project_scope,
    remove_images,
    remove_project_objects,
)

pytestmark = pytest.mark.slow


class Checkout(Project):
    """A copy of the example with its own port, metrics port and subnet."""

    def __init__(self, root: Path) -> None:
        shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(
            ".stackwright", "out", "__pycache__"))
        env = {**os.environ, "STACKWRIGHT_KEY_DIR": str(root.parent / f"{root.name}-keys"),
               "NO_COLOR": "1"}
        for name in ("STACKWRIGHT_STATE", "STACKWRIGHT_STATE_KEY"):
            env.pop(name, None)
        super().__init__(root, env)
        self.port = free_port()
        self.vars = ["--var", f"subnet={free_subnet('10.216')}", "--var", f"port={self.port}",
                     "--var", f"metricsPort={free_port()}"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def sw(self, *args: str, timeout: float = 600) -> dict[str, object]:
        done = self.run(*self.vars, *args, "-o", "json", timeout=timeout)
        assert done.code == 0, f"{STACKWRIGHT} {' '.join(args)}:\n{done.out}\n{done.err}"
        return dict(json.loads(done.out)) if done.out.strip().startswith("{") else {}

    def containers(self) -> list[str]:
        return owned_objects("container", "quickstart", self.root)


@pytest.fixture
def checkouts() -> Iterator[tuple[Checkout, Checkout]]:
    base = Path(tempfile.mkdtemp(prefix="sw2co", dir="/tmp"))  # short: HAProxy sockets
    a, b = Checkout(base / "a"), Checkout(base / "b")
    try:
        yield a, b
    finally:
        for c in (a, b):
            c.run(*c.vars, "down", timeout=120)
            remove_project_objects("quickstart", c.root)
            remove_images("localhost/quickstart/*", c.root)
            remove_images("localhost/stackwright/quickstart-*", c.root)
        shutil.rmtree(base, ignore_errors=True)


def test_two_copies_of_the_example_run_side_by_side(checkouts: tuple[Checkout, Checkout]
                                                    ) -> None:
    a, b = checkouts
    a.sw("up", timeout=1500)
    # the second checkout on the first one's public port: refused, naming who holds it
    taken = [*b.vars[:2], "--var", f"port={a.port}", *b.vars[4:]]
    clash = b.run(*taken, "apply", "--yes", "-o", "json", timeout=1500)
    assert clash.code == 1, clash.out
    assert "already in use by haproxy" in clash.out, clash.out  # the whole answer when not
    assert f"environment dev in {a.root}" in clash.out
    b.sw("up", timeout=900)
    assert project_scope("quickstart", a.root).key != project_scope("quickstart", b.root).key

    for c in (a, b):  # each serves, with its own database
        assert json.loads(fetch(f"{c.url}/"))["visits"] >= 1
    assert fetch(f"{a.url}/guestbook?name=ada", "POST").strip() == "signed"
    assert json.loads(fetch(f"{a.url}/guestbook")) == ["ada"]
    assert json.loads(fetch(f"{b.url}/guestbook")) == []

    ids = [c.sw("output", "Service/web")["Service/web"] for c in (a, b)]
    web_a, web_b = (dict(i)["id"] for i in ids)  # type: ignore[call-overload]
    assert web_a != web_b and all(str(w).startswith("sw-quickstart-") for w in (web_a, web_b))
    b_running = b.containers()
    assert len(b_running) >= 4  # two replicas, the database and the cache

    a.sw("down")  # make down in one checkout, then make up again: the other keeps serving
    assert b.containers() == b_running
    assert json.loads(fetch(f"{b.url}/"))["visits"] >= 2
    a.sw("up", timeout=900)
    assert json.loads(fetch(f"{a.url}/guestbook")) == ["ada"]

    a.sw("destroy", "--yes")
    assert a.containers() == []
    assert b.containers() == b_running, "destroying one checkout touched the other"
    assert json.loads(fetch(f"{b.url}/"))["visits"] >= 3
    status = b.sw("status")
    health = {r["address"]: r["health"] for r in status["resources"]}  # type: ignore[attr-defined]
    assert set(health.values()) == {"healthy"}, health

    b.sw("destroy", "--yes")
    assert b.containers() == []
