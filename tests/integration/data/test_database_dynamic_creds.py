"""Dynamic credentials from the secrets API for a managed Database, on real podman.

A ``Database`` applied through the CLI turns on ``dynamicCredentials`` in place; the secrets
API (served on a free port, as the daemon serves it) is pointed at it with hvac from the
recorded outputs; a role hands out PostgreSQL users that log in to the Database's host port
and read and write the owner's tables; revoking the lease ends the user's session and drops
the role; a short lease is dropped by the sweeper; the admin's password survives the
container being re-created; turning the field off stops the admin from logging in. The
admin's password never shows in ``podman inspect``, the container's logs, the state files or
the CLI's output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hvac
import psycopg
import pytest
from tests.fixtures.cli import Project
from tests.fixtures.podman_cleanup import remove_project_objects
from tests.fixtures.vault import Vault, running_vault

from stackwright.core.engine import Engine

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("podman") is None, reason="needs podman"),
    pytest.mark.skipif(os.environ.get("STACKWRIGHT_TEST_DEBOOTSTRAP") == "0",
                       reason="STACKWRIGHT_TEST_DEBOOTSTRAP=0: the data image cannot be built"),
]
CACHE_DIR = os.environ.get("STACKWRIGHT_TEST_CACHE", "/var/tmp/stackwright-test-cache")
APPLY_TIMEOUT = 600  # the first run on a machine builds the data image
SPEC = """
apiVersion: stackwright.dev/v1
kind: Database
metadata: {{name: db}}
spec:
  database: shop
  user: app
  dynamicCredentials: {dynamic}
"""
# The wiring docs/data.md shows: database/config/shop and the role app, written by a Command
# with curl from the Database's outputs (VAULT_ADDR and VAULT_TOKEN come from the caller).
WIRING = r"""
---
apiVersion: stackwright.dev/v1
kind: Command
metadata: {name: db-creds}
spec:
  environment:
    DB_ADDRESS: "${{ Database.db.host }}:${{ Database.db.port }}/${{ Database.db.database }}"
    DB_ADMIN: "${{ Database.db.adminUser }}"
    DB_ADMIN_PASSWORD: "${{ Database.db.adminPassword }}"
  create: |
    set -eu
    api() { curl -fsS -H "X-Vault-Token: $VAULT_TOKEN" --data-binary @- "$VAULT_ADDR/v1/$1"; }
    printf '{"plugin_name": "postgresql-database-plugin", "allowed_roles": ["app", "brief"],
      "connection_url": "postgresql://{{username}}:{{password}}@%s",
      "username": "%s", "password": "%s"}' \
      "$DB_ADDRESS" "$DB_ADMIN" "$DB_ADMIN_PASSWORD" | api database/config/shop
    api database/roles/app <<'EOF'
    {"db_name": "shop", "default_ttl": "1h", "max_ttl": "24h", "creation_statements": [
      "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}' IN ROLE \"app\";",
      "ALTER ROLE \"{{name}}\" SET role = 'app';",
      "GRANT \"{{name}}\" TO CURRENT_USER;"]}
    EOF
  destroy: >-
    curl -fsS -X DELETE -H "X-Vault-Token: $VAULT_TOKEN"
    "$VAULT_ADDR/v1/database/config/shop"
"""  # noqa: E501


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[Vault]:
    """The secrets API on a free port over a SQLite file, initialised and unsealed."""
    with running_vault(tmp_path, lease_sweep_interval=0.2, db_connect_timeout=3) as running:
        yield running


@pytest.fixture
def data_project(project: Project) -> Iterator[Project]:
    name = f"dc{uuid.uuid4().hex[:8]}"
    project.write("stackwright.yaml", f"""
        project: {name}
        settings:
          images: {{cacheDir: {CACHE_DIR}}}
    """)
    project.name = name  # type: ignore[attr-defined]
    yield project
    remove_project_objects(name, project.root)


def podman(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", "--runtime", "runc", *args], capture_output=True,
                          text=True, check=False)


def secretly(condition: bool, message: str) -> None:
    """Assert without pytest printing the values involved (they hold passwords)."""
    assert condition, message


class Cli:
    """The project, its CLI outputs kept to check them for the password."""

    def __init__(self, project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
        self.p, self.monkeypatch = project, monkeypatch
        self.outputs: list[str] = []

    def apply(self, dynamic: bool, wiring: bool = False) -> str:
        spec = SPEC.format(dynamic=str(dynamic).lower()) + (WIRING if wiring else "")
        self.p.write("main.yaml", spec)
        done = self.p.run("apply", "--yes", timeout=APPLY_TIMEOUT)
        self.outputs.append(done.out + done.err)
        assert done.code == 0, done.out + done.err
        return done.out + done.err

    def plan_is_empty(self) -> None:
        done = self.p.run("plan", "--detailed-exitcode")
        self.outputs.append(done.out + done.err)
        assert done.code == 0, done.out + done.err

    def recorded(self) -> dict[str, Any]:
        """The Database's recorded outputs, sensitive ones decrypted."""
        self.monkeypatch.setenv("STACKWRIGHT_KEY_DIR", self.p.env["STACKWRIGHT_KEY_DIR"])
        engine = Engine(self.p.root)
        try:
            found = {str(a): {"id": r.id, **r.outputs}
                     for a, r in engine.snapshot().resources.items()}
        finally:
            engine.close()
        return found["Database/db"]


def connect(db: dict[str, Any], user: str, password: str) -> psycopg.Connection[Any]:
    return psycopg.connect(host=db["host"], port=db["port"], dbname=db["database"], user=user,
                           password=password, connect_timeout=5, autocommit=True)


def logs_in(db: dict[str, Any], user: str, password: str) -> bool:
    try:
        with connect(db, user, password) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError as exc:
        secretly("password authentication failed" in str(exc)
                 or "not permitted to log in" in str(exc), "refused for its credentials")
        return False


def query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, connect_timeout=5, autocommit=True) as conn:
        cursor = conn.execute(sql.encode(), params or None)
        return cursor.fetchall() if cursor.description else []


def role_exists(db: dict[str, Any], name: str) -> bool:
    return bool(query(db["adminUrl"], "SELECT 1 FROM pg_roles WHERE rolname = %s", name))


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def started_at(container: str) -> str:
    done = podman("container", "inspect", "--format", "{{.State.StartedAt}}", container)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def check_wired(client: hvac.Client, db: dict[str, Any]) -> None:
    """The Command configured database/config/shop and the role app; hvac adds a short one."""
    shown = client.secrets.database.read_connection("shop")["data"]
    assert shown["connection_details"]["username"] == "app_admin"
    assert shown["connection_details"]["connection_url"] == (
        f"postgresql://{{{{username}}}}:{{{{password}}}}@{db['host']}:{db['port']}/shop")
    assert shown["allowed_roles"] == ["app", "brief"]
    creation = client.secrets.database.read_role("app")["data"]["creation_statements"]
    client.secrets.database.create_role("brief", db_name="shop", creation_statements=creation,
                                        default_ttl=2, max_ttl=2)


def check_lease_works_and_revokes(client: hvac.Client, db: dict[str, Any]) -> None:
    creds = client.secrets.database.generate_credentials("app")
    user, password = creds["data"]["username"], creds["data"]["password"]
    before = query(db["url"], "SELECT name FROM items ORDER BY id")
    with connect(db, user, password) as conn:  # stays open: revocation must end it
        assert conn.execute("SELECT name FROM items ORDER BY id").fetchall() == before
        conn.execute("INSERT INTO items (name) VALUES ('from a lease')")
        conn.execute("CREATE TABLE IF NOT EXISTS made_by_lease (n int)")
        conn.execute("INSERT INTO made_by_lease VALUES (1)")
        client.sys.revoke_lease(creds["lease_id"])
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")  # its session was terminated
    secretly(not logs_in(db, user, password), "the revoked user logs in")
    secretly(not role_exists(db, user), "the revoked user's role is left")
    rows = query(db["url"], "SELECT name FROM items ORDER BY id")
    assert rows == [*before, ("from a lease",)] and before[0] == ("by the owner",)
    owner = query(db["url"], "SELECT tableowner FROM pg_tables WHERE tablename = 'made_by_lease'")
    assert owner == [("app",)], "what a lease creates belongs to the owner"


def check_expiry(client: hvac.Client, db: dict[str, Any]) -> None:
    creds = client.secrets.database.generate_credentials("brief")
    user, password = creds["data"]["username"], creds["data"]["password"]
    assert creds["lease_duration"] <= 2
    secretly(logs_in(db, user, password), "a user of a 2 s lease does not log in")
    secretly(wait_for(lambda: not role_exists(db, user), 15), "the sweeper did not drop it")
    secretly(not logs_in(db, user, password), "the expired user logs in")


def check_secret_free(cli: Cli, vault: Vault, db: dict[str, Any]) -> None:
    admin_password = db["adminPassword"]
    inspect = podman("container", "inspect", db["container"])
    assert inspect.returncode == 0
    secretly(admin_password not in inspect.stdout, "admin password in podman inspect")
    logs = podman("logs", db["container"])
    secretly(admin_password not in logs.stdout + logs.stderr, "admin password in the logs")
    files = sorted((cli.p.root / ".stackwright").glob("state.db*"))
    files += sorted(Path(vault.settings.audit_path).parent.glob("secrets.db*"))
    files.append(Path(vault.settings.audit_path))
    assert len(files) >= 3
    for path in files:
        secretly(admin_password.encode() not in path.read_bytes(), f"admin password in {path}")
    for i, text in enumerate(cli.outputs):
        secretly(admin_password not in text, f"admin password in CLI output #{i}")


def test_dynamic_credentials_through_the_secrets_api(
    data_project: Project, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = Cli(data_project, monkeypatch)
    cli.apply(dynamic=False)
    before = cli.recorded()
    secretly(before["adminUser"] is None and before["adminPassword"] is None, "an admin")
    query(before["url"], "CREATE TABLE items (id serial PRIMARY KEY, name text)")
    query(before["url"], "INSERT INTO items (name) VALUES ('by the owner')")
    started = started_at(before["container"])

    out = cli.apply(dynamic=True)  # in place: the server keeps running
    db = cli.recorded()
    assert "app_admin" in out, out
    secretly(started_at(db["container"]) == started and db["id"] == before["id"], "restarted")
    secretly(db["adminUser"] == "app_admin", "adminUser")
    secretly(db["adminUrl"].startswith("postgresql://app_admin:"), "adminUrl")
    rights = query(db["adminUrl"], "SELECT rolcreaterole, rolsuper, rolcreatedb FROM pg_roles "
                                   "WHERE rolname = current_user")
    assert rights == [(True, False, False)]
    cli.plan_is_empty()

    cli.p.env.update(VAULT_ADDR=vault.url, VAULT_TOKEN=vault.root_token)
    cli.apply(dynamic=True, wiring=True)
    cli.plan_is_empty()
    client = vault.client()
    check_wired(client, db)
    check_lease_works_and_revokes(client, db)
    check_expiry(client, db)

    podman("rm", "--force", "--time", "0", db["container"])  # re-created by the next apply
    cli.apply(dynamic=True, wiring=True)
    again = cli.recorded()
    secretly(started_at(again["container"]) != started, "the container was not re-created")
    secretly(again["adminPassword"] == db["adminPassword"], "the admin password was kept")
    check_lease_works_and_revokes(client, again)  # the stored config still connects
    check_secret_free(cli, vault, again)

    cli.apply(dynamic=False)
    off = cli.recorded()
    secretly(off["adminUser"] is None and off["adminUrl"] is None, "admin outputs left")
    secretly(not logs_in(off, "app_admin", db["adminPassword"]), "the admin still logs in")
    rights = query(off["url"], "SELECT rolcanlogin, rolcreaterole FROM pg_roles "
                               "WHERE rolname = 'app_admin'")
    assert rights == [(False, False)]
    with pytest.raises(hvac.exceptions.InvalidPath):  # the Command's destroy removed it
        client.secrets.database.read_connection("shop")
    cli.plan_is_empty()
