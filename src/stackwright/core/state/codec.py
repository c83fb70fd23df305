"""Rows of the ``resources`` table to and from ``Recorded`` values. No SQLAlchemy here, so the
fast read path (``sqlite_reader``) and the store share one decoding."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from stackwright.core.model import Address, Recorded, Status

if TYPE_CHECKING:
    from stackwright.core.state.crypto import Cipher

HEAD_REVISION: Final = "0001"
"""The newest migration; tests check it against alembic's head. Knowing it lets a store that
is already migrated open (or be read) without importing alembic."""

RESOURCE_COLUMNS: Final = (
    "project, env, address, object_id, status, inputs, outputs, depends_on, sensitive, "
    "sensitive_outputs, serial"
)


class ResourceRow(NamedTuple):
    """A ``resources`` row, columns in table order."""

    project: str
    env: str
    address: str
    object_id: str | None
    status: str
    inputs: str
    outputs: str
    depends_on: str
    sensitive: str
    sensitive_outputs: str
    serial: int


def state_aad(project: str, env: str, address: str, part: str) -> bytes:
    """Binds a sealed value to its workspace, resource and part (inputs or outputs)."""
    return f"stackwright-state\x00{project}\x00{env}\x00{address}\x00{part}".encode()


_NONE: Final[frozenset[str]] = frozenset()
_MAX_REMEMBERED: Final = 100_000


class RowDecoder:
    """Decodes rows into ``Recorded`` values, decrypting sensitive parts.

    ``cipher`` may be a function that loads it: it is called (and the cryptography library
    imported) only when a row holds a sensitive value."""

    def __init__(self, cipher: Cipher | Callable[[], Cipher]) -> None:
        self._cipher_or_loader = cipher
        # The C scanner without json.loads' wrapper: half the cost, and the text is ours.
        decoder: Any = json.JSONDecoder()
        self._scan: Callable[[str, int], tuple[Any, int]] = decoder.scan_once
        self._statuses = {status.value: status for status in Status}
        self._dependencies: dict[str, tuple[Address, ...]] = {}

    def loads(self, text: str) -> Any:
        return () if text == "[]" else self._scan(text, 0)[0]

    def decode(
        self, project: str, env: str, row: ResourceRow, names: dict[str, Address] | None = None
    ) -> Recorded:
        """A row as a Recorded; ``names`` caches parsed addresses across one snapshot."""
        names = {} if names is None else names
        inputs, outputs = self.loads(row.inputs), self.loads(row.outputs)
        sensitive = self._paths(row.sensitive)
        sensitive_outputs = self._paths(row.sensitive_outputs)
        if sensitive:
            inputs = self._unseal(inputs, state_aad(project, env, row.address, "inputs"))
        if sensitive_outputs:
            outputs = self._unseal(outputs, state_aad(project, env, row.address, "outputs"))
        return Recorded(
            address=address_of(names, row.address),
            id=row.object_id,
            inputs=inputs,
            outputs=outputs,
            status=self._statuses[row.status],
            depends_on=self._depends_on(row.depends_on, names),
            sensitive=sensitive,
            sensitive_outputs=sensitive_outputs,
            serial=row.serial,
        )

    def _depends_on(self, text: str, names: dict[str, Address]) -> tuple[Address, ...]:
        """Dependencies, parsed once per distinct text (they are immutable tuples, so rows
        that depend on the same resources share one)."""
        found = self._dependencies.get(text)
        if found is None:
            found = tuple(address_of(names, a) for a in self.loads(text))
            if len(self._dependencies) >= _MAX_REMEMBERED:  # a long-lived store's decoder
                self._dependencies.clear()
            self._dependencies[text] = found
        return found

    def _paths(self, text: str) -> frozenset[str]:
        return _NONE if text == "[]" else frozenset(self.loads(text))

    def _unseal(self, tree: Any, aad: bytes) -> Any:
        from stackwright.core.state.crypto import Cipher, unseal_tree

        if not isinstance(self._cipher_or_loader, Cipher):
            self._cipher_or_loader = self._cipher_or_loader()
        return unseal_tree(tree, self._cipher_or_loader, aad)


def address_of(names: dict[str, Address], text: str) -> Address:
    found = names.get(text)
    if found is None:
        found = names[text] = Address.parse(text)
    return found
