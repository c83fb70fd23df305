"""Network and Volume on real podman, through the CLI: create, no-op, drift, replace,
overlap errors, destroy (volumes retained unless asked)."""

from __future__ import annotations

import json
import random
import subprocess
import uuid

import pytest
from tests.fixtures.cli import Project
from tests.fixtures.podman_cleanup import object_name, remove_project_objects

pytestmark = pytest.mark.slow


def podman(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", "--runtime", "runc", *args], capture_output=True,
                          text=True, check=False)


@pytest.fixture
def named(project: Project) -> Project:
    """A project with a unique name; everything it labelled is removed afterwards."""
    name = f"nv{uuid.uuid4().hex[:8]}"
    project.write("stackwright.yaml", f"project: {name}\n")
    project.name = name  # type: ignore[attr-defined]
    yield project
    remove_project_objects(name, project.root)  # only this directory's objects


def _spec(subnet: str, policy: str = "Retain") -> str:
    return f"""
apiVersion: stackwright.dev/v1
kind: Network
metadata: {{name: backend}}
spec: {{subnet: {subnet}}}
---
apiVersion: stackwright.dev/v1
kind: Volume
metadata: {{name: data}}
spec: {{deletionPolicy: {policy}}}
"""


def test_network_and_volume_lifecycle(named: Project) -> None:
    name = named.name  # type: ignore[attr-defined]
    octet = random.randint(1, 250)
    subnet = f"10.213.{octet}.0/24"
    named.write("main.yaml", _spec(subnet))
    applied = named.run("apply", "--yes")
    assert applied.code == 0, applied.out + applied.err
    network = object_name(name, named.root, "default", "backend")
    inspect = json.loads(podman("network", "inspect", network).stdout)[0]
    assert inspect["subnets"][0]["subnet"] == subnet
    assert inspect["labels"]["dev.stackwright.resource"] == "Network/backend"
    volume = object_name(name, named.root, "default", "data")
    assert podman("volume", "exists", volume).returncode == 0
    assert named.run("plan", "--detailed-exitcode").code == 0

    assert podman("network", "rm", network).returncode == 0
    drift = named.run("drift")
    assert drift.code == 2 and "Network/backend no longer exists" in drift.out
    assert "+ Network/backend will be created" in named.run("plan").out
    assert named.run("apply", "--yes").code == 0
    assert podman("network", "exists", network).returncode == 0

    moved = f"10.213.{(octet + 1) % 250 + 1}.0/24"
    named.write("main.yaml", _spec(moved))
    replace = named.run("plan")
    assert "-/+ Network/backend must be replaced (spec.subnet forces replacement)" in replace.out
    assert named.run("apply", "--yes").code == 0
    assert json.loads(podman("network", "inspect", network).stdout)[0]["subnets"][0][
        "subnet"] == moved

    destroyed = named.run("destroy", "--yes")
    assert destroyed.code == 0, destroyed.err
    assert "keeping volume" in destroyed.out
    assert podman("network", "exists", network).returncode != 0
    assert podman("volume", "exists", volume).returncode == 0, "Retain keeps the data"

    named.write("main.yaml", _spec(moved, "Delete"))
    assert named.run("apply", "--yes").code == 0, "a retained volume is adopted"
    assert named.run("destroy", "--yes").code == 0
    assert podman("volume", "exists", volume).returncode != 0


def test_overlapping_subnets_are_a_located_error(named: Project) -> None:
    named.write("nets.yaml", """
apiVersion: stackwright.dev/v1
kind: Network
metadata: {name: a}
spec: {subnet: 10.214.0.0/16}
---
apiVersion: stackwright.dev/v1
kind: Network
metadata: {name: b}
spec: {subnet: 10.214.5.0/24}
""")
    result = named.run("validate")
    assert result.code == 1
    assert "nets.yaml:9:8: spec.subnet" in result.err  # at the field, not the resource
    assert "overlaps 10.214.0.0/16 of Network/a" in result.err
