"""``File`` templates: rendering, spec errors, and the engine planning and applying them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from stackwright.builtin.files import FILE_KIND, RENDERED
from stackwright.builtin.templates import render_template
from stackwright.core.engine import ApplyOutcome, Engine, require_changes_applied
from stackwright.core.model import Action, Address, Change, Plan
from stackwright.core.values import UNKNOWN
from stackwright.errors import SpecError, SpecErrors

CONF = Address("File", "conf")


# --- rendering ------------------------------------------------------------------------------


def test_renders_with_vars_no_autoescape_and_keeps_the_last_newline() -> None:
    text = "a = {{ a }}\n{% for x in xs %}{{ x }},{% endfor %}\n"
    rendered = render_template(text, "t.j2", {"a": "<b>&", "xs": [1, 2]})
    assert rendered == "a = <b>&\n1,2,\n"


def test_an_undefined_name_names_the_file_the_line_and_the_vars_given() -> None:
    with pytest.raises(SpecError) as info:
        render_template("one\ntwo {{ greeting }}\nthree {{ missing }}\n", "tpl/motd.j2",
                        {"greeting": "hi", "port": 1})
    err = info.value
    assert err.message == "tpl/motd.j2:3: undefined in the template: 'missing' is undefined"
    assert err.hint == "vars given: greeting, port"
    assert err.field == "spec.template"


def test_a_missing_attribute_and_a_syntax_error_are_located() -> None:
    with pytest.raises(SpecError, match=r"t\.j2:2: undefined in the template: .*'port'"):
        render_template("x\n{{ server.port }}", "t.j2", {"server": {"host": "h"}})
    with pytest.raises(SpecError, match=r"t\.j2:2: template syntax error"):
        render_template("x\n{% if a %}", "t.j2", {"a": 1})


def test_the_sandbox_refuses_internals_and_includes_are_refused() -> None:
    with pytest.raises(SpecError, match="unsafe"):
        render_template("{{ ''.__class__.__mro__ }}", "t.j2", {})
    with pytest.raises(SpecError, match="include and extends are not supported"):
        render_template('{% include "other.j2" %}', "t.j2", {})


def test_is_defined_guards_work_under_strict_undefined() -> None:
    assert render_template("{% if x is defined %}{{ x }}{% endif %}.", "t.j2", {}) == "."


# --- the spec -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ({"path": "a", "content": "x", "template": "t.j2"}, "template",
         "set content or template, not both"),
        ({"path": "a"}, "template", "set content or template: what the file holds"),
        ({"path": "a", "content": "x", "vars": {"a": 1}}, "vars",
         "vars are only used with a template"),
    ],
)
def test_content_or_template_exactly_one(spec: dict[str, object], field: str,
                                         message: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        FILE_KIND.spec_model.model_validate(spec)
    (error,) = info.value.errors()
    assert error["loc"] == (field,)
    assert message in error["msg"]


def test_empty_content_is_still_a_file() -> None:
    spec = FILE_KIND.spec_model.model_validate({"path": "a", "content": ""})
    assert FILE_KIND.normalize(spec) == {"path": "a", "content": ""}


def test_the_spec_error_names_the_field_and_line(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACKWRIGHT_KEY_DIR", str(tmp_path / "keys"))
    root = _project(tmp_path, """
        apiVersion: stackwright.dev/v1
        kind: File
        metadata: {name: conf}
        spec:
          path: out/a.txt
          content: x
          template: t.j2
    """)
    with pytest.raises(SpecErrors) as info:
        Engine(root).project  # noqa: B018 - loading is the point
    assert [str(e) for e in info.value.errors] == [
        "main.yaml:7:13: spec.template: set content or template, not both"]


# --- the engine -----------------------------------------------------------------------------


SPEC = """
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


def test_apply_then_editing_the_template_plans_the_rendered_diff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACKWRIGHT_KEY_DIR", str(tmp_path / "keys"))
    root = _project(tmp_path, SPEC, template="greeting = {{ greeting }}\nport = {{ port }}\n")
    out = root / "out/app.ini"

    first = _change(_engine(root).plan())
    assert first.action is Action.CREATE
    assert first.after is not None and first.after[RENDERED] == "greeting = world\nport = 8080\n"
    _apply(root)
    assert out.read_text() == "greeting = world\nport = 8080\n"
    assert _change(_engine(root).plan()).action is Action.NOOP

    (root / "templates/app.ini.j2").write_text("greeting = {{ greeting | upper }}\n")
    edited = _change(_engine(root).plan())
    assert edited.action is Action.UPDATE
    diffs = {d.path: (d.before, d.after) for d in edited.diffs}
    assert diffs[RENDERED] == ("greeting = world\nport = 8080\n", "greeting = WORLD\n")
    assert "$sources" in diffs
    _apply(root)
    assert out.read_text() == "greeting = WORLD\n"
    assert not _engine(root).plan().has_changes


def test_an_edit_on_disk_is_drift_and_is_planned_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACKWRIGHT_KEY_DIR", str(tmp_path / "keys"))
    root = _project(tmp_path, SPEC, template="port = {{ port }}\n")
    _apply(root)
    (root / "out/app.ini").write_text("port = 1\n")
    (drift,) = _engine(root).drift()
    assert [(d.path, d.before, d.after) for d in drift.diffs] == [
        (RENDERED, "port = 8080\n", "port = 1\n")]
    plan = _change(_engine(root).plan())
    assert plan.action is Action.UPDATE
    assert [(d.path, d.before, d.after) for d in plan.diffs] == [
        (RENDERED, "port = 1\n", "port = 8080\n")]
    _apply(root)
    assert (root / "out/app.ini").read_text() == "port = 8080\n"


def test_an_undefined_variable_fails_the_plan_at_the_template_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACKWRIGHT_KEY_DIR", str(tmp_path / "keys"))
    root = _project(tmp_path, SPEC, template="port = {{ port }}\nname = {{ name }}\n")
    with pytest.raises(SpecError) as info:
        _engine(root).plan()
    assert str(info.value) == (
        "main.yaml:2:1: spec.template: File/conf: templates/app.ini.j2:2: undefined in the "
        "template: 'name' is undefined (vars given: greeting, port)")
    assert not (root / "out/app.ini").exists()


def test_a_missing_template_file_is_a_spec_error(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACKWRIGHT_KEY_DIR", str(tmp_path / "keys"))
    root = _project(tmp_path, SPEC, template=None)
    with pytest.raises(SpecErrors) as info:
        _engine(root).plan()
    assert [str(e) for e in info.value.errors] == [
        "main.yaml:2:1: spec.template: no template file at templates/app.ini.j2 "
        "(spec.template is relative to the project)"]


def test_vars_known_only_after_apply_render_at_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACKWRIGHT_KEY_DIR", str(tmp_path / "keys"))
    root = _project(tmp_path, """
        apiVersion: stackwright.dev/v1
        kind: Command
        metadata: {name: gen}
        spec: {create: "echo generated"}
        ---
        apiVersion: stackwright.dev/v1
        kind: File
        metadata: {name: conf}
        spec:
          path: out/app.ini
          template: templates/app.ini.j2
          vars: {made: "${{ Command.gen.stdout }}"}
    """, template="made = {{ made | trim }}\n")
    planned = _change(_engine(root).plan())
    assert planned.after is not None and planned.after[RENDERED] is UNKNOWN
    _apply(root)
    assert (root / "out/app.ini").read_text() == "made = generated\n"
    assert not _engine(root).plan().has_changes


def test_a_sensitive_variable_makes_the_rendered_content_sensitive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACKWRIGHT_KEY_DIR", str(tmp_path / "keys"))
    root = _project(tmp_path, """
        apiVersion: stackwright.dev/v1
        kind: File
        metadata: {name: conf}
        spec:
          path: out/creds.ini
          template: templates/app.ini.j2
          vars: {token: "${{ var.token }}"}
    """, template="token = {{ token }}\n", extra_vars="  token: {sensitive: true}\n")
    engine = Engine(root, variables={"token": "s3cret-77"})
    change = _change(engine.plan())
    assert {"vars.token", RENDERED} <= change.sensitive
    require_changes_applied(_applied(engine))
    assert (root / "out/creds.ini").read_text() == "token = s3cret-77\n"
    assert b"s3cret-77" not in (root / ".stackwright/state.db").read_bytes()


# --- helpers --------------------------------------------------------------------------------


def _project(tmp_path: Path, spec: str, *, template: str | None = "x\n",
             extra_vars: str = "") -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "stackwright.yaml").write_text(
        f"project: tpl\nvariables:\n  greeting: world\n{extra_vars}")
    (root / "main.yaml").write_text(textwrap.dedent(spec).lstrip())
    if template is not None:
        (root / "templates").mkdir()
        (root / "templates/app.ini.j2").write_text(template)
    return root


def _engine(root: Path) -> Engine:
    return Engine(root)


def _change(plan: Plan) -> Change:
    return next(c for c in plan.changes if c.address == CONF)


def _applied(engine: Engine) -> ApplyOutcome:
    outcome = engine.apply()
    engine.close()
    assert outcome is not None
    return outcome


def _apply(root: Path) -> None:
    engine = _engine(root)
    outcome = engine.apply()
    engine.close()
    assert outcome is not None
    require_changes_applied(outcome)
