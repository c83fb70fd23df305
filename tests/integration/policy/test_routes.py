"""/api/v1/policy/ on a real daemon: a plan's policy results, the policies' Rego tests and a
scan of a path inside the project, called by a viewer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.integration.server.daemon_fixture import Daemon, start_daemon, stop_daemon

pytestmark = pytest.mark.slow

POLICY = """
apiVersion: stackwright.dev/v1
kind: Policy
metadata: {name: baseline}
spec:
  library: [required-labels]
  params: {labelled_kinds: [File]}
  tests: [policies/labels_test.rego]
  enforcement: hard-mandatory
"""
TEST = """package stackwright.lib.required_labels
import rego.v1

test_file_without_labels_denied if {
  count(deny) == 1 with input.changes as [
    {"address": "Service/x", "kind": "Service", "action": "create", "labels": {}}]
}
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = start_daemon(tmp_path_factory.mktemp("policy-routes"))
    d.project.write("policy.yaml", POLICY)
    d.project.write("policies/labels_test.rego", TEST)
    d.project.write("logs/deploy.log", "token ghp_abcdefghijklmnopqrstuvwxyz0123456789\n")
    try:
        yield d
    finally:
        stop_daemon(d.proc)


def get(daemon: Daemon, route: str, **params: str) -> httpx.Response:
    return httpx.get(f"{daemon.api}/api/v1/policy/{route}", params=params, timeout=300,
                     headers={"Authorization": f"Bearer {daemon.tokens['vic']}"})


def test_the_plan_results_name_the_denied_resource(daemon: Daemon) -> None:
    res = get(daemon, "results")
    assert res.status_code == 200, res.text
    doc = res.json()
    assert doc["refused"] is True and doc["environment"] == "dev"
    assert [(r["address"], r["level"], r["enforcement"]) for r in doc["results"]] == [
        ("File/motd", "deny", "hard-mandatory")]


def test_policy_tests_pass_and_a_broken_one_fails(daemon: Daemon) -> None:
    res = get(daemon, "tests")
    assert res.status_code == 200, res.text
    assert res.json()["ok"] is True and res.json()["passed"] == 1
    test_file = Path(daemon.project.root / "policies/labels_test.rego")
    test_file.write_text(TEST.replace("count(deny) == 1", "count(deny) == 2"))
    try:
        broken = get(daemon, "tests").json()
        assert broken["ok"] is False and broken["failed"] == 1
    finally:
        test_file.write_text(TEST)


def test_scan_of_a_path_inside_the_project_only(daemon: Daemon) -> None:
    res = get(daemon, "scan", path="logs", fail_on="high")
    assert res.status_code == 200, res.text
    doc = res.json()
    assert doc["ok"] is False and doc["path"] == "logs"
    assert [(f["rule"], f["file"], f["line"]) for f in doc["findings"]] == [
        ("SW-SECRET", "deploy.log", 1)]
    assert "ghp_abcdefghijklmnopqrstuvwxyz" not in res.text
    outside = get(daemon, "scan", path="../..")
    assert outside.status_code == 400 and "not inside the project" in outside.text
