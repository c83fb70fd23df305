"""Building engine values by hand for pure tests: declared resources, an in-memory recorder."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from stackwright.builtin.commands import COMMAND_KIND
from stackwright.builtin.files import FILE_KIND
from stackwright.core.kinds import Kind
from stackwright.core.model import Address, Change, Declared, Recorded, Ref, Status
from stackwright.core.spec.refs import find_expressions, parse_expression

KINDS: dict[str, Kind] = {"File": FILE_KIND, "Command": COMMAND_KIND}


def declare(address: str, spec: Mapping[str, Any], depends_on: tuple[str, ...] = ()) -> Declared:
    addr = Address.parse(address)
    kind = KINDS[addr.kind]
    refs = []
    for path, text in find_expressions(spec):
        expr = parse_expression(text)
        refs.append(Ref(text, path, expr.address, expr.output))
    deps = {Address.parse(d) for d in depends_on} | {r.target for r in refs if r.target}
    tree = dict(spec) if refs else kind.normalize(kind.spec_model.model_validate(dict(spec)))
    return Declared(addr, "stackwright.dev/v1", tree, depends_on=tuple(sorted(deps)),
                    refs=tuple(refs), sensitive=kind.sensitive_fields(tree))


def declare_all(specs: Mapping[str, Mapping[str, Any]]) -> dict[Address, Declared]:
    out = {}
    for address, doc in specs.items():
        decl = declare(address, doc.get("spec", {}), tuple(doc.get("dependsOn", ())))
        out[decl.address] = decl
    return out


class MemoryRecorder:
    """A real Recorder that keeps state in a dict (the state store has its own tests)."""

    def __init__(self, recorded: Mapping[Address, Recorded] | None = None) -> None:
        self.resources: dict[Address, Recorded] = dict(recorded or {})
        self.lock = threading.Lock()
        self.log: list[tuple[str, str]] = []

    def started(self, change: Change, status: Status) -> None:
        with self.lock:
            prior = self.resources.get(change.address)
            self.resources[change.address] = Recorded(
                change.address, prior.id if prior else None, prior.inputs if prior else {},
                prior.outputs if prior else {}, status, change.depends_on)
            self.log.append((status.value, str(change.address)))

    def finished(self, change: Change, record: Recorded) -> None:
        with self.lock:
            self.resources[change.address] = record
            self.log.append(("ready", str(change.address)))

    def removed(self, change: Change) -> None:
        with self.lock:
            self.resources.pop(change.address, None)
            self.log.append(("removed", str(change.address)))

    def restored(self, change: Change, record: Recorded, why: str) -> None:
        with self.lock:
            self.resources[change.address] = record
            self.log.append(("restored", str(change.address)))
