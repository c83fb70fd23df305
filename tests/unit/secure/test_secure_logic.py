"""Generated secret values, Secret and SecretRef specs, and the rotation's reference swap."""

from __future__ import annotations

import base64
import string
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from stackwright.secure.generate import Generate, PasswordPolicy, generate, password
from stackwright.secure.rotation import with_new_ref
from stackwright.secure.secret import SecretSpec, period
from stackwright.services.spec import SecretRef, ServiceSpec, revision_of


@settings(max_examples=50)
@given(st.integers(min_value=8, max_value=64), st.booleans(), st.booleans(), st.booleans())
def test_passwords_follow_their_policy(length: int, upper: bool, digits: bool,
                                       symbols: bool) -> None:
    policy = PasswordPolicy(length=length, uppercase=upper, digits=digits, symbols=symbols)
    value = password(policy)
    assert len(value) == length
    assert any(c in string.ascii_lowercase for c in value)
    assert any(c in string.ascii_uppercase for c in value) == upper
    assert any(c in string.digits for c in value) == digits
    assert any(not c.isalnum() for c in value) == symbols


def test_an_unsatisfiable_policy_is_refused() -> None:
    with pytest.raises(ValidationError, match="needs at least 12 characters"):
        PasswordPolicy(length=8, minEach=4)


def test_random_bytes_and_key_pairs() -> None:
    raw = generate(Generate.model_validate({"bytes": {"length": 48}}))["value"]
    assert len(base64.b64decode(raw)) == 48
    hexed = generate(Generate.model_validate({"bytes": {"length": 16, "encoding": "hex"}}))
    assert len(bytes.fromhex(hexed["value"])) == 16
    pair = generate(Generate.model_validate({"keypair": {"type": "ed25519"}}))
    key = serialization.load_pem_private_key(pair["private_key"].encode(), password=None)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    assert public == pair["public_key"] and public.startswith("ssh-ed25519 ")
    assert generate(Generate.model_validate({"password": {}})) != generate(
        Generate.model_validate({"password": {}}))


def test_exactly_one_generator() -> None:
    with pytest.raises(ValidationError, match="exactly one of password, bytes, keypair or cert"):
        Generate.model_validate({"password": {}, "bytes": {}})
    with pytest.raises(ValidationError, match="got none"):
        Generate.model_validate({})


def test_rotation_is_due_after_its_period() -> None:
    spec = SecretSpec.model_validate({"path": "app/db", "generate": {"password": {}},
                                      "rotateEvery": "12h"})
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert not spec.due(at.isoformat(), at + timedelta(hours=11))
    assert spec.due(at.isoformat(), at + timedelta(hours=12))
    assert period("30d") == timedelta(days=30)
    with pytest.raises(ValidationError, match="not a period"):
        SecretSpec.model_validate({"path": "a", "generate": {"password": {}},
                                   "rotateEvery": "soon"})


def test_secret_refs_parse_and_need_one_target() -> None:
    ref = SecretRef(ref="secret/app/db@3", file="/run/secrets/db")
    assert ref.parts() == ("secret", "app/db", 3)
    assert SecretRef(ref="kv/x", env="X").parts() == ("kv", "x", None)
    with pytest.raises(ValidationError, match="exactly one of env or file"):
        SecretRef(ref="secret/app/db", env="A", file="/a")
    with pytest.raises(ValidationError, match="absolute path"):
        SecretRef(ref="secret/app/db", file="run/x")
    with pytest.raises(ValidationError, match="mount/path"):
        SecretRef(ref="no-path", env="A")
    with pytest.raises(ValidationError, match="exactly one of ref or value"):
        SecretRef(ref="secret/a", value="x", env="A")
    with pytest.raises(ValidationError, match="exactly one of ref or value"):
        SecretRef(env="A")
    assert SecretRef(value="postgresql://u:p@db/app", file="/run/secrets/db").ref is None


def test_secrets_change_the_revision_only_when_used() -> None:
    base = {"image": "x:1"}
    plain = ServiceSpec.model_validate(base)
    assert revision_of(plain) == revision_of(ServiceSpec.model_validate({**base, "secrets": []}))
    v1 = ServiceSpec.model_validate({**base, "secrets": [{"ref": "secret/a@1", "env": "A"}]})
    v2 = ServiceSpec.model_validate({**base, "secrets": [{"ref": "secret/a@2", "env": "A"}]})
    assert len({revision_of(plain), revision_of(v1), revision_of(v2)}) == 3


def test_rotation_swaps_only_older_versions_of_that_secret() -> None:
    inputs = {"image": "x", "secrets": [{"ref": "secret/app/db@1", "env": "A"},
                                        {"ref": "secret/app/dbx@1", "env": "B"},
                                        {"ref": "secret/other@4", "env": "C"}]}
    swapped = with_new_ref(inputs, "secret/app/db", "secret/app/db@2")
    assert swapped is not None
    assert [s["ref"] for s in swapped["secrets"]] == [
        "secret/app/db@2", "secret/app/dbx@1", "secret/other@4"]
    assert with_new_ref(swapped, "secret/app/db", "secret/app/db@2") is None
    assert with_new_ref({"image": "x"}, "secret/app/db", "secret/app/db@2") is None
