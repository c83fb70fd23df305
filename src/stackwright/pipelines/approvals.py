"""Who approves a job waiting on a protected environment, with the platform's roles
(:mod:`stackwright.server.access.roles`).

A job deploying to an environment listed in ``settings.server.protected`` (default
``prod``, ``production``) needs an approver holding ``operator`` **in that environment**;
any other environment with ``approval: true`` needs ``developer`` there. The pipeline's
``approvers`` list, when given, narrows who may approve further. The approver is recorded
on the job (``approved_by``) and in the project's audit log (``pipeline.approve``).

Who the approver is:

- through the API: the request's principal (token, console session or the local user), its
  role looked up in the job's environment (a token's cap applies);
- from the CLI: the user of the token in ``--token`` or ``STACKWRIGHT_TOKEN`` (an ``swt_``
  token, as ``stackwright token create`` prints); without one, the local user, who holds
  ``admin`` as the daemon's own user does on this machine (``user`` and ``token`` commands
  write the same database) unless ``settings.server.localTrust`` is false.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stackwright.errors import StackwrightError
from stackwright.server.access.roles import at_least, cap, deploy_role, protected_environments

if TYPE_CHECKING:
    from stackwright.core.engine import Engine
    from stackwright.server.access.store import AccessStore, Principal


class ApprovalRefused(StackwrightError):
    """An approver without the role (or not among the approvers) a job's environment needs."""


@dataclass(frozen=True)
class Approver:
    """Who approves, and their role in any environment."""

    name: str
    via: str  # token, session, local
    role_in: Callable[[str], str | None]

    @property
    def actor(self) -> str:
        return f"{self.name} ({self.via})"


def from_principal(access: AccessStore | None, who: Principal) -> Approver:
    """The approver behind an API request."""
    if who.via == "local" or access is None:
        return Approver(who.name, who.via, lambda _env: who.role)
    limit = _token_cap(access, who.token_id) if who.token_id else None
    return Approver(who.name, who.via,
                    lambda env: cap(access.role_of(who.name, env), limit))


def _token_cap(access: AccessStore, token_id: str) -> str | None:
    for record in access.tokens():
        if record["id"] == token_id:
            return str(record["role"]) if record["role"] else None
    return None


def from_cli(engine: Engine, token: str | None) -> Approver:
    """The approver running the CLI here: a token's user, or the local user."""
    import getpass

    from stackwright.server.access.store import AccessStore

    if token:
        access = AccessStore.open(engine.state_url)
        found = access.authenticate_token(token, engine.environment)
        if found is None:
            raise ApprovalRefused("the token is not valid (unknown, revoked or expired)",
                                  hint="create one with `stackwright token create`")
        return from_principal(access, found)
    server = engine.config.settings.get("server") or {}
    if server.get("localTrust", True) is False:
        raise ApprovalRefused("settings.server.localTrust is false: approving needs a token",
                              hint="pass --token or set STACKWRIGHT_TOKEN (swt_…)")
    return Approver(f"local:{getpass.getuser()}", "local", lambda _env: "admin")


def needed_role(environment: str, settings: dict[str, Any]) -> str:
    return deploy_role(environment, protected_environments(settings))


def check(approver: Approver, job: str, environment: str, settings: dict[str, Any],
          approvers: Sequence[str]) -> str:
    """The approver's role in ``environment`` when it suffices; refused otherwise."""
    needed = needed_role(environment, settings)
    role = approver.role_in(environment)
    if not at_least(role, needed):
        kind = "a protected environment" if needed == "operator" else "an environment"
        raise ApprovalRefused(
            f"{approver.name} is {role or 'not granted a role'} in {environment}; approving "
            f"job {job} (it deploys to {environment}, {kind}) needs {needed}",
            hint=f"an admin grants it: stackwright user grant {approver.name} {needed} "
                 f"--in {environment}")
    short = approver.name.removeprefix("local:").split("@")[0]
    if approvers and not any(fnmatch.fnmatch(approver.name, a) or short == a
                             for a in approvers):
        raise ApprovalRefused(f"{approver.name} may not approve deployments to {environment}",
                              hint=f"approvers: {', '.join(approvers)}")
    return str(role)
