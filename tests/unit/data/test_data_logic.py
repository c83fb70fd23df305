"""Pure parts of the Database and Cache kinds: spec validation, cross-resource checks, the
server command lines (no password in them), SCRAM verifiers, SQL, RESP, URLs, masking and the
password/port stash."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from stackwright.core.kinds import DriverContext
from stackwright.core.model import Address, Declared
from stackwright.core.values import SENSITIVE_TEXT, mask
from stackwright.data import postgres as pg
from stackwright.data import redis
from stackwright.data.cache import CACHE_KIND, CacheSpec, PodmanCacheDriver
from stackwright.data.database import DATABASE_KIND, DatabaseSpec, PodmanDatabaseDriver
from stackwright.data.instance import (
    Stash,
    free_port,
    generate_password,
    names_for,
    port_is_free,
)
from stackwright.errors import Location
from stackwright.local import scope_of
from stackwright.tools.podman import run_args

PASSWORD = "Zx9-secret_password-0123456789ab"


def _ctx() -> DriverContext:
    return DriverContext(project_dir=Path("/nonexistent"), environment="dev", project="shop")


# Database spec


def test_user_defaults_to_the_database_name() -> None:
    assert DatabaseSpec(database="shop").owner == "shop"
    assert DatabaseSpec(database="shop", user="app").owner == "app"


@pytest.mark.parametrize("spec, message", [
    ({"database": "Shop"}, "lowercase letters"),
    ({"database": "shop; drop"}, "lowercase letters"),
    ({"database": "template1"}, "reserved"),
    ({"database": "shop", "user": "postgres"}, "reserved"),
    ({"database": "shop", "port": 70000}, "less than or equal to 65535"),
    ({"database": "shop", "volume": "a/b"}, "not a podman volume name"),
    ({"database": "shop", "resources": {"memory": "lots"}}, "memory must look like"),
    ({"database": "shop", "settings": {"listen_addresses": "*"}}, "set by Stackwright"),
    ({"database": "shop", "settings": {"Bad-Name": 1}}, "not a postgresql.conf parameter"),
    ({"database": "shop", "password": "x"}, "Extra inputs are not permitted"),
])
def test_database_spec_errors(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DatabaseSpec.model_validate(spec)


def test_settings_become_server_flags_in_a_stable_order() -> None:
    spec = DatabaseSpec(database="shop", settings={"work_mem": "8MB", "fsync": False,
                                                   "max_connections": 50})
    script, args = PodmanDatabaseDriver().server(spec, PASSWORD)
    assert args == ["-c", "fsync=off", "-c", "max_connections=50", "-c", "work_mem=8MB"]
    assert "initdb" in script and PASSWORD not in script


def test_running_is_always_recorded() -> None:
    assert DATABASE_KIND.normalize(DatabaseSpec(database="shop")) == {"database": "shop",
                                                                     "running": True}
    assert CACHE_KIND.normalize(CacheSpec()) == {"running": True}


def test_predicted_outputs_are_what_the_spec_fixes() -> None:
    predicted = DATABASE_KIND.predict_outputs({"database": "shop", "port": 15432})
    assert predicted == {"host": "127.0.0.1", "user": "shop", "database": "shop",
                         "owner": "shop", "internalPort": 5432, "port": 15432}
    assert "port" not in CACHE_KIND.predict_outputs({})


def _decl(kind: str, name: str, spec: dict[str, object], line: int) -> Declared:
    return Declared(Address(kind, name), "stackwright.dev/v1", spec,
                    location=Location("data.yaml", line, 1))


def test_two_instances_on_one_port_or_volume_are_spec_errors() -> None:
    errors = DATABASE_KIND.validate_together([
        _decl("Database", "a", {"database": "a", "port": 15432, "volume": "v"}, 1),
        _decl("Database", "b", {"database": "b", "port": 15432}, 7),
        _decl("Database", "c", {"database": "c", "volume": "v"}, 13),
        _decl("Database", "d", {"database": "d", "volume": "${{ Volume.x.name }}"}, 19),
    ])
    assert [(e.field, e.location.line if e.location else 0) for e in errors] == [
        ("spec.port", 7), ("spec.volume", 13)]
    assert "host port 15432 is also used by Database/a" in str(errors[0])


# Cache spec


@pytest.mark.parametrize("spec, message", [
    ({"maxmemory": "64 MB"}, "maxmemory must look like"),
    ({"maxmemoryPolicy": "lru"}, "Input should be"),
    ({"port": 0}, "greater than or equal to 1"),
])
def test_cache_spec_errors(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CacheSpec.model_validate(spec)


def test_redis_gets_the_password_only_as_a_hash() -> None:
    spec = CacheSpec(maxmemory="64MB", maxmemoryPolicy="allkeys-lru")
    script, args = PodmanCacheDriver().server(spec, PASSWORD)
    digest = hashlib.sha256(PASSWORD.encode()).hexdigest()
    assert args[-8:] == ["--user", "default", "reset", "on", f"#{digest}", "~*", "&*", "+@all"]
    assert ["--maxmemory", "64mb"] == args[args.index("--maxmemory"):args.index("--maxmemory") + 2]
    assert "--appendonly" in args and args[args.index("--appendonly") + 1] == "yes"
    assert PASSWORD not in " ".join([script, *args])


# Container command lines


def test_database_container_line_holds_no_password() -> None:
    spec = DatabaseSpec(database="shop", network="sw-shop-dev-backend",
                        resources={"cpus": 0.5, "memory": "256m"})  # type: ignore[arg-type]
    names = names_for(_ctx(), Address("Database", "db"), spec)
    container = PodmanDatabaseDriver()._container_spec(
        _ctx(), spec, names, "localhost/stackwright/data:abc", 15432, PASSWORD,
        Address("Database", "db"))
    args = run_args(container)
    prefix = scope_of(_ctx()).prefix
    assert names.container == f"{prefix}-db" and names.volume == f"{prefix}-db-data"
    for pair in (["--publish", "127.0.0.1:15432:5432/tcp"],
                 ["--volume", f"{prefix}-db-data:/data"],
                 ["--network", "sw-shop-dev-backend:alias=db"],
                 ["--restart", "unless-stopped"], ["--stop-signal", "SIGINT"],
                 ["--cpus", "0.5"], ["--memory", "256m"], ["--entrypoint", "/bin/sh"],
                 ["--label", "dev.stackwright.resource=Database/db"]):
        assert any(args[i:i + 2] == pair for i in range(len(args))), pair
    assert "--init" in args
    assert PASSWORD not in " ".join(args)


def test_a_named_volume_is_used_as_is() -> None:
    names = names_for(_ctx(), Address("Cache", "c"), CacheSpec(volume="mine"))
    assert (names.volume, names.default_volume) == ("mine", False)


# PostgreSQL pieces

# RFC 7677's example exchange (user "user", password "pencil").
_AUTH_MESSAGE = (b"n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)"
                 b"hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvY"
                 b"DpWUa2RaTCAfuxFIlj)hNlF$k0")


def test_scram_verifier_matches_rfc_7677() -> None:
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    verifier = pg.scram_verifier("pencil", salt=salt)
    method, rest = verifier.split("$", 1)
    params, keys = rest.split("$")
    stored_key, server_key = (base64.b64decode(k) for k in keys.split(":"))
    assert method == "SCRAM-SHA-256" and params == "4096:W22ZaJ0SNY7soEsUEjb6gQ=="
    server_signature = hmac.new(server_key, _AUTH_MESSAGE, hashlib.sha256).digest()
    assert base64.b64encode(server_signature) == b"6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    proof = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    signature = hmac.new(stored_key, _AUTH_MESSAGE, hashlib.sha256).digest()
    client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
    assert hashlib.sha256(client_key).digest() == stored_key


def test_verifiers_are_salted_afresh() -> None:
    assert pg.scram_verifier(PASSWORD) != pg.scram_verifier(PASSWORD)


def test_setup_sql_is_idempotent_and_holds_only_the_verifier() -> None:
    verifier = pg.scram_verifier(PASSWORD)
    sql = pg.setup_sql("shop", "app", verifier)
    assert "SET log_min_error_statement = 'panic';" in sql
    assert f"ALTER ROLE \"app\" WITH LOGIN PASSWORD '{verifier}';" in sql
    assert sql.count("\\gexec") == 2 and "WHERE NOT EXISTS" in sql
    assert PASSWORD not in sql
    with pytest.raises(ValueError, match="not a plain identifier"):
        pg.setup_sql("shop", "app'; drop", verifier)


def test_urls() -> None:
    assert pg.url("app", "p@ss/w", "127.0.0.1", 15432, "shop") == \
        "postgresql://app:p%40ss%2Fw@127.0.0.1:15432/shop"
    assert redis.url("p@ss", "cache", 6379) == "redis://:p%40ss@cache:6379/0"


def test_database_outputs_and_their_masking() -> None:
    from stackwright.data.instance import Instance

    spec = DatabaseSpec(database="shop", network="net")
    inst = Instance(Address("Database", "db"), "sw-shop-dev-db", "vol", 15432, PASSWORD)
    out = PodmanDatabaseDriver().outputs(spec, inst)
    assert out["url"] == f"postgresql://shop:{PASSWORD}@127.0.0.1:15432/shop"
    assert out["internalUrl"] == f"postgresql://shop:{PASSWORD}@db:5432/shop"
    shown = mask({"id": "x", **out}, DATABASE_KIND.sensitive_outputs_for({}))
    assert shown["password"] == shown["url"] == shown["internalUrl"] == SENSITIVE_TEXT
    assert shown["port"] == 15432 and PASSWORD not in str(shown)
    # rotated_at and retiringPassword are added by create and update (data/slots.py)
    assert set(out) | {"rotated_at", "retiringPassword"} == set(DATABASE_KIND.outputs)


def test_cache_outputs_without_a_network() -> None:
    from stackwright.data.instance import Instance

    inst = Instance(Address("Cache", "c"), "sw-shop-dev-c", "vol", 16379, PASSWORD)
    out = PodmanCacheDriver().outputs(CacheSpec(), inst)
    assert out["url"] == f"redis://:{PASSWORD}@127.0.0.1:16379/0"
    assert out["internalHost"] is None and out["internalUrl"] is None
    assert set(out) == set(CACHE_KIND.outputs)
    assert {"password", "url", "internalUrl"} <= CACHE_KIND.sensitive_outputs_for({})


# RESP


def test_resp_encoding_and_replies() -> None:
    assert redis.encode("AUTH", "pw") == b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n"
    assert redis.simple_replies(b"+OK\r\n-WRONGPASS invalid\r\n+PONG\r\n") == [
        "+OK", "-WRONGPASS invalid", "+PONG"]


# Passwords, ports and the stash


def test_generated_passwords_are_32_url_safe_characters() -> None:
    first, second = generate_password(), generate_password()
    assert len(first) == 32 and first != second
    assert set(first) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_a_listening_port_is_not_free() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        taken = sock.getsockname()[1]
        assert not port_is_free(taken)
    port = free_port()
    assert port_is_free(port)


def test_stash_keeps_password_and_port_readable_by_its_owner_only(tmp_path: Path) -> None:
    stash = Stash(tmp_path, "postgres")
    assert stash.password() is None and stash.port() is None
    stash.save(PASSWORD, 15432)
    stash.save(PASSWORD, 15433)
    assert (stash.password(), stash.port()) == (PASSWORD, 15433)
    assert stat.S_IMODE((stash.dir / "password").stat().st_mode) == 0o600
    assert stat.S_IMODE(stash.dir.stat().st_mode) == 0o700
    assert Stash(tmp_path, "redis").password() is None
