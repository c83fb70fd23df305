"""A cache of parsed spec files, so an unchanged file is not parsed again.

Parsing YAML with positions is most of the time it takes to load a large project. The tree of
each document of a file that parsed without error is kept in
``.stackwright/cache/spec/<hash of the file's path>``, stamped with the SHA-256 of the file's
text: any edit of the file invalidates its entry, which is then replaced. The entry holds what
the file itself holds (no variable values, no state), plus where each document's ``kind`` key
is written and the expressions its ``spec`` holds; other positions are found by parsing the
file again, only when an error needs them.
Entries are written after a load that succeeded, and never for a file that writes a sensitive
value (the loader decides: ``loader._settle_cache``).

Entries are written with ``marshal`` (plain dicts, lists and scalars, keys of any scalar type
kept as they are) and read back only when their header matches this format, this Python and
the file's digest; a broken entry is a miss. A cache that cannot be written is skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import sys
from pathlib import Path
from typing import Any

from stackwright.core.spec.refs import expression_paths
from stackwright.core.spec.yamlpos import FieldPath, LazyNodes, YamlDocument

FORMAT = "stackwright-spec-cache-2"
CACHE_DIR = Path(".stackwright") / "cache" / "spec"
DISABLE_ENV = "STACKWRIGHT_SPEC_CACHE"
"""Set to ``0`` to parse every file (for measuring, or a read-only checkout)."""

_STAMP = (FORMAT, sys.hexversion, marshal.version)


class SpecCache:
    """The parsed-file cache of one project directory."""

    def __init__(self, root: Path) -> None:
        self.directory = root / CACHE_DIR

    @staticmethod
    def enabled() -> bool:
        return os.environ.get(DISABLE_ENV, "1") != "0"

    def get(self, file: str, text: str) -> list[YamlDocument] | None:
        """The documents of ``file`` if its entry matches ``text``, else None."""
        try:
            data = self._entry(file).read_bytes()
        except OSError:
            return None
        try:
            stamp, name, digest, entries = marshal.loads(data)
        except (EOFError, ValueError, TypeError):
            return None
        if stamp != _STAMP or name != file or digest != _digest(text):
            return None
        lazy = LazyNodes(text)
        try:
            return [YamlDocument(file, tree, None, index, lazy, kind_at, expressions)
                    for index, tree, kind_at, expressions in entries]
        except (TypeError, ValueError):  # not the shape this format writes
            return None

    def put(self, file: str, text: str, documents: list[YamlDocument]) -> None:
        """Keep the documents of ``file`` (parsed from ``text`` without error)."""
        entries = [(d.index, d.tree, d.find(("kind",))[1], _spec_expressions(d.tree))
                   for d in documents]
        try:
            data = marshal.dumps((_STAMP, file, _digest(text), entries))
        except ValueError:  # a value marshal cannot write: leave this file uncached
            return
        target = self._entry(file)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, target)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()

    def forget(self, file: str) -> None:
        with contextlib.suppress(OSError):
            self._entry(file).unlink()

    def _entry(self, file: str) -> Path:
        return self.directory / hashlib.sha256(file.encode()).hexdigest()[:32]


def _spec_expressions(tree: Any) -> tuple[tuple[FieldPath, str | None], ...] | None:
    spec = tree.get("spec") if isinstance(tree, dict) else None
    if spec is None:
        return ()
    return tuple(expression_paths(spec)) if isinstance(spec, dict) else None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

