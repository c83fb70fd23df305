"""The PostgreSQL plugin's I/O: users created, renewed and dropped through psycopg.

Every operation opens one connection with the connection config's root credentials, runs its
statements in one transaction and closes it. psycopg errors become :class:`BackendError`
with every password involved scrubbed from the message; the original exception is not
chained, because its text (``LINE 1: CREATE ROLE ... PASSWORD '...'``) would carry them.

Without revocation statements a user is dropped the way an operator would: its sessions are
terminated, what it owns in the connection's database is reassigned to the root user, its
privileges dropped, then the role.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from stackwright.secrets import dbplugin
from stackwright.secrets.errors import BackendError


@dataclass(frozen=True)
class Connection:
    """What the plugin needs of a connection config."""

    name: str
    url: str = field(repr=False)
    username: str
    password: str = field(repr=False)


class PostgresPlugin:
    def __init__(self, connect_timeout: int = 5) -> None:
        self.connect_timeout = connect_timeout

    def verify(self, conn: Connection) -> None:
        with self._session(conn, ()) as session:
            session.execute("SELECT 1")

    def create_user(
        self, conn: Connection, statements: Sequence[str], user: str, password: str, expire_us: int
    ) -> None:
        values = dbplugin.statement_values(user, password, expire_us)
        self._run(conn, [dbplugin.render(s, values) for s in statements], (password,))

    def renew_user(
        self, conn: Connection, statements: Sequence[str], user: str, expire_us: int
    ) -> None:
        values = dbplugin.statement_values(user, expire_us=expire_us)
        rendered = [dbplugin.render(s, values) for s in statements or dbplugin.DEFAULT_RENEW]
        self._run(conn, rendered, ())

    def revoke_user(self, conn: Connection, statements: Sequence[str], user: str) -> None:
        if statements:
            values = dbplugin.statement_values(user)
            self._run(conn, [dbplugin.render(s, values) for s in statements], ())
            return
        with self._session(conn, ()) as session, session.transaction():
            found = session.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
            if found is None:
                return  # already gone: revocation is idempotent
            session.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE usename = %s AND pid <> pg_backend_pid()",
                (user,),
            )
            role = sql.Identifier(user)
            session.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(role))
            session.execute(sql.SQL("DROP OWNED BY {}").format(role))
            session.execute(sql.SQL("DROP ROLE {}").format(role))

    def rotate_root(self, conn: Connection, statements: Sequence[str], new_password: str) -> None:
        values = dbplugin.statement_values(conn.username, new_password)
        chosen = statements or dbplugin.DEFAULT_ROTATE_ROOT
        self._run(conn, [dbplugin.render(s, values) for s in chosen], (new_password,))

    def _run(self, conn: Connection, statements: Iterable[str], secrets: Sequence[str]) -> None:
        with self._session(conn, secrets) as session, session.transaction():
            for statement in statements:
                session.execute(statement.encode())  # no parameters: several statements may run

    @contextmanager
    def _session(self, conn: Connection, secrets: Sequence[str]) -> Iterator[psycopg.Connection]:
        hidden = (*secrets, conn.password)
        target, extra = dbplugin.connection_target(conn.url, conn.username, conn.password)
        try:
            conninfo = make_conninfo(
                target,
                connect_timeout=self.connect_timeout,
                application_name="stackwright-secrets",
                **extra,
            )
            session = psycopg.connect(conninfo, autocommit=True)
        except psycopg.Error as exc:
            message = dbplugin.scrub(str(exc).strip(), (*hidden, target))
            raise BackendError(
                f"cannot connect to database {conn.name!r}: {message}",
                hint=f"check connection_url, username and password of database/config/{conn.name}",
            ) from None  # the cause's text may hold the password
        try:
            with session:
                yield session
        except psycopg.Error as exc:
            message = dbplugin.scrub(str(exc).strip(), hidden)
            raise BackendError(f"database {conn.name!r}: {message}") from None
