"""The whole lifecycle through the CLI: validate, plan, apply, drift, saved plans, destroy."""

from __future__ import annotations

from .conftest import Project

MAIN = """
apiVersion: stackwright.dev/v1
kind: File
metadata:
  name: motd
  labels: {team: platform}
spec:
  path: out/motd.txt
  content: "hello from ${{ var.greeting }}"
  mode: "0644"
---
apiVersion: stackwright.dev/v1
kind: Command
metadata:
  name: announce
spec:
  create: "echo created ${{ File.motd.sha256 }} >> out/log.txt"
  destroy: "echo destroyed >> out/log.txt"
  triggers: {motd: "${{ File.motd.sha256 }}"}
"""


def test_plan_apply_noop_drift_destroy(project_any_state: Project) -> None:
    project_any_state.write("main.yaml", MAIN)
    assert project_any_state.run("validate").code == 0

    plan = project_any_state.run("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.err
    assert "+ File/motd will be created" in plan.out
    assert "Plan: 2 to create, 0 to update, 0 to replace, 0 to destroy." in plan.out

    applied = project_any_state.run("apply", "--yes")
    assert applied.code == 0, applied.err
    assert "Apply complete! Resources: 2 created" in applied.out
    assert (project_any_state.root / "out/motd.txt").read_text() == "hello from dev"
    assert (project_any_state.root / "out/log.txt").read_text().startswith("created ")

    again = project_any_state.run("plan", "--detailed-exitcode")
    assert again.code == 0, again.out + again.err
    assert "No changes." in again.out

    (project_any_state.root / "out/motd.txt").write_text("edited by hand")
    drift = project_any_state.run("drift")
    assert drift.code == 2
    assert "File/motd" in drift.out and "edited by hand" in drift.out

    repair = project_any_state.run("plan", "--detailed-exitcode", "-o", "json")
    assert repair.code == 2
    doc = repair.json()
    actions = {c["address"]: c["action"] for c in doc["changes"]}
    assert actions == {"File/motd": "update"}
    assert project_any_state.run("apply", "--yes").code == 0
    assert (project_any_state.root / "out/motd.txt").read_text() == "hello from dev"

    prod = project_any_state.run("--env", "prod", "plan", "-o", "json")
    assert prod.json()["summary"]["create"] == 2, "state is kept per environment"

    destroyed = project_any_state.run("destroy", "--yes")
    assert destroyed.code == 0, destroyed.err
    assert not (project_any_state.root / "out/motd.txt").exists()
    assert (project_any_state.root / "out/log.txt").read_text().splitlines()[-1] == "destroyed"
    listing = project_any_state.run("state", "list", "-o", "json")
    assert listing.json()["resources"] == []


def test_trigger_change_replaces_and_reruns(project: Project) -> None:
    project.write("main.yaml", MAIN)
    assert project.run("apply", "--yes").code == 0
    out = project.run("--var", "greeting=changed", "plan")
    assert "~ File/motd will be updated in place" in out.out
    assert "-/+ Command/announce must be replaced" in out.out
    assert "(known after apply)" not in out.out, "File's sha256 is predicted at plan time"
    assert project.run("--var", "greeting=changed", "apply", "--yes").code == 0
    log = (project.root / "out/log.txt").read_text().splitlines()
    assert [line.split()[0] for line in log] == ["created", "destroyed", "created"]


def test_saved_plan_applies_exactly_and_stale_plan_is_refused(project_any_state: Project) -> None:
    project_any_state.write("main.yaml", MAIN)
    saved = project_any_state.run("plan", "--out", "plan.json")
    assert saved.code == 0, saved.err
    project_any_state.write("extra.yaml", """
        apiVersion: stackwright.dev/v1
        kind: File
        metadata: {name: extra}
        spec: {path: out/extra.txt, content: extra}
    """)
    applied = project_any_state.run("apply", "plan.json")
    assert applied.code == 0, applied.err
    extra = project_any_state.root / "out/extra.txt"
    assert not extra.exists(), "only what was planned is applied"
    stale = project_any_state.run("apply", "plan.json")
    assert stale.code == 1
    assert "stale" in stale.err


def test_output_graph_history_and_audit(project_any_state: Project) -> None:
    project_any_state.write("main.yaml", MAIN)
    assert project_any_state.run("apply", "--yes").code == 0
    outputs = project_any_state.run("output", "-o", "json").json()
    assert outputs["File/motd"]["size"] == len("hello from dev")
    dot = project_any_state.run("graph").out
    assert '"Command/announce" -> "File/motd";' in dot
    mermaid = project_any_state.run("graph", "--format", "mermaid").out
    assert mermaid.startswith("flowchart LR")
    history = project_any_state.run("state", "history", "-o", "json").json()
    assert [h["operation"] for h in history] == ["apply"]
    assert history[0]["summary"]["create"] == 2
    shown = project_any_state.run("state", "show", "File/motd", "-o", "json").json()
    assert shown["inputs"]["content"] == "hello from dev"
    verify = project_any_state.run("audit", "verify")
    assert verify.code == 0, verify.out + verify.err
    assert project_any_state.run("state", "mv", "File/motd", "File/renamed").code == 0
    assert "File/renamed" in project_any_state.run("state", "list").out
    assert project_any_state.run("state", "rm", "File/renamed").code == 0
    assert (project_any_state.root / "out/motd.txt").exists(), "state rm leaves the object alone"


def test_import_adopts_existing_file(project: Project) -> None:
    (project.root / "existing.txt").write_text("already here")
    project.write("main.yaml", """
        apiVersion: stackwright.dev/v1
        kind: File
        metadata: {name: adopted}
        spec: {path: existing.txt, content: "already here"}
    """)
    imported = project.run("import", "File/adopted", "existing.txt")
    assert imported.code == 0, imported.err
    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 0, plan.out


def test_init_scaffolds_a_valid_project(tmp_path: object, project: Project) -> None:
    fresh = project.root / "fresh"
    from .conftest import Project as P

    p = P(fresh, project.env)
    fresh.mkdir()
    assert p.run("init").code == 0
    assert p.run("validate").code == 0
    assert p.run("apply", "--yes").code == 0
    assert p.run("plan", "--detailed-exitcode").code == 0
