"""Blue/green pre-promotion analysis on real podman and HAProxy: the http provider requests
the preview (its replicas' own endpoints, which HAProxy sends nothing before the switch); a
good preview is switched to, a bad one never is: it is scaled down, no user request reaches
it, and the apply fails with the measurements."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.integration.delivery.helpers import (
    WEB,
    Load,
    apply,
    record,
    server_weights,
    status,
    truthful_after_abort,
    write,
)

from stackwright.ports import free_port

pytestmark = pytest.mark.slow

LB = free_port()
DEPLOY = ("{strategy: blueGreen, blueGreen: {scaleDownDelay: 1s, prePromotionAnalysis: "
          "{metrics: [{name: preview-errors, provider: http, metric: error_ratio, "
          "path: /cgi-bin/app, requests: 20, minRequests: 20, interval: 1s, count: 2, "
          "failureCondition: result > 0.2}]}}}")


def revisions(root: Path) -> set[str]:
    return {n.rpartition("-")[0] for n, w in server_weights(root).items() if w > 0}


def test_a_good_preview_is_switched_to_and_a_bad_one_never_is(project_root: Path,
                                                              image: str) -> None:
    write(project_root, image, LB, page="blue", deploy=DEPLOY)
    assert not apply(project_root).result.failed
    write(project_root, image, LB, page="green", deploy=DEPLOY)
    outcome = apply(project_root)
    assert not outcome.result.failed, outcome.result.failed
    doc = status(project_root)
    assert doc["state"] == "succeeded"
    assert [m["phase"] for m in doc["measurements"]] == ["Successful", "Successful"]
    assert "pre-promotion analysis passed" in [e["what"] for e in doc["events"]]
    green = doc["revision"]
    assert revisions(project_root) == {green}

    write(project_root, image, LB, page="bad", error_rate=0.8, deploy=DEPLOY)
    with Load(LB) as load:
        outcome = apply(project_root)
    message = outcome.result.failed[WEB]
    assert "aborted: pre-promotion analysis failed: preview-errors: Failed" in message, message
    assert f"revision {green} serves every request" in message
    assert set(load.codes) == {"200"} and load.bodies["bad"] == 0, (load.codes, load.bodies)
    assert set(server_weights(project_root)) == {n for n in server_weights(project_root)
                                                 if n.startswith(green + "-")}
    doc = status(project_root)
    assert doc["state"] == "aborted" and doc["measurements"][0]["phase"] == "Failed"
    assert not any(e["what"].startswith("switched") for e in doc["events"])
    assert record(project_root) == ("ready", green)
    truthful_after_abort(project_root, green)
