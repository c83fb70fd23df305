"""Rows of the ``resources`` table to and from ``Recorded`` values. No SQLAlchemy here, so the
fast read path (``sqlite_reader``) and the store share one decoding."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final, NamedTuple

from stackwright.core.model import Address, Recorded, Status
from stackwright.core.state.crypto import Cipher, unseal_tree

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


class RowDecoder:
    """Decodes rows into ``Recorded`` values, decrypting sensitive parts."""

    def __init__(self, cipher: Cipher) -> None:
        self._cipher = cipher
        # The C scanner without json.loads' wrapper: half the cost, and the text is ours.
        decoder: Any = json.JSONDecoder()
        self._scan: Callable[[str, int], tuple[Any, int]] = decoder.scan_once
        self._statuses = {status.value: status for status in Status}

    def loads(self, text: str) -> Any:
        return () if text == "[]" else self._scan(text, 0)[0]

    def decode(
        self, project: str, env: str, row: ResourceRow, names: dict[str, Address] | None = None
    ) -> Recorded:
        """A row as a Recorded; ``names`` caches parsed addresses across one snapshot."""
        names = {} if names is None else names
        inputs, outputs = self.loads(row.inputs), self.loads(row.outputs)
        sensitive = frozenset(self.loads(row.sensitive))
        sensitive_outputs = frozenset(self.loads(row.sensitive_outputs))
        if sensitive:
            aad = state_aad(project, env, row.address, "inputs")
            inputs = unseal_tree(inputs, self._cipher, aad)
        if sensitive_outputs:
            aad = state_aad(project, env, row.address, "outputs")
            outputs = unseal_tree(outputs, self._cipher, aad)
        return Recorded(
            address=address_of(names, row.address),
            id=row.object_id,
            inputs=inputs,
            outputs=outputs,
            status=self._statuses[row.status],
            depends_on=tuple(address_of(names, a) for a in self.loads(row.depends_on)),
            sensitive=sensitive,
            sensitive_outputs=sensitive_outputs,
            serial=row.serial,
        )


def address_of(names: dict[str, Address], text: str) -> Address:
    found = names.get(text)
    if found is None:
        found = names[text] = Address.parse(text)
    return found
