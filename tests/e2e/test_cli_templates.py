"""A ``File`` rendered from a template, through the CLI: plan shows the rendered text, editing
the template plans an update, an undefined name fails with the template's file and line."""

from __future__ import annotations

from .conftest import Project

MAIN = """
apiVersion: stackwright.dev/v1
kind: File
metadata: {name: conf}
spec:
  path: out/app.ini
  template: templates/app.ini.j2
  vars:
    greeting: "${{ var.greeting }}"
    port: 8080
"""


def test_template_plan_apply_edit_and_undefined_name(project: Project) -> None:
    project.write("main.yaml", MAIN)
    project.write("templates/app.ini.j2", "greeting = {{ greeting }}\nport = {{ port }}\n")
    out = project.root / "out/app.ini"

    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.err
    assert '+ $content = "greeting = dev\\nport = 8080\\n"' in plan.out
    applied = project.run("apply", "--yes")
    assert applied.code == 0, applied.err
    assert out.read_text() == "greeting = dev\nport = 8080\n"
    assert project.run("plan", "--detailed-exitcode").code == 0

    project.write("templates/app.ini.j2", "greeting = {{ greeting | upper }}\n")
    edited = project.run("plan", "--detailed-exitcode")
    assert edited.code == 2, edited.err
    assert "~ File/conf will be updated in place" in edited.out
    assert ('~ $content: "greeting = dev\\nport = 8080\\n" -> "greeting = DEV\\n"'
            in edited.out)
    assert project.run("apply", "--yes").code == 0
    assert out.read_text() == "greeting = DEV\n"

    project.write("templates/app.ini.j2", "greeting = {{ greeting }}\nname = {{ name }}\n")
    failed = project.run("plan")
    assert failed.code == 1
    assert ("main.yaml:2:1: spec.template: File/conf: templates/app.ini.j2:2: undefined in "
            "the template: 'name' is undefined (vars given: greeting, port)") in failed.err
    assert out.read_text() == "greeting = DEV\n"
