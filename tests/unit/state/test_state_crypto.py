from __future__ import annotations

import base64
import stat
from pathlib import Path
from typing import Any

import pytest

from stackwright.core.state.crypto import (
    Cipher,
    is_sealed,
    load_state_key,
    seal_tree,
    unseal_tree,
)
from stackwright.errors import SecretsError

AAD = b"project\x00env\x00Kind/name"


def test_seal_tree_encrypts_only_sensitive_paths_and_round_trips() -> None:
    cipher = Cipher.generate()
    tree: dict[str, Any] = {
        "env": {"PASSWORD": "hunter2", "USER": "app"},
        "ports": [1, {"token": "t0k"}],
    }
    sealed = seal_tree(tree, {"env.PASSWORD", "ports.1.token", "absent.path"}, cipher, AAD)
    assert is_sealed(sealed["env"]["PASSWORD"])
    assert is_sealed(sealed["ports"][1]["token"])
    assert sealed["env"]["USER"] == "app"
    assert "hunter2" not in repr(sealed) and "t0k" not in repr(sealed)
    assert tree["env"]["PASSWORD"] == "hunter2"  # the input is left alone
    assert unseal_tree(sealed, cipher, AAD) == tree


def test_parent_path_seals_whole_subtree_once() -> None:
    cipher = Cipher.generate()
    tree = {"env": {"A": "1", "B": {"c": [1, 2]}}}
    sealed = seal_tree(tree, {"env", "env.A"}, cipher, AAD)
    assert is_sealed(sealed["env"])
    assert unseal_tree(sealed, cipher, AAD) == tree


def test_nonces_differ_per_value() -> None:
    cipher = Cipher.generate()
    one = seal_tree({"a": "same"}, {"a"}, cipher, AAD)
    two = seal_tree({"a": "same"}, {"a"}, cipher, AAD)
    assert one["a"] != two["a"]


def test_wrong_key_fails_with_hint() -> None:
    sealed = seal_tree({"a": "secret"}, {"a"}, Cipher.generate(), AAD)
    with pytest.raises(SecretsError) as err:
        unseal_tree(sealed, Cipher.generate(), AAD)
    assert "STACKWRIGHT_STATE_KEY" in str(err.value)


def test_value_moved_to_another_row_or_path_fails() -> None:
    cipher = Cipher.generate()
    sealed = seal_tree({"a": "secret"}, {"a"}, cipher, AAD)
    with pytest.raises(SecretsError):
        unseal_tree(sealed, cipher, b"project\x00env\x00Kind/other")
    with pytest.raises(SecretsError):
        unseal_tree({"b": sealed["a"]}, cipher, AAD)


def test_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    key = bytes(range(32))
    monkeypatch.setenv("STACKWRIGHT_STATE_KEY", base64.b64encode(key).decode())
    sealed = seal_tree({"a": 1}, {"a"}, load_state_key("demo"), AAD)
    assert unseal_tree(sealed, Cipher(key), AAD) == {"a": 1}


@pytest.mark.parametrize("value", ["not base64!", base64.b64encode(b"short").decode()])
def test_bad_key_in_environment(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("STACKWRIGHT_STATE_KEY", value)
    with pytest.raises(SecretsError) as err:
        load_state_key("demo")
    assert err.value.hint and "STACKWRIGHT_STATE_KEY" in err.value.hint


def test_key_file_created_private_and_reused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("STACKWRIGHT_STATE_KEY", raising=False)
    keys = tmp_path / "keys"
    monkeypatch.setenv("STACKWRIGHT_KEY_DIR", str(keys))
    first = load_state_key("demo")
    path = keys / "demo.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert len(base64.b64decode(path.read_text())) == 32
    sealed = seal_tree({"a": "x"}, {"a"}, first, AAD)
    assert unseal_tree(sealed, load_state_key("demo"), AAD) == {"a": "x"}
    assert list(keys.iterdir()) == [path]


def test_project_name_cannot_escape_key_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("STACKWRIGHT_STATE_KEY", raising=False)
    monkeypatch.setenv("STACKWRIGHT_KEY_DIR", str(tmp_path))
    with pytest.raises(SecretsError):
        load_state_key("../evil")
