"""A cache of validated projects: when nothing a load depends on changed, its result is read
back instead of being computed again.

A load is a pure function of the spec files, ``stackwright.yaml``, the environment, the
variables' values and the code of the kinds (and of this loader). The key of an entry is a
SHA-256 over all of them: each spec file's path and text digest, the config's digest, the
environment, the variables' values, and the size and modification time of every module of
the packages that define the kinds used (this one's among them). Any difference is a miss,
and the project is loaded and validated in full, reporting its errors as always.

Only loads that succeeded are kept, one entry per environment under
``.stackwright/cache/project/``. A project that declares a sensitive variable, or a resource
whose sensitive field holds a value, is never kept (its key or its entry could reveal it).
``STACKWRIGHT_SPEC_CACHE=0`` turns this cache off with the parse cache;
``STACKWRIGHT_PROJECT_CACHE=0`` turns off this one alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import marshal
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackwright.core.kinds import Kind
from stackwright.core.model import Address, Declared, Ref
from stackwright.core.values import has_path
from stackwright.errors import Location, RegistryError
from stackwright.registry import Registry

FORMAT = "stackwright-project-cache-1"
CACHE_DIR = Path(".stackwright") / "cache" / "project"
DISABLE_ENV = "STACKWRIGHT_PROJECT_CACHE"
_NONE: frozenset[str] = frozenset()
_CODE = (".py", ".pyc", ".so")  # sources, and the modules of sourceless or compiled plugins


@dataclass(frozen=True)
class Cached:
    """A project read back: its resources, and the kinds they use in order of first use."""

    declared: dict[Address, Declared]
    kinds: dict[str, Kind]


class ProjectCache:
    """The validated-project cache of one project directory and environment."""

    def __init__(self, root: Path, environment: str) -> None:
        name = hashlib.sha256(environment.encode()).hexdigest()[:32]
        self.entry = root / CACHE_DIR / name

    @staticmethod
    def enabled() -> bool:
        return os.environ.get(DISABLE_ENV, "1") != "0"

    def get(self, key: str, registry: Registry[Kind]) -> Cached | None:
        try:
            stamp, found_key, names, code, flat = marshal.loads(self.entry.read_bytes())
        except (OSError, EOFError, ValueError, TypeError):
            return None
        if stamp != _stamp() or found_key != key:
            return None
        try:
            kinds = {name: registry.get(name) for name in names}
        except (RegistryError, ImportError):
            return None
        if code != code_fingerprint(kinds.values()):
            return None
        try:
            return Cached(_rebuild(flat), kinds)
        except (TypeError, ValueError):
            return None

    def put(self, key: str, declared: Mapping[Address, Declared],
            kinds: Mapping[str, Kind]) -> None:
        """Keep a project that loaded without error, unless a sensitive field holds a value."""
        if any(has_path(d.spec, p) for d in declared.values() for p in d.sensitive):
            self.forget()
            return
        used = [k for k in dict.fromkeys(a.kind for a in declared) if k in kinds]
        body = (_stamp(), key, used, code_fingerprint(kinds[k] for k in used),
                [_flatten(d) for d in declared.values()])
        try:
            data = marshal.dumps(body)
        except ValueError:
            return
        tmp = self.entry.with_name(f"{self.entry.name}.{os.getpid()}.tmp")
        try:
            self.entry.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, self.entry)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()

    def forget(self) -> None:
        with contextlib.suppress(OSError):
            self.entry.unlink()


def project_key(config_text: bytes, files: Sequence[tuple[str, str]], environment: str,
                values: Mapping[str, Any]) -> str:
    """The key of a load: what it reads, in order. ``files`` are (path, text) pairs."""
    digest = hashlib.sha256()
    digest.update(hashlib.sha256(config_text).digest())
    for rel, text in files:
        digest.update(rel.encode() + b"\0")
        digest.update(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest())
    digest.update(environment.encode() + b"\0")
    digest.update(json.dumps(dict(values), sort_keys=True, default=repr).encode())
    return digest.hexdigest()


def code_fingerprint(kinds: Iterable[Kind]) -> str:
    """Size and modification time of every module of the packages that define ``kinds``
    and this loader (an edited kind, or loader, is a miss)."""
    kinds = list(kinds)
    roots = {_package_dir(__name__)} | {_package_dir(type(kind).__module__) for kind in kinds}
    digest = hashlib.sha256()
    for kind in kinds:
        digest.update(f"{type(kind).__module__}.{type(kind).__qualname__}\0".encode())
    for root in sorted(r for r in roots if r is not None):
        digest.update(root.encode())
        for entry in _modules(root):
            digest.update(entry.encode())
    return digest.hexdigest()


def _package_dir(module: str) -> str | None:
    top = sys.modules.get(module.partition(".")[0])
    path = getattr(top, "__path__", None)
    if path:
        return str(list(path)[0])
    file = getattr(top, "__file__", None)
    return str(Path(file).parent) if file else None


def _modules(root: str) -> list[str]:
    found = []
    for current, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if name.endswith(_CODE):
                stat = os.stat(os.path.join(current, name))
                found.append(f"{current}/{name}:{stat.st_size}:{stat.st_mtime_ns}")
    return sorted(found)


def _stamp() -> tuple[Any, ...]:
    import pydantic

    return (FORMAT, sys.hexversion, marshal.version, pydantic.VERSION)


def _flatten(decl: Declared) -> tuple[Any, ...]:
    loc = decl.location
    return (
        tuple(decl.address), decl.api_version, dict(decl.spec), dict(decl.labels),
        [tuple(a) for a in decl.depends_on],
        [(r.expression, r.field, tuple(r.target) if r.target else None, r.output)
         for r in decl.refs],
        (loc.file, loc.line, loc.col) if loc is not None else None,
        sorted(decl.sensitive),
    )


def _rebuild(flat: list[Any]) -> dict[Address, Declared]:
    out: dict[Address, Declared] = {}
    addresses: dict[tuple[str, str], Address] = {}

    def address(pair: Sequence[str]) -> Address:
        key = (pair[0], pair[1])
        found = addresses.get(key)
        if found is None:
            found = addresses[key] = Address(*key)
        return found

    for where, api_version, spec, labels, depends_on, refs, loc, sensitive in flat:
        at = address(where)
        out[at] = Declared(
            at, api_version, spec, labels, tuple(address(a) for a in depends_on),
            tuple(Ref(e, f, address(t) if t is not None else None, o) for e, f, t, o in refs),
            Location(*loc) if loc is not None else None,
            frozenset(sensitive) if sensitive else _NONE,
        )
    return out
