"""Content hashing of build contexts, ignore rules, and the busybox rootfs layout."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from stackwright.tools.images import (
    DebootstrapRecipe,
    content_hash,
    is_ignored,
    write_busybox_rootfs,
)


@pytest.mark.parametrize(
    ("path", "patterns", "ignored"),
    [
        ("node_modules/x/y.js", ["node_modules"], True),
        ("src/app.py", ["*.pyc"], False),
        ("app.pyc", ["*.pyc"], True),
        ("src/app.pyc", ["*.pyc"], False),
        ("src/app.pyc", ["**/*.pyc"], True),
        ("README.md", ["*.md", "!README.md"], False),
        ("docs/a.md", ["docs", "!docs/keep.md"], True),
        ("docs/keep.md", ["docs", "!docs/keep.md"], False),
        ("a/b/.git/config", ["**/.git"], True),
    ],
)
def test_is_ignored(path: str, patterns: list[str], ignored: bool) -> None:
    assert is_ignored(path, patterns) is ignored


def make_context(tmp_path: Path) -> Path:
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("hello")
    (tmp_path / "Containerfile").write_text("FROM scratch\n")
    (tmp_path / "build.log").write_text("noise")
    (tmp_path / ".containerignore").write_text("# comment\n*.log\n")
    return tmp_path


def test_content_hash_follows_inputs(tmp_path: Path) -> None:
    ctx = make_context(tmp_path)
    first = content_hash(ctx)
    assert content_hash(ctx) == first
    (ctx / "build.log").write_text("other noise")
    assert content_hash(ctx) == first, "ignored files do not count"
    assert content_hash(ctx, build_args={"V": "1"}) != first
    (ctx / "www" / "index.html").write_text("hello!")
    changed = content_hash(ctx)
    assert changed != first
    (ctx / "Containerfile").write_text("FROM scratch\nCMD x\n")
    assert content_hash(ctx) != changed


def test_content_hash_sees_renames(tmp_path: Path) -> None:
    ctx = make_context(tmp_path)
    first = content_hash(ctx)
    (ctx / "www" / "index.html").rename(ctx / "www" / "home.html")
    assert content_hash(ctx) != first


def test_recipe_fingerprint() -> None:
    base = DebootstrapRecipe(packages=("python3",))
    assert base.fingerprint("1.0") == DebootstrapRecipe(packages=("python3",)).fingerprint("1.0")
    assert base.fingerprint("1.0") != base.fingerprint("1.1")
    assert base.fingerprint("1.0") != DebootstrapRecipe(
        packages=("python3",), commands=("apt-get clean",)).fingerprint("1.0")


def test_busybox_rootfs_layout(tmp_path: Path) -> None:
    fake = tmp_path / "busybox"
    fake.write_bytes(b"\x7fELF fake")
    out = tmp_path / "rootfs.tar"
    write_busybox_rootfs(fake, ["bin/sh", "usr/bin/wget", "bin/busybox"], out)
    with tarfile.open(out) as tar:
        names = {m.name: m for m in tar.getmembers()}
        assert names["bin/sh"].issym() and names["bin/sh"].linkname == "/bin/busybox"
        assert names["bin/busybox"].mode == 0o755
        assert names["tmp"].mode == 0o1777
        passwd = tar.extractfile("etc/passwd")
        assert passwd is not None and passwd.read().startswith(b"root:x:0:0")
    first = out.read_bytes()
    write_busybox_rootfs(fake, ["bin/sh", "usr/bin/wget", "bin/busybox"], out)
    assert out.read_bytes() == first, "the tarball is reproducible"
