"""The secrets store's options in ``stackwright.yaml`` (read by the daemon).

Example::

    settings:
      secrets:
        audit:
          fsync: batch          # always | batch | never (see docs/secrets.md)
          batchWindowMs: 2      # the longest a group commit waits for more lines
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stackwright.errors import SecretsError
from stackwright.secrets.auditsink import DEFAULT_BATCH_WINDOW, FSYNC_MODES

_WHERE = "stackwright.yaml: settings.secrets.audit"
MAX_BATCH_WINDOW_MS = 100.0


def audit_options(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``SecretsSettings`` keyword arguments from the project's settings; raises a
    SecretsError naming the field for a bad value."""
    conf = (settings.get("secrets") or {}) if isinstance(settings, Mapping) else {}
    audit = conf.get("audit") if isinstance(conf, Mapping) else None
    if audit is None:
        return {}
    if not isinstance(audit, Mapping):
        raise SecretsError(f"{_WHERE}: expected a mapping", hint="for example {fsync: batch}")
    unknown = sorted(set(audit) - {"fsync", "batchWindowMs"})
    if unknown:
        raise SecretsError(f"{_WHERE}.{unknown[0]}: unknown field",
                           hint="the fields are fsync and batchWindowMs")
    return {"audit_fsync": _fsync(audit.get("fsync", "batch")),
            "audit_batch_window": _window(audit.get("batchWindowMs",
                                                    DEFAULT_BATCH_WINDOW * 1000)) / 1000}


def _fsync(value: Any) -> str:
    if value not in FSYNC_MODES:
        raise SecretsError(f"{_WHERE}.fsync: {value!r} is not a mode",
                           hint=f"one of {', '.join(FSYNC_MODES)}; batch is the default")
    return str(value)


def _window(value: Any) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not 0 <= value <= MAX_BATCH_WINDOW_MS:
        raise SecretsError(f"{_WHERE}.batchWindowMs: {value!r} is not a number of "
                           f"milliseconds from 0 to {MAX_BATCH_WINDOW_MS:g}",
                           hint=f"leave it out for the default, {DEFAULT_BATCH_WINDOW * 1000:g}")
    return float(value)
