"""The built-in policy library: Rego modules shipped with Stackwright, with their tests.

A policy names the rules it uses (``library: [required-labels]`` or ``all``); a module of
the policy's own with the same package (``stackwright.lib.required_labels``) replaces the
built-in one, and ``params`` (``data.params``) tune them.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent

LIBRARY: dict[str, str] = {
    "required-labels": "required_labels",
    "no-privileged": "no_privileged",
    "no-host-network": "no_host_network",
    "resource-limits": "resource_limits",
    "image-digest": "image_digest",
    "listener-tls": "listener_tls",
    "secret-refs": "secret_refs",
}


def package(name: str) -> str:
    return f"stackwright.lib.{LIBRARY[name]}"


def module_path(name: str) -> Path:
    return HERE / f"{LIBRARY[name]}.rego"


def test_paths() -> list[Path]:
    return sorted(HERE.glob("*_test.rego"))


def describe(name: str) -> str:
    """The first comment lines of a rule's module."""
    lines = []
    for line in module_path(name).read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("# "))
    return " ".join(lines)


__all__ = ["LIBRARY", "describe", "module_path", "package", "test_paths"]
