"""A PostgreSQL server that checks passwords (scram-sha-256 over TCP), for dynamic credentials.

The shared fixture (tests/fixtures/postgres.py) trusts every TCP login, which would let a
generated user log in with any password; these tests must prove the password itself works.
Started once per test module on 127.0.0.1 and a free port; ``stop``/``start`` simulate an
outage.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from tests.fixtures.postgres import _as_user, _bin_dir, _free_port, _run, _server_user


@dataclass
class PasswordPostgres:
    bins: Path
    user: str | None
    root: Path
    port: int
    admin_password: str = field(repr=False)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root / 'sock'} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c synchronous_commit=off"
        )
        argv = [str(self.bins / "pg_ctl"), "-D", str(self.data), "-o", options]
        _run(self.user, [*argv, "-l", str(self.root / "log"), "-w", "-t", "60", "start"])

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            argv = [str(self.bins / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]
            subprocess.run(_as_user(self.user, argv), capture_output=True, timeout=60)

    def connect(self, user: str, password: str, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            dbname=dbname,
            user=user,
            password=password,
            connect_timeout=5,
            autocommit=True,
        )

    def admin(self, dbname: str = "postgres") -> psycopg.Connection:
        return self.connect("postgres", self.admin_password, dbname)

    def can_login(self, user: str, password: str, dbname: str) -> bool:
        try:
            with self.connect(user, password, dbname) as conn:
                row = conn.execute("SELECT current_user").fetchone()
        except psycopg.OperationalError:
            return False
        return row is not None and row[0] == user

    def role_exists(self, name: str) -> bool:
        with self.admin() as conn:
            found = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
        return found is not None


@pytest.fixture(scope="module", name="password_postgres")
def password_postgres_fixture() -> Iterator[PasswordPostgres]:
    bins = _bin_dir()
    if bins is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found")
    user = _server_user()
    root = Path(tempfile.mkdtemp(prefix="stackwright-pgpw-"))
    (root / "sock").mkdir()
    password = secrets.token_urlsafe(18)
    (root / "pwfile").write_text(password + "\n")
    if user:
        pw = pwd.getpwnam(user)
        for path in (root, root / "sock", root / "pwfile"):
            os.chown(path, pw.pw_uid, pw.pw_gid)
    os.chmod(root, 0o700)
    server = PasswordPostgres(bins, user, root, _free_port(), password)
    initdb = [str(bins / "initdb"), "-D", str(server.data), "-U", "postgres", "-E", "UTF8"]
    auth = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={root / 'pwfile'}"]
    try:
        _run(user, [*initdb, *auth, "--no-sync"])
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class ManagedDatabase:
    """A fresh database and a superuser that the secrets engine connects as."""

    name: str
    admin_user: str
    admin_password: str = field(repr=False)


@pytest.fixture(name="managed_database")
def managed_database_fixture(password_postgres: PasswordPostgres) -> Iterator[ManagedDatabase]:
    suffix = uuid.uuid4().hex[:12]
    db = ManagedDatabase(f"app_{suffix}", f"vaultadmin_{suffix}", secrets.token_urlsafe(18))
    with password_postgres.admin() as conn:
        conn.execute(f'CREATE DATABASE "{db.name}"')
        conn.execute(
            f"CREATE ROLE \"{db.admin_user}\" SUPERUSER LOGIN PASSWORD '{db.admin_password}'"
        )
    yield db
    if not (password_postgres.data / "postmaster.pid").exists():
        password_postgres.start()  # a test that simulated an outage failed half-way
    with password_postgres.admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')
