"""Errors of the secrets store; each carries the HTTP status the Vault-compatible API answers.

::

    SecretsError (stackwright.errors)
    └── VaultError                 status 500 unless a subclass says otherwise
        ├── InvalidRequestError    400  bad input, cas mismatch, malformed policy
        │   └── PolicyParseError   400  a policy that does not parse, with its line
        ├── PermissionDeniedError  403  no token, a bad token, or the ACL says no
        ├── NotFoundError          404  no such secret, version, policy or route
        ├── NotInitializedError    400  the store has not been initialized
        ├── SealedError            503  the store is sealed
        ├── AuditWriteError        500  the audit log could not be written
        └── BackendError           500  a backend (a database) failed; message scrubbed of secrets
"""

from __future__ import annotations

from stackwright.errors import SecretsError


class VaultError(SecretsError):
    """A secrets error with the HTTP status Vault would answer."""

    status = 500


class InvalidRequestError(VaultError):
    status = 400


class PolicyParseError(InvalidRequestError):
    """A policy that does not parse; ``line`` is 1-based."""

    def __init__(self, message: str, *, line: int, hint: str | None = None) -> None:
        super().__init__(f"failed to parse policy: line {line}: {message}", hint=hint)
        self.line = line


class PermissionDeniedError(VaultError):
    status = 403

    def __init__(self, message: str = "permission denied", *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)


class NotFoundError(VaultError):
    """Nothing at this path; Vault answers 404 with an empty error list."""

    status = 404

    def __init__(self, message: str = "", *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)


class NotInitializedError(VaultError):
    status = 400


class SealedError(VaultError):
    status = 503

    def __init__(self, message: str = "Vault is sealed", *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)


class AuditWriteError(VaultError):
    """The audit sink failed; the request must fail with it."""

    status = 500


class BackendError(VaultError):
    """A secrets backend failed: a database refused a statement or cannot be reached.

    Messages never carry generated or root passwords: they are scrubbed before this is raised.
    """

    status = 500
