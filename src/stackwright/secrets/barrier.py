"""The barrier: init, seal and unseal, and encryption with the root key once unsealed.

Key hierarchy::

    unseal key  (32 bytes, never stored; split into Shamir shares handed to operators)
      └── root key  (stored encrypted by the unseal key in ``secrets_keyring``)
            ├── keyring keys: audit HMAC key, token-hash key (stored encrypted by the root key)
            └── a fresh data key per stored value (wrapped by the root key, see crypto.py)

Each share's SHA-256 digest is stored so that a wrong share is refused when it is given,
without advancing the unseal progress (a 33-byte random share cannot be guessed from it).
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from stackwright.secrets import crypto, shamir
from stackwright.secrets.errors import InvalidRequestError, NotInitializedError, SealedError
from stackwright.secrets.schema import keyring

_ROOT_AAD = b"stackwright/secrets/root-key"
_KEYS_AAD = b"stackwright/secrets/keyring"
_SHARE_BYTES = crypto.KEY_BYTES + 1


@dataclass(frozen=True)
class UnsealedKeys:
    root_key: bytes = field(repr=False)
    audit_hmac_key: bytes = field(repr=False)
    token_hmac_key: bytes = field(repr=False)


@dataclass(frozen=True)
class SealStatus:
    initialized: bool
    sealed: bool
    threshold: int
    shares: int
    progress: int
    nonce: str
    auto_unsealed: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "shamir",
            "initialized": self.initialized,
            "sealed": self.sealed,
            "t": self.threshold,
            "n": self.shares,
            "progress": self.progress,
            "nonce": self.nonce,
            "version": "1.15.0+stackwright",
            "build_date": "",
            "migration": False,
            "recovery_seal": False,
            "storage_type": "sql",
            "auto_unsealed": self.auto_unsealed,
        }


@dataclass(frozen=True)
class _Keyring:
    shares: int
    threshold: int
    share_digests: frozenset[str]
    root_key_ct: bytes
    keys_ct: bytes


def decode_key_share(text: str) -> bytes:
    """A key share as Vault accepts it: hex first, then base64."""
    text = text.strip()
    if len(text) == 2 * _SHARE_BYTES:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequestError("'key' must be a valid hex or base64 string") from exc


class Barrier:
    """Holds the root key in memory while unsealed; thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._keys: UnsealedKeys | None = None
        self._progress: list[bytes] = []
        self._nonce = ""
        self._auto_unsealed = False

    def _keyring(self) -> _Keyring | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(keyring).where(keyring.c.id == 1)).first()
        if row is None:
            return None
        return _Keyring(
            shares=row.shares,
            threshold=row.threshold,
            share_digests=frozenset(json.loads(row.share_digests)),
            root_key_ct=row.root_key_ct,
            keys_ct=row.keys_ct,
        )

    @property
    def initialized(self) -> bool:
        return self._keyring() is not None

    @property
    def sealed(self) -> bool:
        return self._keys is None

    def status(self) -> SealStatus:
        ring = self._keyring()
        with self._lock:
            return SealStatus(
                initialized=ring is not None,
                sealed=self._keys is None,
                threshold=ring.threshold if ring else 0,
                shares=ring.shares if ring else 0,
                progress=len(self._progress),
                nonce=self._nonce,
                auto_unsealed=self._auto_unsealed and self._keys is not None,
            )

    def initialize(self, shares: int, threshold: int) -> list[bytes]:
        """Create the keys; returns the unseal key shares and leaves the barrier unsealed."""
        _check_shares(shares, threshold)
        unseal_key = crypto.new_key()
        keys = UnsealedKeys(crypto.new_key(), crypto.new_key(), crypto.new_key())
        key_shares = shamir.split(unseal_key, shares, threshold)
        row = {
            "id": 1,
            "shares": shares,
            "threshold": threshold,
            "share_digests": json.dumps(sorted(crypto.sha256_hex(s) for s in key_shares)),
            "root_key_ct": crypto.aead_encrypt(unseal_key, keys.root_key, _ROOT_AAD),
            "keys_ct": crypto.aead_encrypt(keys.root_key, _dump_keys(keys), _KEYS_AAD),
            "created_us": int(time.time() * 1_000_000),
        }
        with self._lock:
            with self._engine.begin() as conn:
                if conn.execute(sa.select(keyring.c.id)).first() is not None:
                    raise InvalidRequestError("Vault is already initialized")
                conn.execute(sa.insert(keyring).values(**row))
            self._keys = keys
        return key_shares

    def submit(self, key_text: str) -> SealStatus:
        """One key share, as ``sys/unseal`` takes it; unseals once the threshold is reached."""
        ring = self._require_keyring()
        share = decode_key_share(key_text)
        if crypto.sha256_hex(share) not in ring.share_digests:
            raise InvalidRequestError(
                "unseal key is not one of this store's key shares; progress was not advanced"
            )
        with self._lock:
            if self._keys is None:
                self._add_share(ring, share)
        return self.status()

    def _add_share(self, ring: _Keyring, share: bytes) -> None:
        if share in self._progress:
            raise InvalidRequestError("this key share was already provided")
        if not self._progress:
            self._nonce = str(uuid.uuid4())
        self._progress.append(share)
        if len(self._progress) < ring.threshold:
            return
        shares, self._progress, self._nonce = self._progress, [], ""
        self._keys = _open_keys(ring, shamir.combine(shares))
        self._auto_unsealed = False

    def unseal_with(self, shares: list[str], *, auto: bool = False) -> None:
        """Unseal at once with enough shares (auto-unseal from a key file)."""
        ring = self._require_keyring()
        decoded = [decode_key_share(s) for s in shares]
        valid = [s for s in dict.fromkeys(decoded) if crypto.sha256_hex(s) in ring.share_digests]
        if len(valid) < ring.threshold:
            raise InvalidRequestError(f"need {ring.threshold} valid key shares, got {len(valid)}")
        with self._lock:
            self._keys = _open_keys(ring, shamir.combine(valid[: ring.threshold]))
            self._progress, self._nonce, self._auto_unsealed = [], "", auto

    def reset(self) -> SealStatus:
        with self._lock:
            self._progress, self._nonce = [], ""
        return self.status()

    def seal(self) -> None:
        with self._lock:
            self._keys = None
            self._progress, self._nonce, self._auto_unsealed = [], "", False

    def keys(self) -> UnsealedKeys:
        keys = self._keys
        if keys is None:
            raise SealedError()
        return keys

    def encrypt(self, plaintext: bytes, aad: str) -> bytes:
        return crypto.envelope_encrypt(self.keys().root_key, plaintext, aad.encode())

    def decrypt(self, blob: bytes, aad: str) -> bytes:
        return crypto.envelope_decrypt(self.keys().root_key, blob, aad.encode())

    def _require_keyring(self) -> _Keyring:
        ring = self._keyring()
        if ring is None:
            raise NotInitializedError("Vault is not initialized")
        return ring


def _check_shares(shares: int, threshold: int) -> None:
    if not 1 <= shares <= 255:
        raise InvalidRequestError("secret_shares must be between 1 and 255")
    if not 1 <= threshold <= shares:
        raise InvalidRequestError("secret_threshold must be between 1 and secret_shares")
    if shares > 1 and threshold == 1:
        raise InvalidRequestError("secret_threshold must be greater than one for multiple shares")


def _dump_keys(keys: UnsealedKeys) -> bytes:
    return json.dumps(
        {
            "audit_hmac": base64.b64encode(keys.audit_hmac_key).decode(),
            "token_hmac": base64.b64encode(keys.token_hmac_key).decode(),
        }
    ).encode()


def _open_keys(ring: _Keyring, unseal_key: bytes) -> UnsealedKeys:
    try:
        root_key = crypto.aead_decrypt(unseal_key, ring.root_key_ct, _ROOT_AAD)
    except crypto.DecryptionError as exc:
        raise InvalidRequestError(f"Error unsealing: {exc}") from exc
    loaded = json.loads(crypto.aead_decrypt(root_key, ring.keys_ct, _KEYS_AAD))
    return UnsealedKeys(
        root_key=root_key,
        audit_hmac_key=base64.b64decode(loaded["audit_hmac"]),
        token_hmac_key=base64.b64decode(loaded["token_hmac"]),
    )
