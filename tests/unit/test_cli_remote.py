"""The CLI's hand-off parser: what it may send to the daemon, and what it leaves to the full
CLI (anything it does not fully understand)."""

from __future__ import annotations

import pytest

from stackwright.cli.remote import environ_digest, parse


def test_apply_with_every_option() -> None:
    req = parse(["-C", "proj", "--env=prod", "apply", "-y", "--parallelism", "3",
                 "--lock-timeout=2.5", "--no-refresh", "--var", "a=b", "--var=c=d=e",
                 "-o", "JSON", "--color", "never"])
    assert req is not None
    assert (req["command"], req["chdir"], req["environment"], req["yes"]) == (
        "apply", "proj", "prod", True)
    assert (req["parallelism"], req["lock_timeout"], req["refresh"]) == (3, 2.5, False)
    assert req["variables"] == {"a": "b", "c": "d=e"}
    assert (req["output"], req["color"]) == ("json", "never")


def test_a_saved_plan_needs_no_yes_and_global_options_may_follow() -> None:
    req = parse(["apply", "plan.bin", "--state", "sqlite:///x.db"])
    assert req is not None and req["plan_file"] == "plan.bin" and req["yes"] is False
    assert req["state"] == "sqlite:///x.db"
    destroy = parse(["destroy", "--yes", "-e", "dev"])
    assert destroy is not None and destroy["command"] == "destroy"
    assert destroy["environment"] == "dev" and destroy["plan_file"] is None


@pytest.mark.parametrize("argv", [
    [], ["plan"], ["apply"], ["destroy"], ["apply", "--help"], ["apply", "--yes", "--bogus"],
    ["apply", "--yes", "a.plan", "b.plan"], ["destroy", "--yes", "plan.bin"],
    ["apply", "--yes", "--parallelism", "0"], ["apply", "--yes", "--parallelism", "x"],
    ["apply", "--yes", "--lock-timeout", "-1"], ["apply", "--yes", "--var", "novalue"],
    ["apply", "--yes", "-o", "yaml"], ["apply", "--yes", "--color", "sometimes"],
    ["apply", "--yes", "--"], ["apply", "--yes", "-C"],
    ["state", "list"], ["--yes", "apply"],
])
def test_anything_else_is_left_to_the_full_cli(argv: list[str]) -> None:
    assert parse(argv) is None


def test_environ_digest_covers_what_stackwright_reads() -> None:
    base = {"PATH": "/bin", "STACKWRIGHT_KEY_DIR": "/k", "VAULT_TOKEN": "t"}
    digest = environ_digest(base)
    assert environ_digest({**base, "PATH": "/usr/bin", "HOME": "/h"}) == digest
    assert environ_digest({**base, "STACKWRIGHT_NO_DAEMON": "0"}) == digest
    assert environ_digest({**base, "STACKWRIGHT_VAR_x": "1"}) != digest
    assert environ_digest({**base, "VAULT_TOKEN": "other"}) != digest
    assert "t" not in digest and len(digest) == 64
