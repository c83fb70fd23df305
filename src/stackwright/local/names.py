"""Names and owners of what a project makes on this machine.

Two checkouts of one project (two clones, a CI runner beside a developer) may run on one
host, with the same project name and environment. Their objects are told apart by a short
key of the project's state location (the SQLite file in the project directory, or the state
database's URL without its password), written beside the project name:

- podman objects: ``sw-<project>-<key>-<env>-<name>`` (a network, a volume, a database's
  container), ``sw-<project>-<key>-<env>-<service>-<revision>-<n>`` (replicas);
- image tags: ``<repo>:<env>-<key>-<hash>``;
- labels keep the human names (``dev.stackwright.project``, ``.env``, ``.resource``) and add
  the owner: ``dev.stackwright.owner`` (the key) and ``dev.stackwright.project-dir``.

HAProxy processes, their sockets and run directories live under the project directory
(``.stackwright/run/<env>/``) and are unique with it.

An object is this project's when its owner label carries this key. Objects made before the
key existed (``sw-<project>-<env>-<name>``, no owner label) are this project's when its
recorded state names them: drivers keep using a recorded name, so an older installation's
objects are adopted by the checkout whose state records them, and nobody else's. Anything
else is left alone, and an error about it names its owner and what to do.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from stackwright.core.kinds import DriverContext
from stackwright.errors import PermanentError
from stackwright.tools.podman import LABEL_ENV, LABEL_PROJECT, LABEL_RESOURCE

LABEL_OWNER = "dev.stackwright.owner"
LABEL_PROJECT_DIR = "dev.stackwright.project-dir"
KEY_LENGTH = 6
DEFAULT_STATE_FILE = ".stackwright/state.db"


def podman_safe(raw: str) -> str:
    """``raw`` with every character podman refuses in a name replaced by ``-``."""
    return re.sub(r"[^a-zA-Z0-9_.-]", "-", raw)


def state_location(ctx: DriverContext) -> str:
    """Where the project's state lives; the engine says, else the default SQLite file."""
    if ctx.state_location:
        return ctx.state_location
    return f"sqlite:///{Path(ctx.project_dir).resolve() / DEFAULT_STATE_FILE}"


def owner_key(location: str) -> str:
    """The short, stable key of a state location."""
    return hashlib.sha256(location.encode()).hexdigest()[:KEY_LENGTH]


@dataclass(frozen=True)
class Scope:
    """One project environment of one checkout: what names and labels its objects."""

    project: str
    env: str
    key: str
    project_dir: str

    @property
    def prefix(self) -> str:
        return podman_safe(f"sw-{self.project}-{self.key}-{self.env}")

    @property
    def legacy_prefix(self) -> str:
        """The prefix of names made before the owner key existed."""
        return podman_safe(f"sw-{self.project}-{self.env}")

    def name(self, resource: str) -> str:
        return podman_safe(f"{self.prefix}-{resource}")

    def legacy_name(self, resource: str) -> str:
        return podman_safe(f"{self.legacy_prefix}-{resource}")

    @property
    def tag_env(self) -> str:
        """What image tags start with: ``<env>-<key>``."""
        return f"{self.env}-{self.key}"

    def labels(self, resource: str | None = None) -> dict[str, str]:
        pairs = ((LABEL_PROJECT, self.project), (LABEL_ENV, self.env),
                 (LABEL_RESOURCE, resource), (LABEL_OWNER, self.key),
                 (LABEL_PROJECT_DIR, self.project_dir))
        return {k: v for k, v in pairs if v}

    def owns(self, labels: Mapping[str, str]) -> bool:
        return labels.get(LABEL_OWNER) == self.key

    def owns_unlabelled(self, labels: Mapping[str, str]) -> bool:
        """An object of this project and environment made before owners were labelled (the
        caller knows from the record that it is this checkout's)."""
        return (LABEL_OWNER not in labels and labels.get(LABEL_PROJECT) == self.project
                and labels.get(LABEL_ENV) == self.env)

    def describe(self) -> str:
        return f"project {self.project}, environment {self.env} in {self.project_dir}"


def scope_of(ctx: DriverContext) -> Scope:
    project = ctx.project or project_name(Path(ctx.project_dir))
    return Scope(project, ctx.environment, owner_key(state_location(ctx)),
                 str(Path(ctx.project_dir).resolve()))


@functools.lru_cache(maxsize=32)
def project_name(project_dir: Path) -> str:
    from stackwright.core.spec.loader import load_config

    return load_config(project_dir).name


def owner_of(labels: Mapping[str, str]) -> str:
    """Who an object's labels say it belongs to, in words."""
    if LABEL_PROJECT not in labels:
        return "something that is not Stackwright's (it has no dev.stackwright labels)"
    where = labels.get(LABEL_PROJECT_DIR)
    env = labels.get(LABEL_ENV, "?")
    if where:
        return f"project {labels[LABEL_PROJECT]}, environment {env} in {where}"
    return (f"project {labels[LABEL_PROJECT]}, environment {env} of a checkout made before "
            "owners were labelled (its state records it)")


def foreign(scope: Scope, what: str, name: str, labels: Mapping[str, str]) -> PermanentError:
    """The error about an object this project may not adopt, stop or remove."""
    where = labels.get(LABEL_PROJECT_DIR)
    env = labels.get(LABEL_ENV)
    there = (f"destroy it from there (stackwright -C {where} --env {env} destroy), or "
             if where and env else "")
    return PermanentError(
        f"{what} {name} belongs to {owner_of(labels)}, not to {scope.describe()}; "
        "it was left alone",
        hint=f"{there}remove it yourself if its project is gone (podman inspect {name} "
             "shows its labels), or rename this project")


def claim(scope: Scope, what: str, name: str, labels: Mapping[str, str]) -> None:
    """Refuse (naming its owner) to adopt, stop or remove an object that is not ours."""
    if not scope.owns(labels):
        raise foreign(scope, what, name, labels)
