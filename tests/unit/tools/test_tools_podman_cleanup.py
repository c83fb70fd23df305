"""podman 4.3 can fail a finished build while deleting its build container; that is told
apart from a real build failure."""

from __future__ import annotations

from stackwright.tools.podman import _only_cleanup_failed

FLAKE = (
    'STEP 7/7: LABEL "x"="y"\n'
    "COMMIT localhost/q/hello:7e18\n"
    "Successfully tagged localhost/q/hello:7e18\n"
    'time="2026-11-28T19:53:25Z" level=error msg="error deleting build container '
    '\\"48f7\\": identifier is not a container\\n"\n'
    "Error: identifier is not a container\n"
)


def test_cleanup_only_failure_is_recognised() -> None:
    assert _only_cleanup_failed(FLAKE)


def test_real_failures_are_not() -> None:
    assert not _only_cleanup_failed("STEP 2/3: RUN false\nError: building at STEP: exit 1\n")
    assert not _only_cleanup_failed(FLAKE.replace("Successfully tagged", "Tagging"))
