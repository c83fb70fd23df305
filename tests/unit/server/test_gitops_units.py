"""GitOps settings (every field's mistake named, with a hint) and the remote CLI's role per
command (reads need viewer, changes developer or operator, nothing outside the project)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackwright.server.cli_runs import CliRefused, command_of, needed_role
from stackwright.server.gitops import GitOpsSettings, GitOpsSettingsError, actor_for

PROTECTED = ("prod",)


def test_settings_with_defaults_and_this_environments_mode(tmp_path: Path) -> None:
    doc = {"gitops": {"repo": "../platform.git", "environments": {"dev": "auto",
                                                                  "prod": "approve"}}}
    dev = GitOpsSettings.read(doc, "dev")
    assert dev is not None and (dev.mode, dev.branch, dev.path, dev.interval) == (
        "auto", "main", ".", 30.0)
    assert (dev.drift_interval, dev.drift_correct) == (300.0, False)
    prod = GitOpsSettings.read(doc, "prod")
    assert prod is not None and prod.mode == "approve"
    other = GitOpsSettings.read(doc, "staging")
    assert other is not None and other.mode is None
    assert dev.repo_for(tmp_path) == str((tmp_path / "../platform.git").resolve())
    url = GitOpsSettings(repo="https://git.example/p.git")
    assert url.repo_for(tmp_path) == "https://git.example/p.git"
    assert GitOpsSettings.read({}, "dev") is None


@pytest.mark.parametrize(("gitops", "field", "hint"), [
    ({}, "settings.gitops.repo", "repo:"),
    ({"repo": "r", "environments": {"dev": "yes"}}, "settings.gitops.environments",
     "auto, prod: approve"),
    ({"repo": "r", "interval": 0}, "settings.gitops.interval", "interval: 30"),
    ({"repo": "r", "interval": True}, "settings.gitops.interval", "interval: 30"),
    ({"repo": "r", "drift": {"correct": "yes"}}, "settings.gitops.drift.correct", "true"),
    ({"repo": "r", "drift": {"interval": -1}}, "settings.gitops.drift.interval", "300"),
    ({"repo": "r", "branch": ""}, "settings.gitops.branch", "branch: main"),
])
def test_each_bad_field_is_named_with_a_hint(gitops: dict[str, object], field: str,
                                             hint: str) -> None:
    with pytest.raises(GitOpsSettingsError) as caught:
        GitOpsSettings.read({"gitops": gitops}, "dev")
    assert f"stackwright.yaml: {field}:" in str(caught.value)
    assert hint in (caught.value.hint or "")


def test_the_actor_names_the_commit() -> None:
    assert actor_for("0123456789abcdef0123") == "gitops@0123456789ab"


@pytest.mark.parametrize(("argv", "command", "dev_role", "prod_role"), [
    (["status"], "status", "viewer", "viewer"),
    (["-o", "json", "state", "list"], "state list", "viewer", "viewer"),
    (["state", "rm", "File/a"], "state rm", "operator", "operator"),
    (["apply", "--yes"], "apply", "developer", "operator"),
    (["--var", "a=b", "destroy", "-y"], "destroy", "developer", "operator"),
    (["rollout", "promote", "web"], "rollout promote", "operator", "operator"),
    (["rollout", "pause", "web"], "rollout pause", "developer", "developer"),
    (["pipeline", "run", "build"], "pipeline run", "developer", "developer"),
    (["pipeline", "approve", "7"], "pipeline approve", "operator", "operator"),
    (["logs", "web", "--follow"], "logs", "viewer", "viewer"),
    (["backup", "restore", "db"], "backup restore", "operator", "operator"),
    (["scan", "src"], "scan", "viewer", "viewer"),
])
def test_role_per_command(argv: list[str], command: str, dev_role: str, prod_role: str
                          ) -> None:
    assert command_of(argv) == command
    assert needed_role(argv, "dev", PROTECTED) == dev_role
    assert needed_role(argv, "prod", PROTECTED) == prod_role


@pytest.mark.parametrize(("argv", "message"), [
    (["-C", "/etc", "status"], "-C is not allowed"),
    (["--state=sqlite:///x.db", "status"], "--state is not allowed"),
    (["scan", "/etc"], "outside the project"),
    (["scan", "a/../../b"], "outside the project"),
    (["--env", "prod", "status"], "serves environment 'dev'"),
    (["secrets", "get", "x"], "does not run on the daemon"),
    (["user", "add", "x"], "does not run on the daemon"),
    (["pipeline", "work"], "does not run on the daemon"),
])
def test_refused_command_lines(argv: list[str], message: str) -> None:
    with pytest.raises(CliRefused) as caught:
        needed_role(argv, "dev", PROTECTED)
    assert message in str(caught.value) and caught.value.status == 400
