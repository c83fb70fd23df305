"""Rego: compile modules, query, map errors — on regorus, or on regopy (rego-cpp).

Two real Rego engines with OPA's semantics are used:

- **regorus** (Microsoft's Rego interpreter in Rust, the ``celine-regorus`` wheels of its
  upstream releases) evaluates queries. It answers a 1,000-change plan in about 25 ms where
  rego-cpp needs seconds, so it is the default for evaluation.
- **regopy** (rego-cpp) locates compilation errors: a bundle that regorus cannot load is
  compiled by regopy, whose errors name the module, a byte offset and a length and become
  ``SpecError`` with the module's file, line and column. Should regopy load a bundle that
  regorus refused, regopy evaluates it. rego-cpp prints its errors to the process's stdout
  (fd 1), so compiling runs with fd 1 sent to a file that is dropped: ``--output json`` stays
  a JSON document.

``STACKWRIGHT_REGO=regopy`` evaluates on regopy too (``regorus`` is the default).
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from stackwright.errors import Location, SpecError, SpecErrors
from stackwright.policy.regoinput import build_input

_PACKAGE = re.compile(r"^\s*package\s+([A-Za-z_][\w.]*)", re.MULTILINE)
_TEST_RULE = re.compile(r"^(test_\w+)\b", re.MULTILINE)
_FD_LOCK = threading.Lock()


@dataclass(frozen=True)
class Module:
    """One Rego module: ``name`` is how errors name it (a path relative to the project, or
    ``<Policy/name inline 0>``); ``location`` where the spec declares it."""

    name: str
    source: str
    location: Location | None = None
    field: str | None = None

    @property
    def package(self) -> str:
        found = _PACKAGE.search(self.source)
        if found is None:
            raise SpecError(f"Rego module {self.name} has no package declaration",
                            location=self.location, field=self.field,
                            hint="start the module with `package <name>`")
        return found.group(1)

    def test_rules(self) -> list[str]:
        return list(dict.fromkeys(_TEST_RULE.findall(self.source)))


ENGINE_ENV = "STACKWRIGHT_REGO"


def engine_name() -> str:
    """The engine that evaluates queries: ``regorus`` (default) or ``regopy``."""
    asked = os.environ.get(ENGINE_ENV, "regorus").strip().lower() or "regorus"
    if asked not in ("regorus", "regopy"):
        raise SpecError(f"{ENGINE_ENV}={asked!r} names no Rego engine",
                        hint=f"set {ENGINE_ENV} to regorus or regopy")
    return asked


class Compiled:
    """Modules compiled once, queried many times with different inputs."""

    def __init__(self, modules: Sequence[Module], query: str,
                 data: Mapping[str, Any] | None = None) -> None:
        self.modules = tuple(modules)
        self.query_text = query
        self._lock = threading.Lock()  # one query at a time on an engine shared by threads
        self._data = data
        self._regorus: Any = None
        self._bundle: Any = None
        if engine_name() == "regorus" and self._load_regorus(data):
            return
        self._bundle = _regopy_bundle(self.modules, query, data)

    @property
    def engine(self) -> str:
        return "regorus" if self._regorus is not None else "regopy"

    def _load_regorus(self, data: Mapping[str, Any] | None) -> bool:
        import regorus

        engine = regorus.Engine()
        try:
            for module in self.modules:
                engine.add_policy(module.name, module.source)
            if data:
                engine.add_data_json(json.dumps(data, default=_jsonable))
        except Exception:  # noqa: BLE001 - regopy compiles it again and locates the error
            return False
        self._regorus = engine
        return True

    def query(self, input_doc: Any) -> Any:
        """The query's first expression value for ``input_doc`` (None when undefined)."""
        if self._regorus is not None:
            return self._query_regorus(input_doc)
        return self._query_regopy(input_doc)

    def _query_regorus(self, input_doc: Any) -> Any:
        failure: Exception | None = None
        with self._lock:
            try:
                _set_regorus_input(self._regorus, input_doc)
                answer = self._regorus.eval_query_as_json(self.query_text)
            except Exception as exc:  # noqa: BLE001 - regorus raises plain RuntimeErrors
                failure = exc
        if failure is not None:
            # regorus finds unsafe variables and unknown functions only when it evaluates,
            # and names the module, line and column; without them regopy locates the error.
            error = _regorus_error(str(failure), self.modules)
            if error.location is None:
                _regopy_bundle(self.modules, self.query_text, self._data)
            raise error from failure
        results = json.loads(answer).get("result") or []
        return _first_value(results[0]) if results else None

    def _query_regopy(self, input_doc: Any) -> Any:
        """On regopy the input is handed over as a built value (``regoinput.build_input``),
        not as JSON text: rego-cpp parses a JSON term through its whole rewriting pipeline,
        about ten times slower than building the same value node by node."""
        from regopy import Interpreter
        from regopy.rego_shared import (
            rego_bundle_query,
            rego_free_output,
            rego_output_ok,
            rego_output_string,
        )

        # A fresh interpreter each time: one reused for many queries gets slower with each.
        interpreter = Interpreter()
        interpreter.set_input(build_input(input_doc))
        with self._lock:
            impl = rego_bundle_query(interpreter._impl, self._bundle._impl)
            try:
                text = rego_output_string(impl) if rego_output_ok(impl) else "(error)"
            finally:
                rego_free_output(impl)
        return _value(text, self.modules)


def _regopy_bundle(modules: Sequence[Module], query: str,
                   data: Mapping[str, Any] | None) -> Any:
    from regopy import Interpreter, RegoError

    builder = Interpreter()
    with _quiet_stdout():
        try:
            for module in modules:
                builder.add_module(module.name, module.source)
            if data:
                builder.add_data_json(json.dumps(data, default=_jsonable))
            return builder.build(query)
        except RegoError as exc:
            raise compile_errors(str(exc), modules) from exc


def _set_regorus_input(engine: Any, input_doc: Any) -> None:
    """The input as Python values (regorus converts them in Rust, twice as fast as parsing
    the same document as JSON text); as JSON text when it holds other types (dates, paths)."""
    try:
        engine.set_input(input_doc)
    except (TypeError, ValueError):
        engine.set_input_json(json.dumps(input_doc, default=_jsonable))


def _jsonable(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)


def _evaluation_error(message: str, modules: Sequence[Module]) -> SpecError:
    first = modules[0] if modules else None
    return SpecError(f"Rego evaluation failed: {message}",
                     location=first.location if first else None,
                     field=first.field if first else None,
                     hint="see the policy's rules; `stackwright policy test` runs them")


_REGORUS_AT = re.compile(r"-->\s*(.+?):(\d+):(\d+)\s*$", re.MULTILINE)
_REGORUS_ERROR = re.compile(r"^error:\s*(.+)$", re.MULTILINE)


def _regorus_error(text: str, modules: Sequence[Module]) -> SpecError:
    """regorus's report (``--> module:line:col``, the source line, ``error: message``, a
    backtrace) as a located error."""
    text = text.split("Stack backtrace:")[0].strip()
    at, said = _REGORUS_AT.search(text), _REGORUS_ERROR.search(text)
    module = next((m for m in modules if at and m.name == at.group(1)), None)
    if at is None or said is None or module is None:
        return _evaluation_error(text, modules)
    return SpecError(f"Rego evaluation failed: {said.group(1).strip()}",
                     location=Location(module.name, int(at.group(2)), int(at.group(3))),
                     field=module.field,
                     hint="see the policy's rules; `stackwright policy test` runs them")


def _first_value(doc: Mapping[str, Any]) -> Any:
    bindings = doc.get("bindings") or {}
    if "x" in bindings:
        return bindings["x"]
    expressions = doc.get("expressions") or []
    return expressions[0].get("value") if expressions else None


def _value(text: str, modules: Sequence[Module]) -> Any:
    if text.startswith("("):  # an error node instead of a JSON result
        raise _evaluation_error(_field(text, "errormsg") or text.strip(), modules)
    if text in ("", "undefined"):
        return None
    doc = json.loads(text)
    if isinstance(doc, list):
        doc = doc[0] if doc else {}
    bindings = doc.get("bindings") or {}
    if "x" in bindings:
        return bindings["x"]
    expressions = doc.get("expressions") or []
    return expressions[0] if expressions else None


def compile_errors(text: str, modules: Sequence[Module]) -> SpecErrors:
    """regopy's error S-expression as located spec errors (file:line:col of each module)."""
    by_name = {m.name: m for m in modules}
    errors: list[SpecError] = []
    for name, offset, message in _parse_errors(text):
        module = by_name.get(name)
        if module is None:
            errors.append(SpecError(f"Rego: {message}", hint="check the policy's modules"))
            continue
        line, col = _line_col(module.source, offset)
        where = Location(name, line, col)
        errors.append(SpecError(f"Rego: {message}", location=where, field=module.field,
                                hint=_hint(message)))
    if not errors:
        errors.append(SpecError(f"Rego: {text.strip()}", hint="check the policy's modules"))
    return SpecErrors(errors)


def _hint(message: str) -> str:
    if "rego-localref" in message or "rego-with" in message:
        return ("regopy cannot compile `with input as {...}` next to `not` here; "
                "mock fields instead: `with input.changes as [...]`")
    return "Rego v1 syntax: `deny contains msg if { ... }`"


def _parse_errors(text: str) -> Iterator[tuple[str, int, str]]:
    """(module name, byte offset, message) per error; strings are length-prefixed."""
    pos = 0
    while (start := text.find("(error ", pos)) >= 0:
        name, rest = _prefixed(text, start + len("(error "))
        m = re.match(r"\|(\d+)\|(\d+)", text[rest:])
        offset = int(m.group(1)) if m else 0
        message = _field(text[rest:], "errormsg") or "invalid module"
        yield name, offset, message
        pos = rest + 1


def _prefixed(text: str, at: int) -> tuple[str, int]:
    m = re.match(r"(\d+):", text[at:])
    if m is None:
        return "", at
    begin = at + m.end()
    end = begin + int(m.group(1))
    return text[begin:end], end


def _field(text: str, name: str) -> str | None:
    at = text.find(f"({name} ")
    if at < 0:
        return None
    value, _ = _prefixed(text, at + len(name) + 2)
    return value


def _line_col(source: str, offset: int) -> tuple[int, int]:
    before = source.encode()[:offset].decode(errors="replace")
    line = before.count("\n") + 1
    return line, len(before) - (before.rfind("\n") + 1) + 1


@contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Send fd 1 to a temporary file while rego-cpp compiles (it prints its errors there)."""
    with _FD_LOCK, tempfile.TemporaryFile() as sink:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(sink.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


__all__ = ["ENGINE_ENV", "Compiled", "Module", "compile_errors", "engine_name"]
