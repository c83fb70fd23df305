"""Dynamic PostgreSQL credentials and leases through hvac, against a real server and database.

The database checks passwords (scram-sha-256), so a login proves the generated password.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import hvac
import hvac.exceptions as hx
import pytest
from secrets_pg_server import (  # noqa: F401  (the fixtures are used by name)
    ManagedDatabase,
    PasswordPostgres,
    managed_database_fixture,
    password_postgres_fixture,
)

from stackwright.secrets.api import serve
from stackwright.secrets.audit import verify_audit_file
from stackwright.secrets.store import SecretsSettings, SecretsStore

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PLUGIN = "postgresql-database-plugin"
CREATE = [
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"
    ' GRANT CONNECT ON DATABASE "{db}" TO "{{name}}";'
]


@dataclass
class Vault:
    url: str
    store: SecretsStore
    settings: SecretsSettings
    keys: list[str]
    root_token: str

    def client(self, token: str | None = None) -> hvac.Client:
        return hvac.Client(url=self.url, token=token or self.root_token, timeout=30)


def _settings(tmp_path: Path) -> SecretsSettings:
    return SecretsSettings(
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        audit_path=tmp_path / "audit.jsonl",
        lease_sweep_interval=0.2,
        db_connect_timeout=3,
    )


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[Vault]:
    settings = _settings(tmp_path)
    store = SecretsStore.open(settings)
    try:
        with serve(store) as running:
            client = hvac.Client(url=running.url)
            result = client.sys.initialize(3, 2)
            client.sys.submit_unseal_keys(result["keys"][:2])
            yield Vault(running.url, store, settings, result["keys"], result["root_token"])
    finally:
        store.close()


def _configure(
    client: hvac.Client, pg: PasswordPostgres, db: ManagedDatabase, **extra: object
) -> None:
    url = f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{pg.port}/{db.name}"
    client.secrets.database.configure(
        name="pg",
        plugin_name=PLUGIN,
        connection_url=url,
        username=db.admin_user,
        password=db.admin_password,
        allowed_roles=["app"],
        **extra,
    )


def _role(client: hvac.Client, db: ManagedDatabase, **ttls: object) -> None:
    client.secrets.database.create_role(
        "app",
        db_name="pg",
        creation_statements=[s.replace("{db}", db.name) for s in CREATE],
        **ttls,
    )


def _wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _valid_until(pg: PasswordPostgres, user: str) -> datetime:
    with pg.admin() as conn:
        row = conn.execute("SELECT rolvaliduntil FROM pg_roles WHERE rolname = %s", (user,))
        found = row.fetchone()
    assert found is not None
    value: datetime = found[0]
    return value


def test_creds_log_in_renew_up_to_max_ttl_and_revoke(
    vault: Vault, password_postgres: PasswordPostgres, managed_database: ManagedDatabase
) -> None:
    pg, db, client = password_postgres, managed_database, vault.client()
    _configure(client, pg, db)
    _role(client, db, default_ttl="20s", max_ttl=60)
    shown = client.secrets.database.read_connection("pg")["data"]
    assert shown["connection_details"]["username"] == db.admin_user
    assert "password" not in shown["connection_details"]
    assert db.admin_password not in str(shown)
    assert client.secrets.database.list_connections()["data"]["keys"] == ["pg"]
    role = client.secrets.database.read_role("app")["data"]
    assert (role["db_name"], role["default_ttl"], role["max_ttl"]) == ("pg", 20, 60)
    assert client.secrets.database.list_roles()["data"]["keys"] == ["app"]

    creds = client.secrets.database.generate_credentials("app")
    user, password = creds["data"]["username"], creds["data"]["password"]
    lease_id = creds["lease_id"]
    assert lease_id.startswith("database/creds/app/") and creds["renewable"] is True
    assert 18 <= creds["lease_duration"] <= 20
    assert user.startswith("v-root-app-") or user.startswith("v-token-app-")
    assert pg.can_login(user, password, db.name)
    assert not pg.can_login(user, password + "x", db.name)

    looked = client.sys.read_lease(lease_id)["data"]
    assert looked["id"] == lease_id and looked["renewable"] and looked["ttl"] <= 20
    before = _valid_until(pg, user)
    renewed = client.sys.renew_lease(lease_id, increment=3600)
    assert renewed["lease_id"] == lease_id
    assert 40 <= renewed["lease_duration"] <= 60  # capped at max_ttl from issue
    assert any("capped" in w for w in renewed["warnings"])
    assert (_valid_until(pg, user) - before).total_seconds() >= 30  # VALID UNTIL moved too
    assert client.sys.read_lease(lease_id)["data"]["ttl"] > 30
    again = client.sys.renew_lease(lease_id, increment=3600)
    assert again["lease_duration"] <= renewed["lease_duration"]
    assert pg.can_login(user, password, db.name)

    client.sys.revoke_lease(lease_id)
    assert not pg.can_login(user, password, db.name)
    assert not pg.role_exists(user)
    with pytest.raises(hx.InvalidRequest, match="invalid lease"):
        client.sys.read_lease(lease_id)


def test_expired_lease_drops_the_role(
    vault: Vault, password_postgres: PasswordPostgres, managed_database: ManagedDatabase
) -> None:
    pg, db, client = password_postgres, managed_database, vault.client()
    _configure(client, pg, db)
    _role(client, db, default_ttl=2, max_ttl=2)
    creds = client.secrets.database.generate_credentials("app")
    user = creds["data"]["username"]
    assert pg.can_login(user, creds["data"]["password"], db.name)
    assert client.sys.list_leases("database/creds/app")["data"]["keys"] == [
        creds["lease_id"].rsplit("/", 1)[1]
    ]
    assert _wait_for(lambda: not pg.role_exists(user), 10), "the sweeper did not drop the role"
    with pytest.raises(hx.InvalidPath):
        client.sys.list_leases("database/creds/app")


def test_policies_guard_creds_and_a_revoked_token_takes_its_leases(
    vault: Vault, password_postgres: PasswordPostgres, managed_database: ManagedDatabase
) -> None:
    pg, db, root = password_postgres, managed_database, vault.client()
    _configure(root, pg, db)
    _role(root, db, default_ttl="1h")
    root.sys.create_or_update_acl_policy("kv-only", 'path "secret/*" { capabilities = ["read"] }')
    root.sys.create_or_update_acl_policy(
        "app-creds", 'path "database/creds/app" { capabilities = ["read"] }'
    )
    kv_only = root.auth.token.create(policies=["kv-only"])["auth"]["client_token"]
    with pytest.raises(hx.Forbidden):
        vault.client(kv_only).secrets.database.generate_credentials("app")
    with pytest.raises(hx.Forbidden):
        vault.client(kv_only).secrets.database.read_connection("pg")

    token = root.auth.token.create(policies=["app-creds"], ttl="10m")["auth"]["client_token"]
    app = vault.client(token)
    creds = app.secrets.database.generate_credentials("app")
    assert creds["lease_duration"] <= 600  # never outlives the token
    assert app.sys.renew_lease(creds["lease_id"], increment=60)["lease_duration"] <= 60
    with pytest.raises(hx.Forbidden):
        app.sys.revoke_lease(creds["lease_id"])  # revoke is not in the default policy
    with pytest.raises(hx.Forbidden):
        app.sys.list_leases("database/creds/app")  # listing needs sudo
    user = creds["data"]["username"]
    assert pg.role_exists(user)
    root.auth.token.revoke(token)
    assert _wait_for(lambda: not pg.role_exists(user), 10), "the token's lease outlived it"


def test_password_is_never_stored_logged_or_audited_in_clear(
    vault: Vault,
    password_postgres: PasswordPostgres,
    managed_database: ManagedDatabase,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    pg, db, client = password_postgres, managed_database, vault.client()
    _configure(client, pg, db)
    _role(client, db, default_ttl="1h")
    creds = client.secrets.database.generate_credentials("app")
    password = creds["data"]["password"]
    client.sys.renew_lease(creds["lease_id"], increment=120)
    client.sys.revoke_lease(creds["lease_id"])
    hashed = client.write_data("sys/audit-hash/file", data={"input": password})["data"]["hash"]

    state_dir = Path(vault.settings.audit_path).parent
    stored = b"".join(p.read_bytes() for p in state_dir.glob("state.db*"))
    audit = vault.settings.audit_path.read_bytes()
    assert stored and audit
    for secret in (password, db.admin_password):
        assert secret.encode() not in stored
        assert secret.encode() not in audit
        assert secret not in caplog.text
    assert hashed.encode() in audit  # the response was audited, HMAC'd
    assert creds["lease_id"].encode() in audit
    assert verify_audit_file(vault.settings.audit_path, vault.store.audit.head).ok


def test_leases_survive_a_restart(
    vault: Vault,
    password_postgres: PasswordPostgres,
    managed_database: ManagedDatabase,
) -> None:
    pg, db, client = password_postgres, managed_database, vault.client()
    _configure(client, pg, db)
    _role(client, db, default_ttl="1h")
    creds = client.secrets.database.generate_credentials("app")
    vault.store.close()  # the daemon stops; the served app is closed by the fixture later

    reopened = SecretsStore.open(vault.settings)
    try:
        with serve(reopened) as running:
            again = hvac.Client(url=running.url, token=vault.root_token, timeout=30)
            again.sys.submit_unseal_keys(vault.keys[:2])
            assert again.sys.read_lease(creds["lease_id"])["data"]["ttl"] > 3000
            assert pg.can_login(creds["data"]["username"], creds["data"]["password"], db.name)
            again.sys.revoke_lease(creds["lease_id"])
            assert not pg.role_exists(creds["data"]["username"])
    finally:
        reopened.close()


def test_failed_revocation_stays_listed_and_is_retried(
    vault: Vault,
    password_postgres: PasswordPostgres,
    managed_database: ManagedDatabase,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pg, db, client = password_postgres, managed_database, vault.client()
    _configure(client, pg, db)
    _role(client, db, default_ttl="1h")
    creds = client.secrets.database.generate_credentials("app")
    user, lease_id = creds["data"]["username"], creds["lease_id"]
    pg.stop()
    try:
        with pytest.raises(hx.InternalServerError, match="failed to revoke lease"):
            client.sys.revoke_lease(lease_id)
        assert client.sys.read_lease(lease_id)["data"]["id"] == lease_id
        assert client.sys.list_leases("database/creds/app")["data"]["keys"]
    finally:
        pg.start()
    assert pg.role_exists(user)
    assert _wait_for(lambda: not pg.role_exists(user), 15), "the revocation was not retried"
    assert _wait_for(lambda: not vault.store.leases.children("database/creds/app"), 5)
    assert creds["data"]["password"] not in caplog.text


def test_bad_configs_and_roles_are_refused_clearly(
    vault: Vault, password_postgres: PasswordPostgres, managed_database: ManagedDatabase
) -> None:
    pg, db, client = password_postgres, managed_database, vault.client()
    with pytest.raises(hx.InvalidRequest, match="plugin_name"):
        client.secrets.database.configure(
            name="my", plugin_name="mysql-database-plugin", connection_url="mysql://x"
        )
    wrong = "not-the-password-71c"
    url = f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{pg.port}/{db.name}"
    with pytest.raises(hx.InvalidRequest, match="error creating database object") as failed:
        client.secrets.database.configure(
            name="pg", plugin_name=PLUGIN, connection_url=url,
            username=db.admin_user, password=wrong,
        )
    assert wrong not in str(failed.value)
    with pytest.raises(hx.InvalidPath):
        client.secrets.database.read_connection("pg")
    _configure(client, pg, db)
    client.secrets.database.create_role(
        "other", db_name="pg", creation_statements=['CREATE ROLE "{{name}}" LOGIN']
    )
    with pytest.raises(hx.InvalidRequest, match="not an allowed role"):
        client.secrets.database.generate_credentials("other")
    with pytest.raises(hx.InvalidRequest, match="unknown role"):
        client.secrets.database.generate_credentials("absent")


def test_rotate_root_changes_the_admin_password(
    vault: Vault, password_postgres: PasswordPostgres, managed_database: ManagedDatabase
) -> None:
    pg, db, client = password_postgres, managed_database, vault.client()
    _configure(client, pg, db)
    _role(client, db, default_ttl="1h")
    assert pg.can_login(db.admin_user, db.admin_password, db.name)
    client.secrets.database.rotate_root_credentials("pg")
    assert not pg.can_login(db.admin_user, db.admin_password, db.name)
    creds = client.secrets.database.generate_credentials("app")  # the new password is used
    assert pg.can_login(creds["data"]["username"], creds["data"]["password"], db.name)
    client.sys.revoke_lease(creds["lease_id"])
    assert not pg.role_exists(creds["data"]["username"])
