"""Network, Volume, BaseImage and Image together through the real engine on real podman:
apply, no-op (nothing rebuilt), drift and repair, a Containerfile change, destroy (volumes
retained unless asked), and bad input that must stop before anything is created.

The last three tests pin defects found while writing these tests (a failed network create
wedging the environment, image tags shared by environments, earlier builds left behind on
destroy); they were ``xfail(strict=True)`` until fixed.
"""

from __future__ import annotations

import json
import random
import subprocess
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.fixtures.podman_cleanup import object_name, project_scope, remove_project_objects

from stackwright.builtin.commands import COMMAND_KIND
from stackwright.builtin.files import FILE_KIND
from stackwright.core.engine import Engine
from stackwright.core.executor import Event
from stackwright.core.kinds import Kind
from stackwright.core.model import Action, Address, Plan
from stackwright.errors import SpecErrors
from stackwright.images.app_images import IMAGE_KIND
from stackwright.images.base_images import BASE_IMAGE_KIND
from stackwright.network.networks import NETWORK_KIND
from stackwright.registry import Registry
from stackwright.storage.volumes import VOLUME_KIND

pytestmark = pytest.mark.slow

NET = Address("Network", "backend")
VOL = Address("Volume", "data")
BASE = Address("BaseImage", "base")
APP = Address("Image", "app")

CONTAINERFILE = 'ARG BASE\nFROM ${BASE}\nCOPY page.txt /page.txt\nCMD ["cat", "/page.txt"]\n'


def podman(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", "--runtime", "runc", *args], capture_output=True,
                          text=True, check=False)


def registry() -> Registry[Kind]:
    kinds = Registry[Kind]("kind")
    for kind in (FILE_KIND, COMMAND_KIND, NETWORK_KIND, VOLUME_KIND, BASE_IMAGE_KIND, IMAGE_KIND):
        kinds.add(kind.name, kind)
    return kinds


@dataclass
class LocalProject:
    """A project directory named ``t<random>`` with helpers to drive the engine."""

    root: Path
    name: str
    subnet: str
    log: list[str] = field(default_factory=list)

    def write(self, rel: str, text: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())

    def engine(self, env: str | None = None) -> Engine:
        return Engine(self.root, environment=env, kinds=registry())

    def _on_event(self, event: Event) -> None:
        if event.phase == "log":
            self.log.append(f"{event.address}: {event.message}")

    def apply(self, env: str | None = None, *, destroy: bool = False) -> Plan:
        engine = self.engine(env)
        try:
            outcome = engine.apply(destroy=destroy, on_event=self._on_event)
        finally:
            engine.close()
        assert outcome is not None
        assert outcome.result.ok, outcome.result.failed
        return outcome.plan

    def plan(self, env: str | None = None) -> Plan:
        engine = self.engine(env)
        try:
            return engine.plan()
        finally:
            engine.close()

    def outputs(self, env: str | None = None) -> dict[str, dict[str, object]]:
        engine = self.engine(env)
        try:
            return engine.outputs()
        finally:
            engine.close()

    def network(self) -> str:
        return object_name(self.name, self.root, self.engine().environment, "backend")

    def volume(self) -> str:
        return object_name(self.name, self.root, self.engine().environment, "data")

    def spec(self, *, policy: str = "Retain", images_only: bool = False) -> None:
        text = textwrap.dedent(f"""
            apiVersion: stackwright.dev/v1
            kind: BaseImage
            metadata: {{name: base}}
            spec: {{busybox: {{}}}}
            ---
            apiVersion: stackwright.dev/v1
            kind: Image
            metadata: {{name: app}}
            spec:
              context: app
              buildArgs: {{BASE: "${{{{ BaseImage.base.image }}}}"}}
            ---
            apiVersion: stackwright.dev/v1
            kind: Network
            metadata: {{name: backend}}
            spec: {{subnet: {self.subnet}}}
            ---
            apiVersion: stackwright.dev/v1
            kind: Volume
            metadata: {{name: data}}
            spec: {{deletionPolicy: {policy}}}
        """)
        if images_only:
            text = "---\n".join(text.split("---\n")[:2])
        self.write("main.yaml", text)


def _cleanup(name: str, root: Path) -> None:
    remove_project_objects(name, root)  # only this directory's, never a look-alike's
    # By tag, never by image ID: busybox base images of every project share one ID (the
    # import of the cached rootfs is deterministic), so removing by ID would untag theirs.
    ours = (f"localhost/{name}/", f"localhost/stackwright/{name}-")
    for prefix in ours:  # app images first, then the bases they were built FROM
        listed = json.loads(podman("images", "--format", "json").stdout or "[]")
        tags = [t for image in listed for t in image.get("Names") or [] if t.startswith(prefix)]
        if tags:
            podman("image", "rm", *tags)


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalProject]:
    monkeypatch.setenv("STACKWRIGHT_KEY_DIR", str(tmp_path / "keys"))
    monkeypatch.delenv("STACKWRIGHT_STATE", raising=False)
    monkeypatch.delenv("STACKWRIGHT_STATE_KEY", raising=False)
    name = f"t{uuid.uuid4().hex[:8]}"
    root = tmp_path / "proj"
    proj = LocalProject(root, name, f"10.{random.randint(150, 199)}.{random.randint(0, 255)}.0/24")
    proj.write("stackwright.yaml", f"""
        project: {name}
        environments:
          dev: {{}}
          prod: {{}}
    """)
    proj.write("app/Containerfile", CONTAINERFILE)
    proj.write("app/page.txt", "version one\n")
    try:
        yield proj
    finally:
        _cleanup(name, root)


def _actions(plan: Plan) -> dict[Address, Action]:
    return {c.address: c.action for c in plan.changes}


def _created_at(ref: str) -> str:
    return str(json.loads(podman("image", "inspect", ref).stdout)[0]["Created"])


def test_lifecycle_apply_noop_drift_rebuild_destroy(local: LocalProject) -> None:
    local.spec()
    first = local.apply()
    assert set(_actions(first).values()) == {Action.CREATE} and len(first.changes) == 4
    out = local.outputs()
    ref = str(out[str(APP)]["image"])
    assert ref.startswith(f"localhost/{local.name}/app:")
    assert out[str(NET)] == {"id": local.network(), "name": local.network(),
                             "subnet": local.subnet, "gateway": out[str(NET)]["gateway"]}
    assert str(out[str(VOL)]["mountpoint"]).endswith(f"/{local.volume()}/_data")
    net = json.loads(podman("network", "inspect", local.network()).stdout)[0]
    scope = project_scope(local.name, local.root, local.engine().environment)
    assert net["labels"] == {"dev.stackwright.project": local.name,
                             "dev.stackwright.env": local.engine().environment,
                             "dev.stackwright.resource": "Network/backend",
                             "dev.stackwright.owner": scope.key,
                             "dev.stackwright.project-dir": str(local.root.resolve())}
    image = json.loads(podman("image", "inspect", ref).stdout)[0]
    assert image["Labels"]["dev.stackwright.resource"] == "Image/app"
    assert any(line.startswith(f"Image/app: built {ref}") for line in local.log)

    # unchanged: nothing to do, nothing rebuilt
    created = _created_at(ref)
    assert not local.plan().has_changes
    local.log.clear()
    assert not local.apply().has_changes
    assert _created_at(ref) == created and not any("built" in line for line in local.log)

    # a network removed behind our back is drift, and apply puts it back
    assert podman("network", "rm", local.network()).returncode == 0
    engine = local.engine()
    drift = engine.drift()
    engine.close()
    assert [c.address for c in drift] == [NET]
    assert _actions(local.plan())[NET] is Action.CREATE
    local.apply()
    assert podman("network", "exists", local.network()).returncode == 0
    assert not local.plan().has_changes

    # a changed Containerfile builds a new tag FROM the same base; the base is not rebuilt
    local.write("app/Containerfile", CONTAINERFILE + "ENV EDITION=2\n")
    changed = _actions(local.plan())
    assert changed[APP] is Action.UPDATE and changed[BASE] is Action.NOOP
    local.log.clear()
    local.apply()
    new_ref = str(local.outputs()[str(APP)]["image"])
    assert new_ref != ref and any(f"built {new_ref}" in line for line in local.log)
    ran = podman("run", "--rm", "--ulimit", "nofile=16384:16384", "--ulimit",
                 "nproc=16384:16384", new_ref)
    assert ran.stdout == "version one\n", ran.stderr
    assert not local.plan().has_changes

    # destroy: network and images gone, the volume kept (and the log says so)
    base_ref = str(local.outputs()[str(BASE)]["image"])
    local.log.clear()
    local.apply(destroy=True)
    assert podman("network", "exists", local.network()).returncode != 0
    assert podman("image", "exists", new_ref).returncode != 0
    assert podman("image", "exists", base_ref).returncode != 0
    assert podman("volume", "exists", local.volume()).returncode == 0
    assert any("keeping volume" in line and "Retain" in line for line in local.log)

    # deletionPolicy: Delete adopts the retained volume, then really deletes it on destroy
    local.spec(policy="Delete")
    local.apply()
    assert any("adopting the existing volume" in line for line in local.log)
    local.apply(destroy=True)
    assert podman("volume", "exists", local.volume()).returncode != 0


def test_overlapping_subnets_stop_the_plan_with_file_and_line(local: LocalProject) -> None:
    local.write("nets.yaml", """
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
    with pytest.raises(SpecErrors) as caught:
        local.plan()
    [err] = caught.value.errors
    assert err.location is not None and (err.location.file, err.location.line) == (
        "nets.yaml", 9)  # where b's spec.subnet is written
    assert err.field == "spec.subnet" and "overlaps 10.214.0.0/16 of Network/a" in err.message
    assert local.outputs() == {}


def test_missing_containerfile_is_named_and_nothing_is_created(local: LocalProject) -> None:
    local.spec()
    (local.root / "app" / "Containerfile").unlink()
    engine = local.engine()
    try:
        with pytest.raises(SpecErrors) as caught:
            engine.apply()
    finally:
        engine.close()
    [err] = caught.value.errors
    assert "no Containerfile at app/Containerfile" in err.message
    assert err.field == "spec.containerfile"
    assert err.location is not None and err.location.file == "main.yaml"
    assert local.outputs() == {}
    assert podman("network", "exists", local.network()).returncode != 0


def test_a_failing_build_is_reported_and_planned_again(local: LocalProject) -> None:
    local.spec()
    local.write("app/Containerfile", "ARG BASE\nFROM ${BASE}\nRUN echo broken-step && exit 3\n")
    engine = local.engine()
    try:
        outcome = engine.apply()
    finally:
        engine.close()
    assert outcome is not None
    assert list(outcome.result.failed) == [APP]
    assert "exit" in outcome.result.failed[APP] or "status 3" in outcome.result.failed[APP]
    assert local.outputs().get(str(APP), {}).get("image") is None
    local.write("app/Containerfile", CONTAINERFILE)
    assert _actions(local.plan())[APP] in (Action.CREATE, Action.REPLACE, Action.UPDATE)
    local.apply()
    assert podman("image", "exists", str(local.outputs()[str(APP)]["image"])).returncode == 0


def test_a_failed_network_create_does_not_wedge_the_environment(local: LocalProject) -> None:
    squatter = f"sw-{local.name}-squatter"
    made = podman("network", "create", "--subnet", local.subnet, "--label",
                  f"dev.stackwright.project={local.name}", squatter)
    assert made.returncode == 0, made.stderr
    local.write("main.yaml", f"""
        apiVersion: stackwright.dev/v1
        kind: Network
        metadata: {{name: backend}}
        spec: {{subnet: {local.subnet}}}
    """)
    engine = local.engine()
    try:
        outcome = engine.apply()
    finally:
        engine.close()
    assert outcome is not None and "already used" in outcome.result.failed[NET]
    assert podman("network", "rm", squatter).returncode == 0
    assert _actions(local.plan())[NET] is Action.CREATE


def test_destroying_one_environment_leaves_the_others_images(local: LocalProject) -> None:
    local.spec(images_only=True)
    local.apply("dev")
    local.apply("prod")
    local.apply("prod", destroy=True)
    engine = local.engine("dev")
    try:
        assert engine.drift() == []
    finally:
        engine.close()


def test_destroy_leaves_no_image_of_the_project(local: LocalProject) -> None:
    local.spec()
    local.apply()
    local.write("app/page.txt", "version two\n")
    local.apply()
    local.apply(destroy=True)
    listed = podman("images", "--format", "json", "--filter",
                    f"label=dev.stackwright.project={local.name}")
    assert json.loads(listed.stdout or "[]") == []
