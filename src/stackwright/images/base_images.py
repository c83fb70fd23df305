"""The ``BaseImage`` kind: a base image built locally from a recipe (busybox or Debian)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, model_validator

from stackwright.core.kinds import Driver, DriverContext, Kind, SpecModel
from stackwright.core.model import Address, Applied, Observed, Recorded
from stackwright.errors import PermanentError
from stackwright.local import podman_for
from stackwright.tools._proc import NotFoundError
from stackwright.tools.images import (
    BuiltImage,
    DebootstrapRecipe,
    DebootstrapSettings,
    busybox_rootfs_image,
    debootstrap_image,
)


class BusyboxRecipe(SpecModel):
    binary: str = Field("/bin/busybox", description="A static busybox (busybox-static).")


class DebianRecipe(SpecModel):
    release: str = Field("bookworm", description="Debian release.")
    packages: list[str] = Field(default_factory=list, description="Packages to install.")
    files: dict[str, str] = Field(default_factory=dict,
                                  description="Absolute path → content, written in the image.")
    commands: list[str] = Field(default_factory=list,
                                description="Shell commands run in the image, in order.")
    cmd: list[str] = Field(default_factory=lambda: ["/bin/bash"], description="Default command.")


class BaseImageSpec(SpecModel):
    busybox: BusyboxRecipe | None = Field(None, description="A tiny image from busybox.")
    debian: DebianRecipe | None = Field(None, description="A Debian image from debootstrap.")

    @model_validator(mode="after")
    def _one_recipe(self) -> BaseImageSpec:
        if (self.busybox is None) == (self.debian is None):
            raise ValueError("give exactly one recipe: busybox or debian")
        return self


class BaseImageKind(Kind):
    """A base image built on this machine from a recipe; no registry is needed.

    ```yaml
    apiVersion: stackwright.dev/v1
    kind: BaseImage
    metadata: {name: python}
    spec:
      debian:
        release: bookworm
        packages: [python3, python3-psycopg, python3-redis, python3-prometheus-client]
        commands: ["apt-get clean", "rm -rf /var/lib/apt/lists/*"]
        cmd: [python3]
    ```

    The image is tagged by a hash of its recipe (and the builder's version), so an unchanged
    recipe is never built again, and a changed one builds a new tag. Debian images take
    about a minute the first time (debootstrap from the Debian mirror, set with
    ``settings.images.mirror``); rootfs tarballs are cached in ``settings.images.cacheDir``
    (default ``/var/tmp/stackwright-image-cache``). Outputs: ``image`` (the ref, for
    ``FROM`` or a service), ``digest``.
    """

    name: ClassVar[str] = "BaseImage"
    spec_model = BaseImageSpec
    outputs = ("image", "digest")
    drivers = {"local": lambda: PodmanBaseImageDriver()}


class PodmanBaseImageDriver(Driver):
    def read(self, ctx: DriverContext, recorded: Recorded) -> Observed | None:
        ref = str(recorded.outputs.get("image") or recorded.id or "")
        return Observed() if ref and podman_for(ctx).image_exists(ref) else None

    def create(self, ctx: DriverContext, inputs: Mapping[str, Any]) -> Applied:
        spec = BaseImageSpec.model_validate(dict(inputs))
        built = _build(ctx, spec)
        ctx.log(f"{'built' if built.built else 'reused'} {built.ref}")
        return Applied(id=built.ref, outputs={"image": built.ref, "digest": built.digest})

    def update(self, ctx: DriverContext, recorded: Recorded, inputs: Mapping[str, Any]
               ) -> Applied:
        return self.create(ctx, inputs)

    def delete(self, ctx: DriverContext, recorded: Recorded) -> None:
        ref = str(recorded.outputs.get("image") or recorded.id or "")
        try:
            podman_for(ctx).image_remove(ref)
        except NotFoundError:
            return


def _build(ctx: DriverContext, spec: BaseImageSpec) -> BuiltImage:
    podman = podman_for(ctx)
    conf: dict[str, Any] = dict(ctx.settings.get("images") or {})
    cache = Path(str(conf.get("cacheDir", "/var/tmp/stackwright-image-cache")))
    address = ctx.address or Address("BaseImage", "base")
    repo = f"localhost/stackwright/{ctx.project or 'project'}-{address.name}"
    if spec.busybox is not None:
        binary = Path(spec.busybox.binary)
        if not binary.is_file():
            raise PermanentError(f"no busybox binary at {binary}",
                                 hint="apt-get install busybox-static")
        return busybox_rootfs_image(podman, repo, busybox=binary, cache_dir=cache)
    assert spec.debian is not None
    recipe = DebootstrapRecipe(release=spec.debian.release, packages=tuple(spec.debian.packages),
                               files=dict(spec.debian.files),
                               commands=tuple(spec.debian.commands), cmd=tuple(spec.debian.cmd))
    settings = DebootstrapSettings(mirror=str(conf.get("mirror", DebootstrapSettings.mirror)),
                                   cache_dir=cache)
    return debootstrap_image(podman, recipe, repo, settings=settings, on_line=ctx.log)


BASE_IMAGE_KIND = BaseImageKind()
