"""Every registered kind keeps the contract: a schema, a documented YAML example that
validates, unknown fields refused, a local driver, and outputs that include ``id``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from stackwright.core.kinds import Kind, kind_registry

KINDS = kind_registry().load_all()


@pytest.mark.parametrize("name", sorted(KINDS))
def test_kind_contract(name: str) -> None:
    kind: Kind = KINDS[name]
    assert kind.name == name
    assert kind.all_outputs()[0] == "id"
    assert set(kind.immutable) <= set(kind.spec_model.model_fields)
    schema = kind.spec_model.model_json_schema()
    assert schema["type"] == "object" and schema.get("additionalProperties") is False
    example = re.search(r"```yaml\n(.*?)```", kind.describe(), re.S)
    assert example, f"{name} has no YAML example in its docstring"
    doc = yaml.safe_load(example.group(1))
    assert doc["kind"] == name and doc["apiVersion"] == kind.api_version
    spec = {k: v for k, v in doc["spec"].items() if "${{" not in str(v)}
    with pytest.raises(ValidationError):
        kind.spec_model.model_validate({**spec, "no_such_field": 1})
    assert kind.drivers, f"{name} has no driver"


def test_import_layers_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], capture_output=True, text=True,
                            cwd=Path(__file__).parents[2])
    assert result.returncode == 0, result.stdout[-3000:]
