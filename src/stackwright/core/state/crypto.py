"""Secrets at rest: AES-256-GCM over single values, sealed in place inside value trees.

A sealed value is ``{"$enc": "<base64 of nonce + ciphertext>"}`` holding the JSON of the
original value. The associated data (AAD) binds each ciphertext to its row and path, so a
sealed value copied into another project, environment, resource or field fails to open.
The key lives outside the state database: ``STACKWRIGHT_STATE_KEY`` or a key file.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from stackwright.core.values import Tree, split_path
from stackwright.errors import SecretsError

ENC_KEY: Final = "$enc"
KEY_ENV: Final = "STACKWRIGHT_STATE_KEY"
KEY_DIR_ENV: Final = "STACKWRIGHT_KEY_DIR"
KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
_KEY_HINT: Final = (
    f"set {KEY_ENV} to the base64 of the 32-byte key this state was written with, "
    f"or restore the key file under {KEY_DIR_ENV} (default ~/.config/stackwright/keys)"
)
_PROJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class Cipher:
    """AES-256-GCM with a fresh random 12-byte nonce per value."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise SecretsError(f"a state key must be {KEY_BYTES} bytes, got {len(key)}")
        self._aead = AESGCM(key)

    @classmethod
    def generate(cls) -> Cipher:
        return cls(AESGCM.generate_key(bit_length=KEY_BYTES * 8))

    def __repr__(self) -> str:
        return "Cipher(<AES-256-GCM key hidden>)"

    def encrypt(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, aad)

    def decrypt(self, sealed: bytes, aad: bytes) -> bytes:
        try:
            return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
        except InvalidTag as exc:
            raise SecretsError(
                "cannot decrypt a sensitive value in the state: wrong key, or the value "
                "was moved or tampered with",
                hint=_KEY_HINT,
            ) from exc


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(ENC_KEY), str)


def seal_value(value: Any, cipher: Cipher, aad: bytes) -> dict[str, str]:
    plaintext = json.dumps(value, separators=(",", ":")).encode()
    return {ENC_KEY: base64.b64encode(cipher.encrypt(plaintext, aad)).decode("ascii")}


def unseal_value(sealed: dict[str, str], cipher: Cipher, aad: bytes) -> Any:
    try:
        raw = base64.b64decode(sealed[ENC_KEY], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SecretsError("a sealed value in the state is not valid base64") from exc
    return json.loads(cipher.decrypt(raw, aad))


def path_aad(aad: bytes, path: str) -> bytes:
    """The AAD of the value at ``path``: the row's AAD plus the path."""
    return aad + b"\x00" + path.encode()


def outermost(paths: frozenset[str] | set[str] | tuple[str, ...]) -> list[str]:
    """The paths not inside another of the paths (sealing a parent seals its children)."""
    chosen = sorted(set(paths), key=lambda p: (p.count("."), p))
    kept: list[str] = []
    for path in chosen:
        if path and not any(path.startswith(k + ".") for k in kept):
            kept.append(path)
    return kept


def seal_tree(
    tree: Tree, paths: frozenset[str] | set[str] | tuple[str, ...], cipher: Cipher, aad: bytes
) -> Tree:
    """A copy of ``tree`` with the value at each existing path sealed; absent paths are skipped.

    Only containers on the way to a sealed value are copied; the input is never changed.
    """
    for path in outermost(paths):
        tree = _replace_at(tree, split_path(path), _sealer(cipher, path_aad(aad, path)))
    return tree


def _sealer(cipher: Cipher, aad: bytes) -> Callable[[Any], Any]:
    return lambda value: seal_value(value, cipher, aad)


def unseal_tree(tree: Tree, cipher: Cipher, aad: bytes, prefix: str = "") -> Tree:
    """``tree`` with every sealed value opened (wrong key → :class:`SecretsError`)."""
    if isinstance(tree, dict):
        if is_sealed(tree):
            return unseal_value(tree, cipher, path_aad(aad, prefix))
        return {
            k: unseal_tree(v, cipher, aad, f"{prefix}.{k}" if prefix else k)
            for k, v in tree.items()
        }
    if isinstance(tree, list):
        return [
            unseal_tree(v, cipher, aad, f"{prefix}.{i}" if prefix else str(i))
            for i, v in enumerate(tree)
        ]
    return tree


def _replace_at(tree: Tree, parts: list[str], fn: Callable[[Any], Any]) -> Tree:
    if not parts:
        return fn(tree)
    head, rest = parts[0], parts[1:]
    if isinstance(tree, dict) and head in tree:
        copied = dict(tree)
        copied[head] = _replace_at(tree[head], rest, fn)
        return copied
    if isinstance(tree, list) and head.isdigit() and int(head) < len(tree):
        items = list(tree)
        items[int(head)] = _replace_at(tree[int(head)], rest, fn)
        return items
    return tree


def decode_key(text: str, source: str) -> Cipher:
    """A cipher from base64 text of 32 bytes; anything else is a :class:`SecretsError`."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SecretsError(f"{source} is not valid base64", hint=_KEY_HINT) from exc
    if len(key) != KEY_BYTES:
        raise SecretsError(
            f"{source} must hold {KEY_BYTES} bytes, it holds {len(key)}", hint=_KEY_HINT
        )
    return Cipher(key)


def key_dir() -> Path:
    configured = os.environ.get(KEY_DIR_ENV)
    return Path(configured) if configured else Path.home() / ".config" / "stackwright" / "keys"


def load_state_key(project: str) -> Cipher:
    """The project's state key: ``STACKWRIGHT_STATE_KEY``, else ``<key dir>/<project>.key``,
    created (mode 0600, directory 0700) on first use."""
    from_env = os.environ.get(KEY_ENV)
    if from_env:
        return decode_key(from_env, KEY_ENV)
    if not _PROJECT_NAME.match(project):
        raise SecretsError(f"project name {project!r} cannot name a key file")
    path = key_dir() / f"{project}.key"
    if not path.exists():
        _create_key_file(path)
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretsError(f"cannot read the state key {path}: {exc}", hint=_KEY_HINT) from exc
    return decode_key(text, f"key file {path}")


def _create_key_file(path: Path) -> None:
    """Write a new key beside ``path`` and link it in place: linking fails if another
    process got there first, so every process ends up reading one complete key."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    text = base64.b64encode(AESGCM.generate_key(bit_length=KEY_BYTES * 8)).decode() + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".key-")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process created it first: use theirs
    except OSError as exc:
        raise SecretsError(f"cannot create the state key {path}: {exc}") from exc
    finally:
        os.unlink(tmp)
