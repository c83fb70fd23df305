"""The pure parts of ``Database.spec.dynamicCredentials``: the admin role's SQL, the spec's
checks, the outputs and their masking, and the admin password in the volume's stash."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from stackwright.core.model import Address
from stackwright.core.values import SENSITIVE_TEXT, mask
from stackwright.data import postgres as pg
from stackwright.data.database import (
    DATABASE_KIND,
    DatabaseSpec,
    PodmanDatabaseDriver,
    _admin_sql,
)
from stackwright.data.instance import Instance, Stash

PASSWORD = "Zx9-secret_password-0123456789ab"
ADMIN_PASSWORD = "Ad9-admin_password-0123456789abc"


def test_admin_sql_gives_createrole_and_admin_of_the_owner_only() -> None:
    verifier = pg.scram_verifier(ADMIN_PASSWORD)
    sql = pg.admin_sql("app", "app_admin", verifier)
    lines = sql.splitlines()
    assert lines[:2] == ["SET log_statement = 'none';", "SET log_min_error_statement = 'panic';"]
    assert ("SELECT 'CREATE ROLE \"app_admin\" NOLOGIN' WHERE NOT EXISTS "
            "(SELECT 1 FROM pg_roles WHERE rolname = 'app_admin') \\gexec") in lines
    assert (f"ALTER ROLE \"app_admin\" WITH LOGIN CREATEROLE NOSUPERUSER NOCREATEDB "
            f"NOREPLICATION NOBYPASSRLS INHERIT PASSWORD '{verifier}';") in lines
    assert 'GRANT "app" TO "app_admin" WITH ADMIN OPTION;' in lines
    assert ADMIN_PASSWORD not in sql and "SUPERUSER " not in sql.replace("NOSUPERUSER ", "")


def test_admin_off_sql_touches_only_an_existing_admin_and_ends_its_sessions() -> None:
    sql = pg.admin_off_sql("app_admin")
    assert ("SELECT 'ALTER ROLE \"app_admin\" WITH NOLOGIN NOCREATEROLE PASSWORD NULL' WHERE "
            "EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_admin') \\gexec") in sql
    assert "pg_terminate_backend(pid)" in sql and "usename = 'app_admin'" in sql
    assert "DROP" not in sql


@pytest.mark.parametrize("owner, admin", [("app'; drop", "x_admin"), ("app", 'a"b')])
def test_admin_sql_refuses_what_is_not_a_plain_identifier(owner: str, admin: str) -> None:
    with pytest.raises(ValueError, match="not a plain identifier"):
        pg.admin_sql(owner, admin, "v")
    with pytest.raises(ValueError, match="not a plain identifier"):
        pg.admin_off_sql(f"{owner}{admin}")


def test_provisioning_sql_follows_the_spec() -> None:
    on = DatabaseSpec(database="shop", user="app", dynamicCredentials=True)
    off = DatabaseSpec(database="shop", user="app")
    assert _admin_sql(on, "SCRAM-v") == pg.admin_sql("app", "app_admin", "SCRAM-v")
    assert _admin_sql(on, "") == ""  # switched on in place: the update makes it afterwards
    assert _admin_sql(off, "") == pg.admin_off_sql("app_admin")


def test_the_field_defaults_off_and_changes_in_place() -> None:
    assert DatabaseSpec(database="shop").dynamicCredentials is False
    assert "dynamicCredentials" in PodmanDatabaseDriver.in_place_fields
    assert "dynamicCredentials" not in DATABASE_KIND.normalize(DatabaseSpec(database="shop"))


def test_the_admin_name_must_fit_63_characters() -> None:
    DatabaseSpec(database="shop", user="u" * 57, dynamicCredentials=True)
    with pytest.raises(ValidationError, match="at most 57 characters"):
        DatabaseSpec(database="shop", user="u" * 58, dynamicCredentials=True)
    DatabaseSpec(database="shop", user="u" * 63)  # without the admin, 63 is fine


def test_predicted_outputs_name_the_admin_only_when_asked() -> None:
    on = DATABASE_KIND.predict_outputs({"database": "shop", "user": "app",
                                        "dynamicCredentials": True})
    assert on["adminUser"] == "app_admin"
    assert "adminUser" not in DATABASE_KIND.predict_outputs({"database": "shop"})


def _inst(admin: str | None) -> Instance:
    return Instance(Address("Database", "db"), "sw-shop-dev-db", "vol", 15432, PASSWORD,
                    admin_password=admin)


def test_admin_outputs_are_sensitive() -> None:
    spec = DatabaseSpec(database="shop", user="app", dynamicCredentials=True)
    out = PodmanDatabaseDriver().outputs(spec, _inst(ADMIN_PASSWORD))
    assert out["adminUser"] == "app_admin"
    assert out["adminPassword"] == ADMIN_PASSWORD
    assert out["adminUrl"] == f"postgresql://app_admin:{ADMIN_PASSWORD}@127.0.0.1:15432/shop"
    assert out["user"] == "app" and out["password"] == PASSWORD
    shown = mask({"id": "x", **out}, DATABASE_KIND.sensitive_outputs_for({}))
    assert shown["adminPassword"] == shown["adminUrl"] == SENSITIVE_TEXT
    assert shown["adminUser"] == "app_admin" and ADMIN_PASSWORD not in str(shown)


def test_without_the_admin_its_outputs_are_empty() -> None:
    out = PodmanDatabaseDriver().outputs(DatabaseSpec(database="shop"), _inst(None))
    assert out["adminUser"] is None and out["adminPassword"] is None
    assert out["adminUrl"] is None


def test_stash_keeps_and_forgets_the_admin_password(tmp_path: Path) -> None:
    stash = Stash(tmp_path, "postgres")
    assert stash.admin_password() is None
    stash.save_admin(ADMIN_PASSWORD)
    stash.save(PASSWORD, 15432, "a")  # a rotation keeps the admin's password
    assert stash.admin_password() == ADMIN_PASSWORD and stash.password() == PASSWORD
    assert stat.S_IMODE((stash.dir / "admin_password").stat().st_mode) == 0o600
    stash.save_admin(None)
    stash.save_admin(None)
    assert stash.admin_password() is None and stash.password() == PASSWORD
