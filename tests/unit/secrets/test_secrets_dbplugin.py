"""The pure parts of the PostgreSQL plugin: names, passwords, templates, URLs, scrubbing."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from stackwright.secrets import dbplugin
from stackwright.secrets.errors import InvalidRequestError


def test_passwords_follow_vaults_default_policy() -> None:
    seen = {dbplugin.generate_password() for _ in range(200)}
    assert len(seen) == 200
    for password in seen:
        assert re.fullmatch(r"[A-Za-z0-9-]{20}", password)
        assert re.search(r"[a-z]", password) and re.search(r"[A-Z]", password)
        assert re.search(r"[0-9]", password) and "-" in password


def test_usernames_follow_vaults_template_and_postgres_limit() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    name = dbplugin.generate_username("token-ci-runner", "readonly", at)
    assert re.fullmatch(r"v-token-ci-readonly-[A-Za-z0-9]{20}-1767323045", name)
    long = dbplugin.generate_username("d" * 40, "r" * 40 + '"; DROP', at)
    assert len(long) <= dbplugin.MAX_IDENTIFIER and long.startswith("v-dddddddd-rrrrrrrr-")
    assert '"' not in dbplugin.generate_username('a"b', 'c"d')


def test_render_fills_known_keys_and_leaves_the_rest() -> None:
    values = dbplugin.statement_values("v-u", "pw", 1_767_323_045_000_000)
    rendered = dbplugin.render(
        "CREATE ROLE \"{{name}}\" PASSWORD '{{ password }}' VALID UNTIL '{{expiration}}' {{other}}",
        values,
    )
    assert rendered == (
        "CREATE ROLE \"v-u\" PASSWORD 'pw' VALID UNTIL '2026-01-02 03:04:05+0000' {{other}}"
    )
    assert dbplugin.render("{{username}}", values) == "v-u"


def test_statement_lists() -> None:
    assert dbplugin.statement_list("CREATE ROLE x;", "s") == ("CREATE ROLE x;",)
    assert dbplugin.statement_list(["a", "  ", "b "], "s") == ("a", "b")
    assert dbplugin.statement_list(None, "s") == ()
    with pytest.raises(InvalidRequestError, match="creation_statements"):
        dbplugin.statement_list([1], "creation_statements")


def test_urls_are_normalized_templated_and_masked() -> None:
    assert dbplugin.normalize_url("postgres://h/db") == "postgresql://h/db"
    assert dbplugin.normalize_url("postgresql+psycopg://h/db") == "postgresql://h/db"
    with pytest.raises(InvalidRequestError, match="connection_url") as err:
        dbplugin.normalize_url("mysql://h/db")
    assert err.value.hint and "{{username}}" in err.value.hint

    url, extra = dbplugin.connection_target(
        "postgresql://{{username}}:{{password}}@h:5432/db", "admin", "p@ss/w:rd"
    )
    assert url == "postgresql://admin:p%40ss%2Fw%3Ard@h:5432/db" and extra == {}
    url, extra = dbplugin.connection_target("postgres://h/db", "admin", "secret")
    assert url == "postgresql://h/db" and extra == {"user": "admin", "password": "secret"}

    assert dbplugin.masked_url("postgresql://u:hunter2@h/db") == "postgresql://u:*****@h/db"
    templated = "postgresql://{{username}}:{{password}}@h/db"
    assert dbplugin.masked_url(templated) == templated
    assert dbplugin.masked_url("postgresql://h/db") == "postgresql://h/db"


def test_allowed_roles_take_names_and_globs() -> None:
    assert dbplugin.role_allowed("app", ["app"])
    assert dbplugin.role_allowed("anything", ["*"])
    assert dbplugin.role_allowed("app-ro", ["app-*"])
    assert not dbplugin.role_allowed("app", [])
    assert not dbplugin.role_allowed("apple", ["app"])
    assert not dbplugin.role_allowed("x.app", ["?.app"])


def test_scrub_removes_secrets_and_their_url_forms() -> None:
    message = 'LINE 1: ALTER ROLE "a" PASSWORD \'p@ss\' at postgresql://a:p%40ss@h'
    scrubbed = dbplugin.scrub(message, ["p@ss", ""])
    assert "p@ss" not in scrubbed and "p%40ss" not in scrubbed
    assert scrubbed.count("[redacted]") == 2


def test_names_are_checked() -> None:
    assert dbplugin.validate_name("read-only_1.x", "role") == "read-only_1.x"
    for bad in ("", "-x", "a/b", 'a"b', "x" * 200):
        with pytest.raises(InvalidRequestError, match="invalid role name"):
            dbplugin.validate_name(bad, "role")
