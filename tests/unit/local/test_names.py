"""Names and owners of local objects (stackwright.local.names): unique per checkout and
environment, readable, labelled with the owner; older names kept when recorded; an object of
another checkout is refused with its owner named."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackwright.core.engine import Engine, redact_url
from stackwright.core.kinds import DriverContext
from stackwright.core.model import Address, Recorded, Status
from stackwright.data.database import DatabaseSpec
from stackwright.data.instance import names_for
from stackwright.errors import PermanentError
from stackwright.local import labels_for, object_name, scope_of
from stackwright.local.names import LABEL_OWNER, LABEL_PROJECT_DIR, claim, owner_key
from stackwright.services.identity import identity
from stackwright.services.replicas import labels as replica_labels

DB = Address("Database", "db")


def _ctx(root: Path, env: str = "dev", state: str = "") -> DriverContext:
    return DriverContext(project_dir=root, environment=env, project="shop",
                         address=Address("Service", "web"), state_location=state)


def test_two_checkouts_of_one_project_get_different_readable_names(tmp_path: Path) -> None:
    a, b = _ctx(tmp_path / "a"), _ctx(tmp_path / "b")
    net = Address("Network", "backend")
    name_a, name_b = object_name(a, net), object_name(b, net)
    assert name_a != name_b
    assert name_a.startswith("sw-shop-") and name_a.endswith("-dev-backend")
    assert object_name(_ctx(tmp_path / "a"), net) == name_a  # stable
    assert object_name(_ctx(tmp_path / "a", env="prod"), net) != name_a


def test_labels_keep_human_names_and_add_the_owner(tmp_path: Path) -> None:
    labels = labels_for(_ctx(tmp_path), Address("Volume", "data"))
    assert labels["dev.stackwright.project"] == "shop"
    assert labels["dev.stackwright.env"] == "dev"
    assert labels[LABEL_PROJECT_DIR] == str(tmp_path.resolve())
    assert labels[LABEL_OWNER] == scope_of(_ctx(tmp_path)).key


def test_the_key_follows_the_state_location(tmp_path: Path) -> None:
    shared = "postgresql+psycopg://sw@db.example:5432/state"
    a, b = _ctx(tmp_path / "a", state=shared), _ctx(tmp_path / "b", state=shared)
    assert scope_of(a).key == scope_of(b).key == owner_key(shared)
    default = _ctx(tmp_path / "a", state=f"sqlite:///{tmp_path / 'a'}/.stackwright/state.db")
    assert scope_of(default).key == scope_of(_ctx(tmp_path / "a")).key


def test_the_engine_gives_drivers_the_state_location_without_its_password(
        tmp_path: Path) -> None:
    (tmp_path / "stackwright.yaml").write_text("project: shop\n")
    url = "postgresql+psycopg://sw:hunter2@127.0.0.1:5432/state"
    ctx = Engine(tmp_path, state_url=url).driver_context()
    assert ctx.state_location == "postgresql+psycopg://sw@127.0.0.1:5432/state"
    assert "hunter2" not in ctx.state_location
    plain = Engine(tmp_path).driver_context()
    assert scope_of(plain).key == scope_of(_ctx(tmp_path)).key
    assert redact_url("sqlite:////x/state.db") == "sqlite:////x/state.db"


def test_a_service_recorded_under_an_older_name_keeps_it(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    fresh = identity(ctx)
    assert not fresh.legacy and fresh.id == object_name(ctx, Address("Service", "web"))
    old = identity(ctx, "web", recorded_id="sw-shop-dev-web")
    assert old.legacy and old.id == "sw-shop-dev-web"
    assert identity(ctx, "web", recorded_id=fresh.id).id == fresh.id
    # new replicas of an adopted service carry the owner all the same
    assert replica_labels(old, "r1", 0)[LABEL_OWNER] == fresh.key


def test_only_own_containers_count_as_a_services(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    mine, old = identity(ctx), identity(ctx, "web", recorded_id="sw-shop-dev-web")
    other = identity(_ctx(tmp_path / "other"))
    unlabelled = {"dev.stackwright.project": "shop", "dev.stackwright.env": "dev"}
    assert mine.owns(mine.labels()) and not mine.owns(other.labels())
    assert not mine.owns(unlabelled)  # a look-alike without an owner: never ours
    assert old.owns(unlabelled)  # the record names it: an older Stackwright's replica
    assert not old.owns(other.labels())


def test_another_checkouts_object_is_refused_naming_its_owner(tmp_path: Path) -> None:
    scope = scope_of(_ctx(tmp_path / "a"))
    theirs = labels_for(_ctx(tmp_path / "b", env="dev"), Address("Volume", "data"))
    claim(scope, "volume", "v", labels_for(_ctx(tmp_path / "a"), Address("Volume", "data")))
    with pytest.raises(PermanentError) as err:
        claim(scope, "volume", "sw-shop-x-dev-data", theirs)
    assert str(tmp_path / "b") in err.value.message
    assert "environment dev" in err.value.message
    assert err.value.hint is not None and f"-C {tmp_path / 'b'} --env dev destroy" in err.value.hint
    with pytest.raises(PermanentError, match="has no dev.stackwright labels"):
        claim(scope, "container", "c", {})


def test_a_database_recorded_with_an_older_volume_keeps_its_data_there(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    spec = DatabaseSpec(database="shop")
    new = names_for(ctx, DB, spec)
    assert new.container == object_name(ctx, DB) and new.volume == f"{new.container}-data"
    prior = Recorded(DB, "sw-shop-dev-db", {"database": "shop"},
                     {"container": "sw-shop-dev-db", "volume": "sw-shop-dev-db-data"},
                     Status.READY)
    kept = names_for(ctx, DB, spec, prior)
    assert kept.volume == "sw-shop-dev-db-data" and kept.default_volume
    assert kept.container == new.container  # a new container moves to the new name
