"""Rego through regopy (rego-cpp, OPA's language): compile modules, query, map errors.

Compilation errors come back from regopy as an S-expression naming the module, a byte offset
and a length; they are turned into ``SpecError`` with the module's file, line and column.
rego-cpp also prints them to the process's stdout (fd 1), so compiling runs with fd 1 sent
to a pipe that is read back and dropped: ``--output json`` stays a JSON document.
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


class Compiled:
    """Modules compiled once into a bundle, queried many times with different inputs."""

    def __init__(self, modules: Sequence[Module], query: str,
                 data: Mapping[str, Any] | None = None) -> None:
        from regopy import Interpreter, RegoError

        self.modules = tuple(modules)
        self._lock = threading.Lock()  # one query at a time on a bundle shared by threads
        builder = Interpreter()
        with _quiet_stdout():
            try:
                for module in self.modules:
                    builder.add_module(module.name, module.source)
                if data:
                    builder.add_data_json(json.dumps(data))
                self._bundle = builder.build(query)
            except RegoError as exc:
                raise compile_errors(str(exc), self.modules) from exc

    def query(self, input_doc: Any) -> Any:
        """The query's first expression value for ``input_doc`` (None when undefined).

        The input is handed over as a built value (``regoinput.build_input``), not as JSON
        text: rego-cpp parses a JSON term through its whole rewriting pipeline, about ten
        times slower than building the same value node by node."""
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


def _value(text: str, modules: Sequence[Module]) -> Any:
    if text.startswith("("):  # an error node instead of a JSON result
        message = _field(text, "errormsg") or text.strip()
        first = modules[0] if modules else None
        raise SpecError(f"Rego evaluation failed: {message}",
                        location=first.location if first else None,
                        field=first.field if first else None,
                        hint="see the policy's rules; `stackwright policy test` runs them")
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


__all__ = ["Compiled", "Module", "compile_errors"]
