"""Environments, overrides and variable precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackwright.core.kinds import Kind
from stackwright.core.model import Address
from stackwright.core.spec.loader import load_config, resolve_environment
from stackwright.errors import SpecError
from stackwright.registry import Registry

from .conftest import Write
from .helpers import doc, errors_of, load

CONFIG = """\
project: demo
defaultEnvironment: dev
variables:
  greeting: world
  replicas: {default: 2, type: integer}
  db_password: {sensitive: true, description: "the database password"}
  flags: {default: [a], type: list}
environments:
  dev:
    variables: {greeting: dev}
  prod:
    variables: {greeting: prod, replicas: 5}
    overrides:
      File/motd: {spec: {mode: "0600", owner: {user: root}}}
"""
MOTD = doc(
    "File",
    "motd",
    '  path: out/motd.txt\n  content: "hi ${{ var.greeting }} x${{ var.replicas }}"\n'
    "  owner: {user: me, group: staff}\n",
)
SECRET = doc("Command", "secret", "  create: echo\n  triggers:\n    pw: ${{ var.db_password }}\n")
PW = {"db_password": "s3cret"}


@pytest.fixture
def root(write: Write) -> Path:
    return write({"main.yaml": MOTD + "---\n" + SECRET}, config=CONFIG)


def spec_of(root: Path, kinds: Registry[Kind], **kwargs: object) -> dict[str, object]:
    project = load(root, kinds, **kwargs)  # type: ignore[arg-type]
    return dict(project.declared[Address("File", "motd")].spec)


def test_environment_values_and_overrides(root: Path, kinds: Registry[Kind]) -> None:
    assert spec_of(root, kinds, variables=PW)["content"] == "hi dev x2"
    prod = spec_of(root, kinds, environment="prod", variables=PW)
    assert prod == {
        "path": "out/motd.txt",
        "content": "hi prod x5",
        "mode": "0600",
        "owner": {"user": "root", "group": "staff"},
    }


def test_precedence_cli_then_env_var_then_environment_then_default(
    root: Path, kinds: Registry[Kind]
) -> None:
    environ = {"STACKWRIGHT_VAR_greeting": "from-env", "STACKWRIGHT_VAR_replicas": "7"}
    both = spec_of(
        root, kinds, environment="prod", variables={**PW, "greeting": "cli"}, environ=environ
    )
    assert both["content"] == "hi cli x7"
    env_only = spec_of(root, kinds, environment="prod", variables=PW, environ=environ)
    assert env_only["content"] == "hi from-env x7"
    assert spec_of(root, kinds, environment="prod", variables=PW)["content"] == "hi prod x5"
    assert spec_of(root, kinds, environment="dev", variables=PW)["content"] == "hi dev x2"


def test_typed_variables_are_coerced_from_text(root: Path, kinds: Registry[Kind]) -> None:
    project = load(root, kinds, variables={**PW, "replicas": "3", "flags": "[b, c]"})
    assert project.variables["replicas"] == 3
    assert project.variables["flags"] == ["b", "c"]


def test_bad_text_for_a_typed_variable(root: Path, kinds: Registry[Kind]) -> None:
    assert errors_of(root, kinds, variables={**PW, "replicas": "many"}) == [
        "var.replicas: variable 'replicas': expected an integer, got 'many' (as given)"
    ]


def test_required_variable_without_value(root: Path, kinds: Registry[Kind]) -> None:
    assert errors_of(root, kinds) == [
        "stackwright.yaml:6:3: variables.db_password: variable 'db_password' is required and has "
        "no value in 'dev' (give it with --var db_password=..., $STACKWRIGHT_VAR_db_password, "
        "environments.dev.variables or a default)"
    ]


def test_required_variable_from_environment_variable(root: Path, kinds: Registry[Kind]) -> None:
    project = load(root, kinds, environ={"STACKWRIGHT_VAR_DB_PASSWORD": "x"})
    assert project.variables["db_password"] == "x"


def test_undeclared_given_variable(root: Path, kinds: Registry[Kind]) -> None:
    assert errors_of(root, kinds, variables={**PW, "greetin": "x"}) == [
        "var.greetin: variable 'greetin' is not declared (did you mean 'greeting'?)"
    ]


def test_sensitive_variable_marks_the_field(root: Path, kinds: Registry[Kind]) -> None:
    project = load(root, kinds, variables=PW)
    declared = project.declared[Address("Command", "secret")]
    assert declared.sensitive == {"triggers.pw", "env"}
    assert project.sensitive_variables == {"db_password"}


def test_unknown_environment(root: Path, kinds: Registry[Kind]) -> None:
    assert errors_of(root, kinds, environment="prd") == [
        "unknown environment 'prd' (did you mean 'prod'?)"
    ]
    with pytest.raises(SpecError, match="environments: dev, prod"):
        resolve_environment(load_config(root), "staging")


def test_load_config_alone(root: Path) -> None:
    config = load_config(root)
    assert (config.name, config.target, config.default_environment) == ("demo", "local", "dev")
    assert config.environments == ("dev", "prod")
    assert config.state_url is None
    assert config.variables["replicas"].type == "integer"
    assert config.variables["db_password"].required


def test_defaults_without_environments(write: Write, kinds: Registry[Kind]) -> None:
    root = write({}, config="project: solo\nstate: {url: 'sqlite:///x.db'}\nsettings: {a: 1}\n")
    config = load_config(root)
    assert (config.default_environment, config.environments) == ("default", ("default",))
    assert (config.state_url, dict(config.settings)) == ("sqlite:///x.db", {"a": 1})
    assert load(root, kinds).environment == "default"


def test_env_and_project_names_render(write: Write, kinds: Registry[Kind]) -> None:
    a = doc("File", "a", "  path: ${{ project.name }}/${{ env.name }}.txt\n")
    project = load(write({"a.yaml": a}), kinds, environment="prod")
    assert project.declared[Address("File", "a")].spec == {"path": "demo/prod.txt"}
