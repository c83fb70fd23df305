"""What the Image and BaseImage drivers share: one tag per environment, earlier builds untagged.

A build is tagged ``<repo>:<env>-<key>-<hash of its inputs>`` (the key tells two checkouts of
one project apart: :mod:`stackwright.local.names`). An environment (or checkout) whose inputs
match an image another one built gets its own tag on that image (``podman tag``, nothing
rebuilt). An update untags the builds it replaces and destroy untags this environment's
tags, never forcing: an image a container still runs from is kept (and the log says so)
until a later update or destroy finds it unused.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from stackwright.core.kinds import Driver, DriverContext
from stackwright.core.model import Address, Applied, Observed, Recorded
from stackwright.errors import PermanentError
from stackwright.local import podman_for, scope_of
from stackwright.tools.images import BuiltImage, env_tags, untag

IMAGE_BUILT_GROUP = "stackwright.image_built"


def after_build(ctx: DriverContext, address: Address, built: BuiltImage) -> None:
    """Call every ``stackwright.image_built`` entry point, by name, as ``hook(ctx, address,
    built)`` once an image is built, tagged or reused (a domain keeps what it derives from
    the image: policy its SBOM). A hook that raises fails the create or update, as the
    build would."""
    for ep in sorted(entry_points(group=IMAGE_BUILT_GROUP), key=lambda e: e.name):
        ep.load()(ctx, address, built)


def recorded_ref(recorded: Recorded) -> str:
    return str(recorded.outputs.get("image") or recorded.id or "")


def describe(built: BuiltImage) -> str:
    """One log line: built, tagged from another environment's image, or reused."""
    if built.built:
        return f"built {built.ref}"
    if built.tagged_from:
        return f"tagged {built.ref} from {built.tagged_from} (same inputs, nothing to build)"
    return f"reused {built.ref}"


class TaggedImageDriver(Driver):
    """read/create/update/delete of an image kind; subclasses name the repo and build."""

    default_address: Address

    @abc.abstractmethod
    def repo(self, ctx: DriverContext, address: Address) -> str:
        """The repository (without tag) of this resource's images."""

    @abc.abstractmethod
    def build(self, ctx: DriverContext, inputs: Mapping[str, Any], repo: str) -> BuiltImage:
        """Build (or reuse) the image for ``inputs`` in ``repo``, tagged for ctx's environment."""

    def read(self, ctx: DriverContext, recorded: Recorded) -> Observed | None:
        ref = recorded_ref(recorded)
        return Observed() if ref and podman_for(ctx).image_exists(ref) else None

    def create(self, ctx: DriverContext, inputs: Mapping[str, Any]) -> Applied:
        address = ctx.address or self.default_address
        built = self.build(ctx, inputs, self.repo(ctx, address))
        ctx.log(describe(built))
        after_build(ctx, address, built)
        return Applied(id=built.ref, outputs={"image": built.ref, "digest": built.digest})

    def update(self, ctx: DriverContext, recorded: Recorded, inputs: Mapping[str, Any]
               ) -> Applied:
        applied = self.create(ctx, inputs)
        self._untag_earlier(ctx, recorded, keep=applied.id)
        return applied

    def delete(self, ctx: DriverContext, recorded: Recorded) -> None:
        ref = recorded_ref(recorded)
        refused = untag(podman_for(ctx), ref)
        if refused is not None:
            raise PermanentError(f"could not remove the image {ref}: {refused}",
                                 hint="remove the containers that use it, then destroy again")
        self._untag_earlier(ctx, recorded, keep=ref)

    def _untag_earlier(self, ctx: DriverContext, recorded: Recorded, *, keep: str) -> None:
        """Untag this environment's builds of the resource but ``keep``: the recorded one and
        any an earlier update had to keep. (A tag without an environment, from an older
        Stackwright, may be another environment's too, so it is left alone.)"""
        podman = podman_for(ctx)
        repo = self.repo(ctx, ctx.address or recorded.address)
        for ref in env_tags(podman, repo, scope_of(ctx).tag_env):
            if ref == keep:
                continue
            refused = untag(podman, ref)
            if refused is None:
                ctx.log(f"untagged the earlier build {ref}")
            else:
                ctx.log(f"kept the earlier build {ref} ({refused}); "
                        "it is untagged by a later update or destroy once unused")
