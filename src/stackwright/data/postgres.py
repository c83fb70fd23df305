"""PostgreSQL, as the ``Database`` driver runs it: the container's entry script, the SQL that
creates the database and its user, SCRAM verifiers and URLs. Pure: nothing here runs a process.

The password never reaches the server in clear: the user's password is set as a SCRAM-SHA-256
verifier computed here (what ``psql``'s ``\\password`` does), so neither the server's logs nor
``podman inspect`` can show it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from urllib.parse import quote

DATA_DIR = "/data"  # where the volume is mounted
PGDATA = f"{DATA_DIR}/pgdata"
CONTAINER_PORT = 5432
SCRAM_ITERATIONS = 4096
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
RESERVED_USERS = frozenset({"postgres"})
RESERVED_DATABASES = frozenset({"postgres", "template0", "template1"})
SETTING_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)?$")
MANAGED_SETTINGS = frozenset({"listen_addresses", "port", "data_directory", "hba_file",
                              "ident_file", "config_file", "unix_socket_directories"})

# Debian keeps the server binaries out of PATH; an image of another layout has them in PATH.
_PGBIN = ('PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1); '
          'if [ -n "$PGBIN" ]; then PATH="$PGBIN:$PATH"; fi')

ENTRY_SCRIPT = f"""set -eu
{_PGBIN}
D={PGDATA}
as_pg() {{ setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }}
mkdir -p /var/run/postgresql && chown postgres:postgres /var/run/postgresql
if [ ! -s "$D/PG_VERSION" ]; then
  if [ -d "$D" ] && [ -n "$(ls -A "$D")" ]; then
    echo "stackwright: $D holds files but no database cluster; refusing to initialise it" >&2
    exit 78
  fi
  echo "stackwright: initialising a new database cluster in $D"
  rm -rf "$D.init" && mkdir -p "$D.init"
  chown postgres:postgres "$D.init" && chmod 700 "$D.init"
  as_pg initdb -D "$D.init" -U postgres -E UTF8 --locale=C.UTF-8 \\
    --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  echo 'host all all all scram-sha-256' >> "$D.init/pg_hba.conf"
  rm -rf "$D" && mv "$D.init" "$D"
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$D" \\
  -c listen_addresses='*' "$@"
"""


def server_args(settings: dict[str, str]) -> list[str]:
    """``-c name=value`` for each postgresql.conf parameter, in a stable order."""
    return [a for name, value in sorted(settings.items()) for a in ("-c", f"{name}={value}")]


def setting_value(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def in_container(command: str) -> list[str]:
    """``sh -c`` running ``command`` with the server binaries on PATH."""
    return ["sh", "-c", f"{_PGBIN}; {command}"]


PG_ISREADY = in_container("exec pg_isready -q")
PSQL = in_container("exec psql -X -q -v ON_ERROR_STOP=1 -d postgres")


def scram_verifier(password: str, *, salt: bytes | None = None,
                   iterations: int = SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802, RFC 7677)."""
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def setup_sql(database: str, user: str, verifier: str) -> str:
    """Create the user and the database if missing; (re)set the user's password.

    Idempotent: run on every start, so a cluster kept on the volume gets the recorded
    password back. The session logs no statement, even a failing one."""
    for name in (database, user):
        if not IDENTIFIER.match(name):
            raise ValueError(f"not a plain identifier: {name!r}")
    return "\n".join([
        "SET log_statement = 'none';",
        "SET log_min_error_statement = 'panic';",
        f"SELECT 'CREATE ROLE \"{user}\" LOGIN' WHERE NOT EXISTS "
        f"(SELECT 1 FROM pg_roles WHERE rolname = '{user}') \\gexec",
        f"ALTER ROLE \"{user}\" WITH LOGIN PASSWORD '{verifier}';",
        f"SELECT 'CREATE DATABASE \"{database}\" OWNER \"{user}\"' WHERE NOT EXISTS "
        f"(SELECT 1 FROM pg_database WHERE datname = '{database}') \\gexec",
        "",
    ])


def url(user: str, password: str, host: str, port: int, database: str) -> str:
    return (f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/"
            f"{quote(database, safe='')}")


_QUIET = ["SET log_statement = 'none';", "SET log_min_error_statement = 'panic';"]


def _check(*names: str) -> None:
    for name in names:
        if not IDENTIFIER.match(name):
            raise ValueError(f"not a plain identifier: {name!r}")


def _create_role(name: str) -> str:
    return (f"SELECT 'CREATE ROLE \"{name}\" NOLOGIN' WHERE NOT EXISTS "
            f"(SELECT 1 FROM pg_roles WHERE rolname = '{name}') \\gexec")


def slots_sql(database: str, owner: str, roles: tuple[str, str], active: str,
              keep: frozenset[str], verifier: str) -> str:
    """Like :func:`setup_sql` for a rotating database: the owner (NOLOGIN when made here) and
    its two login roles ``roles``, members of it that act as it; ``active`` gets the password;
    roles not in ``keep`` (the active and a retiring one) cannot log in."""
    _check(database, owner, *roles)
    lines = [*_QUIET, _create_role(owner)]
    for name in roles:
        lines += [_create_role(name), f'GRANT "{owner}" TO "{name}";',
                  f"ALTER ROLE \"{name}\" SET role = '{owner}';"]
    lines.append(f"ALTER ROLE \"{active}\" WITH LOGIN PASSWORD '{verifier}';")
    lines += [f'ALTER ROLE "{name}" WITH NOLOGIN PASSWORD NULL;'
              for name in (owner, *roles) if name not in keep]
    lines += [f"SELECT 'CREATE DATABASE \"{database}\" OWNER \"{owner}\"' WHERE NOT EXISTS "
              f"(SELECT 1 FROM pg_database WHERE datname = '{database}') \\gexec", ""]
    return "\n".join(lines)


def password_sql(name: str, verifier: str) -> str:
    """Let ``name`` log in with the password of ``verifier``."""
    _check(name)
    return "\n".join([*_QUIET, f"ALTER ROLE \"{name}\" WITH LOGIN PASSWORD '{verifier}';", ""])


def retire_sql(name: str) -> str:
    """``name`` can no longer log in, and its sessions are ended."""
    _check(name)
    return "\n".join([*_QUIET, f'ALTER ROLE "{name}" WITH NOLOGIN PASSWORD NULL;',
                      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                      f"WHERE usename = '{name}' \\g /dev/null", ""])


# Dynamic credentials: a login role that creates short-lived users acting as the owner.

ADMIN_SUFFIX = "_admin"


def admin_role(owner: str) -> str:
    """The login role the secrets engine's ``database/`` mount connects as."""
    return f"{owner}{ADMIN_SUFFIX}"


def admin_sql(owner: str, admin: str, verifier: str) -> str:
    """Create ``admin`` if missing: it logs in with the password of ``verifier``, may create
    roles (CREATEROLE) and is a member of ``owner`` WITH ADMIN OPTION, so the users it creates
    can be made members of the owner and use what the owner has. Nothing else: not a
    superuser, no new databases, no replication, row security applies. Idempotent."""
    _check(owner, admin)
    return "\n".join([
        *_QUIET, _create_role(admin),
        f"ALTER ROLE \"{admin}\" WITH LOGIN CREATEROLE NOSUPERUSER NOCREATEDB NOREPLICATION "
        f"NOBYPASSRLS INHERIT PASSWORD '{verifier}';",
        f'GRANT "{owner}" TO "{admin}" WITH ADMIN OPTION;', ""])


def admin_off_sql(admin: str) -> str:
    """If ``admin`` exists: it can no longer log in nor create roles, its sessions are ended.
    The role stays (it may have granted memberships); the users it made keep their expiry."""
    _check(admin)
    return "\n".join([
        *_QUIET,
        f"SELECT 'ALTER ROLE \"{admin}\" WITH NOLOGIN NOCREATEROLE PASSWORD NULL' WHERE EXISTS "
        f"(SELECT 1 FROM pg_roles WHERE rolname = '{admin}') \\gexec",
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        f"WHERE usename = '{admin}' \\g /dev/null", ""])
