"""What a job leaves on disk and takes from it: caches, artifacts, JUnit reports, hashFiles,
and the masking of secret values in every log line."""

from __future__ import annotations

import hashlib
import io
import tarfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MASK = "***"


class Masker:
    """Replaces every known secret value (and each of its lines) by ``***``."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.values: list[str] = []
        self.add(values)

    def add(self, values: Iterable[str]) -> None:
        for value in values:
            parts = [value, *value.splitlines()]
            self.values += [p for p in parts if len(p.strip()) >= 3]
        self.values = sorted(set(self.values), key=len, reverse=True)

    def __call__(self, line: str) -> str:
        for value in self.values:
            if value in line:
                line = line.replace(value, MASK)
        return line


def _files(root: Path, patterns: Sequence[str]) -> list[Path]:
    found: set[Path] = set()
    for pattern in patterns:
        found |= {p for p in root.glob(pattern) if p.is_file()}
        direct = root / pattern
        if direct.is_dir():
            found |= {p for p in direct.rglob("*") if p.is_file()}
    return sorted(found)


def hash_files(root: Path, *patterns: str) -> str:
    """sha256 over the relative paths and contents of the matching files ('' for none)."""
    files = _files(root, patterns)
    if not files:
        return ""
    h = hashlib.sha256()
    for path in files:
        h.update(str(path.relative_to(root)).encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def pack(root: Path, paths: Sequence[str], out: Path) -> int:
    """Tar the workspace ``paths`` (files or directories, globs allowed) into ``out``;
    returns the tarball's size, 0 when nothing matched (and nothing is written)."""
    files = _files(root, paths)
    if not files:
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with tarfile.open(tmp, "w") as tar:
        for path in files:
            tar.add(path, arcname=str(path.relative_to(root)), recursive=False)
    tmp.replace(out)
    return out.stat().st_size


def unpack(tarball: Path, root: Path) -> int:
    """Extract into the workspace (never outside it); returns the number of files."""
    with tarfile.open(tarball) as tar:
        members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
        tar.extractall(root, members=members, filter="data")
    return len(members)


@dataclass(frozen=True)
class CacheHit:
    key: str
    exact: bool


class CacheStore:
    """Tarballs by key under ``root`` (one folder per pipeline); a key's file name is its
    hash, and ``<hash>.key`` holds the key for prefix matches."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".tar")

    def restore(self, key: str, restore_keys: Sequence[str], workspace: Path) -> CacheHit | None:
        exact = self._path(key)
        if exact.is_file():
            unpack(exact, workspace)
            return CacheHit(key, True)
        for prefix in restore_keys:
            match = self._newest_with_prefix(prefix)
            if match is not None:
                unpack(self._path(match), workspace)
                return CacheHit(match, False)
        return None

    def _newest_with_prefix(self, prefix: str) -> str | None:
        best: tuple[float, str] | None = None
        for keyfile in self.root.glob("*.key"):
            key = keyfile.read_text()
            if key.startswith(prefix) and (best is None or keyfile.stat().st_mtime > best[0]):
                best = (keyfile.stat().st_mtime, key)
        return best[1] if best else None

    def save(self, key: str, paths: Sequence[str], workspace: Path) -> int:
        target = self._path(key)
        if target.is_file():
            return 0  # a key is written once, as in Actions
        size = pack(workspace, paths, target)
        if size:
            target.with_suffix(".key").write_text(key)
        return size


def junit_summary(root: Path, patterns: Sequence[str]) -> dict[str, Any] | None:
    """Totals over the JUnit XML files matched, and the names of failed test cases."""
    files = _files(root, patterns)
    if not files:
        return None
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    failed: list[str] = []
    for path in files:
        try:
            tree = ET.parse(io.BytesIO(path.read_bytes()))
        except ET.ParseError as exc:
            failed.append(f"{path.name}: not JUnit XML ({exc})")
            continue
        for case in tree.getroot().iter("testcase"):
            totals["tests"] += 1
            name = f"{case.get('classname', '')}.{case.get('name', '')}".strip(".")
            if case.find("failure") is not None:
                totals["failures"] += 1
                failed.append(name)
            elif case.find("error") is not None:
                totals["errors"] += 1
                failed.append(name)
            elif case.find("skipped") is not None:
                totals["skipped"] += 1
    return {**totals, "passed": totals["tests"] - totals["failures"] - totals["errors"]
            - totals["skipped"], "failed": failed[:50]}
