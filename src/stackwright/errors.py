"""The error tree of Stackwright.

Every error a user can see derives from :class:`StackwrightError`. Subsystems raise the most
specific class; SDK and subprocess errors are translated at the boundary with
``raise X from exc``::

    StackwrightError
    ├── SpecError                 a spec cannot be loaded or is invalid
    │   └── SpecErrors            several located problems reported at once
    ├── RegistryError             an unknown kind, driver or plugin
    ├── PlanError                 a plan cannot be made, read or used
    │   ├── StalePlanError        a saved plan whose state changed since it was made
    │   └── PlanRefusedError      a mandatory plan check (a policy) denies the plan
    ├── ApplyError                one or more actions failed during apply
    ├── StateError                the state store cannot be read or written
    │   ├── LockError             the project/environment is locked by another writer
    │   └── AuditError            the audit log is broken or cannot be written
    ├── TargetError               a driver's target failed (podman, a subprocess, an API)
    │   ├── PermanentError        retrying will not help
    │   │   └── RolledBack        the action failed and was taken back: as recorded before
    │   └── TemporaryError        retry after ``delay`` seconds
    └── SecretsError              keys, encryption, sealed stores
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class StackwrightError(Exception):
    """Root of every error Stackwright raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


@dataclass(frozen=True)
class Location:
    """Where in a spec file a problem is: 1-based line and column."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if not self.line:
            return self.file
        return f"{self.file}:{self.line}:{self.col}"


class SpecError(StackwrightError):
    """One problem in a spec, at a location, on a field path."""

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.location = location
        self.field = field

    def __str__(self) -> str:
        parts = []
        if self.location is not None:
            parts.append(f"{self.location}: ")
        if self.field:
            parts.append(f"{self.field}: ")
        parts.append(self.message)
        if self.hint:
            parts.append(f" ({self.hint})")
        return "".join(parts)


class SpecErrors(SpecError):
    """Every problem found in one validation run, reported together."""

    def __init__(self, errors: list[SpecError]) -> None:
        self.errors = sorted(errors, key=_error_sort_key)
        super().__init__(f"{len(self.errors)} error(s) in the spec")

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


def _error_sort_key(err: SpecError) -> tuple[str, int, int, str]:
    loc = err.location or Location("")
    return (loc.file, loc.line, loc.col, err.message)


class RegistryError(StackwrightError):
    """A name that no registry knows."""


class PlanError(StackwrightError):
    """A plan cannot be made, read or used."""


class StalePlanError(PlanError):
    """A saved plan whose recorded state changed after it was made."""


class PlanRefusedError(PlanError):
    """A mandatory plan check denies the plan; nothing was changed. ``plan`` carries the
    plan with its check results, to show them."""

    def __init__(self, message: str, *, plan: Any = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.plan = plan


class ApplyError(StackwrightError):
    """One or more actions failed; the summary lists them."""


class StateError(StackwrightError):
    """The state store cannot be read or written."""


class LockError(StateError):
    """Another writer holds the lock of this project and environment."""


class AuditError(StateError):
    """The audit log is broken, or cannot be written."""


class TargetError(StackwrightError):
    """A driver's target failed: a subprocess, a container engine, an API."""


class PermanentError(TargetError):
    """A failure that retrying will not fix."""


class RolledBack(PermanentError):
    """The action failed and the driver took it back: the object is as its record was before
    the action (a canary aborted, a blue/green switch undone), so the engine keeps that
    record instead of leaving it half-updated."""


class TemporaryError(TargetError):
    """A failure that may pass; retry after ``delay`` seconds."""

    def __init__(self, message: str, *, delay: float = 1.0, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.delay = delay


class SecretsError(StackwrightError):
    """Keys, encryption and sealed stores."""
