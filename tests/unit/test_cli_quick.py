"""The quick path's parser: what it takes (and runs without typer), what it leaves to the
full CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stackwright.cli.quick import parse


def test_plan_options_anywhere() -> None:
    req = parse(["-C", "proj", "plan", "-o", "json", "--destroy", "--var", "a=b=c",
                 "--parallelism=4", "--no-refresh", "--detailed-exitcode", "--env", "prod"],
                {"STACKWRIGHT_STATE": "sqlite:////x.db"})
    assert req is not None
    assert (req["command"], req["chdir"], req["output"], req["environment"]) == (
        "plan", "proj", "json", "prod")
    assert req["variables"] == {"a": "b=c"} and req["parallelism"] == "4"
    assert req["destroy"] and req["detailed"] and not req["refresh"]
    assert req["state"] == "sqlite:////x.db"


@pytest.mark.parametrize("argv", [
    [], ["plan", "--help"], ["validate", "--destroy"], ["plan", "--bogus"], ["apply"],
    ["plan", "-o"], ["plan", "-o", "yaml"], ["plan", "--parallelism", "0"],
    ["plan", "--var", "novalue"], ["plan", "extra"], ["--color", "pink", "plan"],
])
def test_anything_else_goes_to_the_full_cli(argv: list[str]) -> None:
    assert parse(argv, {}) is None


def test_quick_path_imports_neither_typer_nor_sqlalchemy(tmp_path: object) -> None:
    code = ("import sys; sys.argv=['stackwright', 'validate'];"
            "from stackwright.cli import entry\n"
            "import atexit\n"
            "atexit.register(lambda: print('MODS', 'typer' in sys.modules,"
            " 'sqlalchemy' in sys.modules, 'fastapi' in sys.modules, file=sys.stderr))\n"
            "entry.main()")
    subprocess.run([sys.executable, "-m", "stackwright", "init"], cwd=str(tmp_path),
                   check=True, capture_output=True)
    done = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "The spec is valid" in done.stdout
    assert "MODS False False False" in done.stderr
