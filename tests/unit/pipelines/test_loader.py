"""Pipeline files: bad input is one located error per problem (file:line:col: field)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from stackwright.errors import SpecErrors
from stackwright.pipelines.loader import find_cycle, load_file, load_repo

GOOD = """
on:
  push: {branches: [main]}
  schedule: [{cron: "0 3 * * *"}]
jobs:
  test:
    image: localhost/busybox
    matrix: {py: ["3.11", "3.12"]}
    steps:
      - run: echo ${{ matrix.py }}
  build:
    needs: [test]
    host: true
    steps:
      - uses: build-image
        with: {image: localhost/app}
"""


def _write(tmp_path: Path, text: str, name: str = "ci.yaml") -> Path:
    path = tmp_path / ".stackwright" / "pipelines" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def _errors(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(SpecErrors) as info:
        load_file(_write(tmp_path, text))
    return [str(e) for e in info.value.errors]


def test_a_good_file_loads_with_its_triggers(tmp_path: Path) -> None:
    loaded = load_file(_write(tmp_path, GOOD))
    assert loaded.name == "ci"
    assert list(loaded.definition.jobs) == ["test", "build"]
    assert loaded.definition.on.schedule[0].cron == "0 3 * * *"
    assert load_repo(tmp_path)["ci"].definition == loaded.definition


def test_unknown_job_in_needs_names_file_line_and_suggests(tmp_path: Path) -> None:
    errors = _errors(tmp_path, GOOD.replace("needs: [test]", "needs: [tset]"))
    assert len(errors) == 1
    assert errors[0].startswith(f"{tmp_path}/.stackwright/pipelines/ci.yaml:11:13: "
                                "jobs.build.needs.0: unknown job 'tset'")
    assert "did you mean 'test'" in errors[0]


def test_a_cycle_prints_its_path(tmp_path: Path) -> None:
    text = """
    jobs:
      a: {host: true, needs: [c], steps: [{run: "true"}]}
      b: {host: true, needs: [a], steps: [{run: "true"}]}
      c: {host: true, needs: [b], steps: [{run: "true"}]}
    """
    errors = _errors(tmp_path, text)
    assert len(errors) == 1
    assert ":2:19: jobs.a.needs: needs form a cycle: a -> c -> b -> a" in errors[0]


def test_bad_cron_and_unknown_uses_are_reported_together(tmp_path: Path) -> None:
    text = GOOD.replace('"0 3 * * *"', '"61 * * * *"').replace("build-image", "deploy-it")
    errors = _errors(tmp_path, text)
    assert len(errors) == 2
    assert ":3:21: on.schedule.0.cron: '61 * * * *' is not a cron schedule" in errors[0]
    assert ":14:15: jobs.build.steps.0.uses: unknown uses 'deploy-it'; registered steps: " \
           "build-image, checkout, deploy, scan, test-report" in errors[1]


def test_unknown_field_gets_a_hint(tmp_path: Path) -> None:
    errors = _errors(tmp_path, GOOD.replace("needs: [test]", "need: [test]"))
    assert any(":11:5: jobs.build.need: unknown field" in e and "needs" in e for e in errors)


def test_a_job_needs_an_image_or_host(tmp_path: Path) -> None:
    text = "jobs:\n  a:\n    steps: [{run: 'true'}]\n"
    errors = _errors(tmp_path, text)
    assert len(errors) == 1 and ":3:5: jobs.a: a job runs in a container" in errors[0]


def test_bad_expressions_and_unlisted_needs(tmp_path: Path) -> None:
    text = """
    jobs:
      a: {host: true, steps: [{run: "true"}]}
      b:
        host: true
        if: "branch == = 'main'"
        steps:
          - run: "echo ${{ needs.a.outputs.x }}"
          - {uses: deploy, with: {variables: {image: "${{ needs.a.outputs.image }}"}}}
    """
    errors = _errors(tmp_path, text)
    assert len(errors) == 3
    assert ":5:5: jobs.b.if: cannot parse expression" in errors[0]
    assert "jobs.b.steps.0.run: reads needs.a, which is not in this job's needs" in errors[1]
    assert "jobs.b.steps.1.with.variables.image: reads needs.a" in errors[2]


def test_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    errors = _errors(tmp_path, "jobs:\n  a: [unclosed\n")
    assert len(errors) == 1 and "ci.yaml:3:1" in errors[0]


def test_find_cycle() -> None:
    assert find_cycle({"a": ["b"], "b": []}) is None
    assert find_cycle({"a": ["a"]}) == ["a", "a"]
