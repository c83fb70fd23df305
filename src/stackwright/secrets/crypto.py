"""AES-256-GCM primitives and envelope encryption.

Every sealed blob gets a fresh data key; the data key is wrapped by the root key. Layout::

    envelope = b"E1" || len(wrapped_key) (2 bytes) || wrapped_key || aead(data_key, plaintext)
    aead     = nonce (12 bytes) || ciphertext+tag

The associated data binds a blob to where it is stored (a key path and version), so a
ciphertext copied to another row does not decrypt.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from stackwright.secrets.errors import VaultError

KEY_BYTES = 32
_NONCE_BYTES = 12
_ENVELOPE_MAGIC = b"E1"


class DecryptionError(VaultError):
    """A ciphertext that does not open with this key and associated data."""


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def aead_encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def aead_decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < _NONCE_BYTES + 16:
        raise DecryptionError("ciphertext is too short")
    try:
        return AESGCM(key).decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], aad)
    except InvalidTag as exc:
        raise DecryptionError("message authentication failed") from exc


def envelope_encrypt(root_key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    data_key = new_key()
    wrapped = aead_encrypt(root_key, data_key, b"dek|" + aad)
    body = aead_encrypt(data_key, plaintext, aad)
    return _ENVELOPE_MAGIC + len(wrapped).to_bytes(2, "big") + wrapped + body


def envelope_decrypt(root_key: bytes, blob: bytes, aad: bytes) -> bytes:
    if blob[:2] != _ENVELOPE_MAGIC or len(blob) < 4:
        raise DecryptionError("not an envelope of this format")
    size = int.from_bytes(blob[2:4], "big")
    wrapped, body = blob[4 : 4 + size], blob[4 + size :]
    data_key = aead_decrypt(root_key, wrapped, b"dek|" + aad)
    return aead_decrypt(data_key, body, aad)


def hmac_hex(key: bytes, value: str | bytes) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return hmac.digest(key, raw, "sha256").hex()  # one-shot, in OpenSSL


def sha256_hex(value: str | bytes) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return hashlib.sha256(raw).hexdigest()
