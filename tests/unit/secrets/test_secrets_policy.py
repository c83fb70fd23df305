from __future__ import annotations

import pytest

from stackwright.secrets.errors import PolicyParseError
from stackwright.secrets.policy import Acl, parse_policy

APP = """
# app team
path "secret/data/app/*" {
  capabilities = ["read", "list"]   // trailing comment
}
/* a block
   comment */
path "secret/data/app/admin" { capabilities = ["deny"] }
path "secret/metadata/+/config" {
  capabilities = ["read",]
}
"""


def test_hcl_policy_parses_paths_and_capabilities() -> None:
    policy = parse_policy("app", APP)
    rules = {r.pattern: r.capabilities for r in policy.rules}
    assert rules == {
        "secret/data/app/*": {"read", "list"},
        "secret/data/app/admin": {"deny"},
        "secret/metadata/+/config": {"read"},
    }


def test_json_policy_is_equivalent() -> None:
    text = '{"path": {"secret/data/app/*": {"capabilities": ["read", "list"]}}}'
    policy = parse_policy("app", text)
    assert [(r.pattern, r.capabilities) for r in policy.rules] == [
        ("secret/data/app/*", frozenset({"read", "list"}))
    ]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ('path "a" {\n  capabilities = ["read"]\n', 3, "expected '}'"),
        ('path "a" {\n\n  capabilities = ["reed"]\n}', 3, "invalid capability 'reed'"),
        ('path "a" {\n  capabilities = "read"\n}', 2, "must be a list"),
        ('\n\npath "a" {\n  allowed_parameters = {}\n}', 4, "not supported"),
        ('name = "x"', 1, "unsupported key 'name'"),
        ('path "a*b" { capabilities = ["read"] }', 1, "only allowed at the end"),
        ('{\n "path": {\n  "a": {"capabilities": ["write"]}\n }\n}', 3, "invalid capability"),
        ('path "a" { capabilities = ["read"] } }', 1, "expected a key"),
        ('path "a" {\n capabilities = [\n "read" @ ]\n}', 3, "unexpected character '@'"),
    ],
)
def test_malformed_policies_name_the_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(PolicyParseError) as info:
        parse_policy("bad", text)
    assert info.value.line == line
    assert fragment in str(info.value)
    assert f"line {line}" in str(info.value)


def test_glob_plus_and_exact_matching() -> None:
    acl = Acl.from_policies([parse_policy("app", APP)])
    assert acl.allows("secret/data/app/db", "read")
    assert acl.allows("secret/data/app/deep/er", "list")
    assert not acl.allows("secret/data/app/db", "update")
    assert not acl.allows("secret/data/app", "read")  # the glob needs "app/"
    assert acl.allows("secret/metadata/x/config", "read")
    assert not acl.allows("secret/metadata/x/y/config", "read")  # + is one segment
    assert not acl.allows("secret/data/other", "read")  # deny by default


def test_deny_overrides_at_the_same_path_across_policies() -> None:
    allow = parse_policy("a", 'path "secret/data/app/admin" { capabilities = ["read"] }')
    acl = Acl.from_policies([allow, parse_policy("app", APP)])
    assert acl.capabilities("secret/data/app/admin") == frozenset()
    assert acl.allows("secret/data/app/other", "read")


def test_most_specific_rule_wins() -> None:
    text = """
    path "secret/*" { capabilities = ["read"] }
    path "secret/data/*" { capabilities = ["update"] }
    path "secret/data/+/x" { capabilities = ["delete"] }
    path "secret/data/a/x" { capabilities = ["list"] }
    """
    acl = Acl.from_policies([parse_policy("p", text)])
    assert acl.capabilities("secret/other") == {"read"}
    assert acl.capabilities("secret/data/b") == {"update"}
    assert acl.capabilities("secret/data/b/x") == {"delete"}
    assert acl.capabilities("secret/data/a/x") == {"list"}


def test_policies_merge_and_root_allows_all_but_sudo_is_separate() -> None:
    one = parse_policy("one", 'path "sys/seal" { capabilities = ["update"] }')
    two = parse_policy("two", 'path "sys/seal" { capabilities = ["sudo"] }')
    assert not Acl.from_policies([one]).allows("sys/seal", "update", sudo=True)
    assert Acl.from_policies([one, two]).allows("sys/seal", "update", sudo=True)
    assert Acl.from_policies([], root=True).allows("anything/at/all", "delete", sudo=True)


def test_legacy_policy_keyword() -> None:
    acl = Acl.from_policies([parse_policy("l", 'path "kv/*" { policy = "write" }')])
    assert acl.allows("kv/a", "create") and not acl.allows("kv/a", "sudo")
