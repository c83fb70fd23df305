from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackwright.secrets import crypto


@given(st.binary(max_size=2048), st.binary(max_size=64))
def test_envelope_round_trip(plaintext: bytes, aad: bytes) -> None:
    root = crypto.new_key()
    blob = crypto.envelope_encrypt(root, plaintext, aad)
    assert crypto.envelope_decrypt(root, blob, aad) == plaintext
    if len(plaintext) >= 8:
        assert plaintext not in blob


def test_each_envelope_has_its_own_data_key() -> None:
    root = crypto.new_key()
    first = crypto.envelope_encrypt(root, b"same", b"a")
    second = crypto.envelope_encrypt(root, b"same", b"a")
    assert first != second
    size = int.from_bytes(first[2:4], "big")
    assert first[4 : 4 + size] != second[4 : 4 + size]  # the wrapped data keys differ


def test_wrong_aad_wrong_key_and_tampering_fail() -> None:
    root = crypto.new_key()
    blob = crypto.envelope_encrypt(root, b"value", b"kv/secret/a/1")
    with pytest.raises(crypto.DecryptionError):
        crypto.envelope_decrypt(root, blob, b"kv/secret/b/1")
    with pytest.raises(crypto.DecryptionError):
        crypto.envelope_decrypt(crypto.new_key(), blob, b"kv/secret/a/1")
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(crypto.DecryptionError):
        crypto.envelope_decrypt(root, tampered, b"kv/secret/a/1")


def test_hmac_is_keyed() -> None:
    assert crypto.hmac_hex(b"k1", "v") != crypto.hmac_hex(b"k2", "v")
    assert crypto.hmac_hex(b"k1", "v") == crypto.hmac_hex(b"k1", b"v")
