"""Blue/green through the real engine on real podman and HAProxy, under a steady request
loop: an automatic switch, then a manual one undone from the CLI; no request fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.integration.delivery.helpers import (
    WEB,
    Background,
    Load,
    apply,
    cli,
    server_weights,
    status,
    truthful_after_abort,
    wait_for,
    write,
)

from stackwright.ports import free_port

pytestmark = pytest.mark.slow

LB = free_port()


def blue_green(auto: bool, delay: str) -> str:
    return ("{strategy: blueGreen, blueGreen: {autoPromotion: " + str(auto).lower()
            + ", scaleDownDelay: " + delay + "}}")


def revisions(root: Path) -> dict[str, int]:
    """Revision -> summed weight of its servers in HAProxy."""
    out: dict[str, int] = {}
    for name, weight in server_weights(root).items():
        rev = name.rpartition("-")[0]
        out[rev] = out.get(rev, 0) + weight
    return out


def test_switch_and_undo_under_load_fail_no_request(project_root: Path, image: str) -> None:
    write(project_root, image, LB, page="blue", deploy=blue_green(True, "1s"))
    assert not apply(project_root).result.failed
    with Load(LB) as load:
        write(project_root, image, LB, page="green", deploy=blue_green(True, "1s"))
        outcome = apply(project_root)
        assert not outcome.result.failed, outcome.result.failed
        assert status(project_root)["state"] == "succeeded"
        assert len(revisions(project_root)) == 1  # the old revision is gone after the delay
        green = next(iter(revisions(project_root)))

        write(project_root, image, LB, page="teal", deploy=blue_green(False, "60s"))
        run = Background(project_root)
        wait_for("the preview", lambda: run.running()
                 and status(project_root)["state"] == "paused")
        weights = revisions(project_root)
        assert weights[green] > 0 and sum(weights.values()) == weights[green]  # preview: 0
        assert "preview: http://127.0.0.1:" in status(project_root)["message"]
        before = load.bodies["teal"]
        assert cli(project_root, "rollout", "promote", "web").returncode == 0
        wait_for("the switch", lambda: run.running()
                 and status(project_root)["state"] == "switched")
        assert revisions(project_root)[green] == 0
        wait_for("teal answering", lambda: load.bodies["teal"] > before + 20)
        assert cli(project_root, "rollout", "undo", "web").returncode == 0
        failed = run.result().result.failed[WEB]
        assert "undone: undo from the CLI after the switch" in failed, failed
        assert set(revisions(project_root)) == {green}
        served_green = load.bodies["green"]
        wait_for("green answering again", lambda: load.bodies["green"] > served_green + 20)
    assert set(load.codes) == {"200"}, load.codes
    assert load.codes["200"] > 200
    assert status(project_root)["state"] == "undone"
    truthful_after_abort(project_root, status(project_root)["stable"])
