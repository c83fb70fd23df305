"""Pure parts of the local-runtime kinds (Network, Volume, BaseImage, Image): names, labels,
the subnet overlap check, spec validation and the build-source digest."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from stackwright.core.kinds import DriverContext
from stackwright.core.model import Address, Declared
from stackwright.errors import Location, SpecError
from stackwright.images.app_images import IMAGE_KIND
from stackwright.images.base_images import BaseImageSpec
from stackwright.local import labels_for, object_name
from stackwright.local.names import owner_key
from stackwright.network.networks import NETWORK_KIND, NetworkSpec
from stackwright.storage.volumes import VOLUME_KIND, VolumeSpec


def _ctx(project: str = "shop", env: str = "prod") -> DriverContext:
    return DriverContext(project_dir=Path("/nonexistent"), environment=env, project=project)


def _net(name: str, subnet: str, line: int) -> Declared:
    return Declared(address=Address("Network", name), api_version="stackwright.dev/v1",
                    spec={"subnet": subnet}, location=Location("nets.yaml", line, 1))


# names and labels


def test_object_name_is_project_key_env_name() -> None:
    key = owner_key("sqlite:////nonexistent/.stackwright/state.db")
    assert object_name(_ctx(), Address("Network", "backend")) == f"sw-shop-{key}-prod-backend"


def test_object_name_replaces_characters_podman_refuses() -> None:
    name = object_name(_ctx(project="my shop", env="pr/1"), Address("Volume", "data"))
    assert re.fullmatch(r"sw-my-shop-[0-9a-f]{6}-pr-1-data", name)


def test_labels_name_project_env_resource_and_owner() -> None:
    assert labels_for(_ctx(), Address("Volume", "pgdata")) == {
        "dev.stackwright.project": "shop",
        "dev.stackwright.env": "prod",
        "dev.stackwright.resource": "Volume/pgdata",
        "dev.stackwright.owner": owner_key("sqlite:////nonexistent/.stackwright/state.db"),
        "dev.stackwright.project-dir": "/nonexistent",
    }


# Network


def test_subnet_is_normalised_and_must_be_a_network_address() -> None:
    assert NetworkSpec(subnet="fd00:1::/64").subnet == "fd00:1::/64"
    with pytest.raises(ValidationError, match="not a CIDR subnet"):
        NetworkSpec(subnet="10.1.2.3/24")  # host bits set
    with pytest.raises(ValidationError, match="not a CIDR subnet"):
        NetworkSpec(subnet="backend")


def test_network_fields_are_immutable() -> None:
    assert NETWORK_KIND.immutable == {"subnet", "internal"}
    changed = {"subnet", "internal"}
    assert NETWORK_KIND.replace_fields({}, {}, changed) == changed


def test_overlapping_subnets_are_errors_at_the_later_resource() -> None:
    errors = NETWORK_KIND.validate_together([
        _net("a", "10.20.0.0/16", 2), _net("b", "10.20.5.0/24", 7),
    ])
    assert len(errors) == 1
    err = errors[0]
    assert isinstance(err, SpecError)
    assert err.location == Location("nets.yaml", 7, 1) and err.field == "spec.subnet"
    assert "10.20.5.0/24 overlaps 10.20.0.0/16 of Network/a" in err.message
    assert err.hint


@pytest.mark.parametrize(("first", "second"), [
    ("10.20.0.0/24", "10.20.1.0/24"),       # adjacent
    ("10.20.0.0/24", "fd00:20::/64"),       # different families never overlap
    ("fd00:20::/64", "fd00:21::/64"),
])
def test_disjoint_subnets_are_fine(first: str, second: str) -> None:
    assert NETWORK_KIND.validate_together([_net("a", first, 2), _net("b", second, 7)]) == []


def test_every_overlapping_pair_is_reported() -> None:
    errors = NETWORK_KIND.validate_together([
        _net("a", "10.30.0.0/16", 2), _net("b", "10.30.1.0/24", 7), _net("c", "10.0.0.0/8", 12),
    ])
    assert [e.location.line for e in errors if e.location] == [7, 12, 12]


def test_an_invalid_subnet_is_left_to_the_schema_phase() -> None:
    assert NETWORK_KIND.validate_together([
        _net("a", "nonsense", 2), _net("b", "10.40.0.0/24", 7),
    ]) == []


# Volume


def test_volumes_are_retained_unless_asked() -> None:
    assert VolumeSpec().deletionPolicy == "Retain"
    with pytest.raises(ValidationError):
        VolumeSpec.model_validate({"deletionPolicy": "delete"})
    assert VOLUME_KIND.outputs == ("name", "mountpoint")


# BaseImage


@pytest.mark.parametrize("spec", [{}, {"busybox": {}, "debian": {"release": "bookworm"}}])
def test_base_image_needs_exactly_one_recipe(spec: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="exactly one recipe"):
        BaseImageSpec.model_validate(spec)


def test_base_image_recipe_fields_are_checked() -> None:
    with pytest.raises(ValidationError, match="pakages"):
        BaseImageSpec.model_validate({"debian": {"pakages": ["curl"]}})
    spec = BaseImageSpec.model_validate({"debian": {"packages": ["python3"]}})
    assert spec.debian is not None and spec.debian.release == "bookworm"


# Image: the digest of the build sources


def _context(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    app.mkdir()
    (app / "Containerfile").write_text("FROM scratch\nCOPY a.txt /a.txt\n")
    (app / "a.txt").write_text("one\n")
    return app


def test_source_digest_is_stable_and_follows_the_context(tmp_path: Path) -> None:
    app = _context(tmp_path)
    inputs = {"context": "app"}
    first = IMAGE_KIND.source_digest(inputs, tmp_path)
    assert first is not None and first == IMAGE_KIND.source_digest(inputs, tmp_path)
    (app / "a.txt").write_text("two\n")
    second = IMAGE_KIND.source_digest(inputs, tmp_path)
    assert second != first
    (app / "Containerfile").write_text("FROM scratch\n")
    assert IMAGE_KIND.source_digest(inputs, tmp_path) not in (first, second)


def test_containerignore_keeps_files_out_of_the_digest(tmp_path: Path) -> None:
    app = _context(tmp_path)
    (app / ".containerignore").write_text("scratch/\n")
    before = IMAGE_KIND.source_digest({"context": "app"}, tmp_path)
    (app / "scratch").mkdir()
    (app / "scratch" / "notes.txt").write_text("ignored\n")
    assert IMAGE_KIND.source_digest({"context": "app"}, tmp_path) == before


def test_missing_context_is_a_spec_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="'nowhere' is not a directory") as caught:
        IMAGE_KIND.source_digest({"context": "nowhere"}, tmp_path)
    assert caught.value.field == "spec.context"


def test_missing_containerfile_is_a_spec_error_naming_it(tmp_path: Path) -> None:
    _context(tmp_path)
    with pytest.raises(SpecError, match="no Containerfile at app/Dockerfile") as caught:
        IMAGE_KIND.source_digest({"context": "app", "containerfile": "Dockerfile"}, tmp_path)
    assert caught.value.field == "spec.containerfile"


def test_a_context_from_a_reference_is_hashed_later(tmp_path: Path) -> None:
    assert IMAGE_KIND.source_digest({"context": "${{ var.ctx }}"}, tmp_path) is None
