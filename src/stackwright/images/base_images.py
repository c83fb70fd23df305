"""The ``BaseImage`` kind: a base image built locally from a recipe (busybox or Debian)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, model_validator

from stackwright.core.kinds import DriverContext, Kind, SpecModel
from stackwright.core.model import Address
from stackwright.errors import PermanentError
from stackwright.images.tagging import TaggedImageDriver
from stackwright.local import labels_for, podman_for, scope_of
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

    The image is ``localhost/stackwright/<project>-<name>:<env>-<key>-<hash>``, the hash covering
    its recipe (and the builder's version), so an unchanged recipe is never built again (an
    environment whose recipe matches another's tags that image), and a changed one builds a
    new tag and untags the old one. Builds carry the project, environment and resource
    labels (``podman images --filter label=dev.stackwright.project=<project>``), and
    destroy untags this environment's builds. Debian images take
    about a minute the first time (debootstrap from the Debian mirror, set with
    ``settings.images.mirror``); rootfs tarballs are cached in ``settings.images.cacheDir``
    (default ``/var/tmp/stackwright-image-cache``). Outputs: ``image`` (the ref, for
    ``FROM`` or a service), ``digest``.
    """

    name: ClassVar[str] = "BaseImage"
    spec_model = BaseImageSpec
    outputs = ("image", "digest")
    drivers = {"local": lambda: PodmanBaseImageDriver()}


class PodmanBaseImageDriver(TaggedImageDriver):
    default_address = Address("BaseImage", "base")

    def repo(self, ctx: DriverContext, address: Address) -> str:
        return f"localhost/stackwright/{ctx.project or 'project'}-{address.name}"

    def build(self, ctx: DriverContext, inputs: Mapping[str, Any], repo: str) -> BuiltImage:
        spec = BaseImageSpec.model_validate(dict(inputs))
        podman = podman_for(ctx)
        conf: dict[str, Any] = dict(ctx.settings.get("images") or {})
        cache = Path(str(conf.get("cacheDir", "/var/tmp/stackwright-image-cache")))
        labels = labels_for(ctx, ctx.address or self.default_address)
        if spec.busybox is not None:
            binary = Path(spec.busybox.binary)
            if not binary.is_file():
                raise PermanentError(f"no busybox binary at {binary}",
                                     hint="apt-get install busybox-static")
            return busybox_rootfs_image(podman, repo, busybox=binary, cache_dir=cache,
                                        labels=labels, env=scope_of(ctx).tag_env)
        assert spec.debian is not None
        settings = DebootstrapSettings(
            mirror=str(conf.get("mirror", DebootstrapSettings.mirror)), cache_dir=cache)
        return debootstrap_image(podman, _recipe(spec.debian), repo, settings=settings,
                                 on_line=ctx.log, labels=labels, env=scope_of(ctx).tag_env)


def _recipe(debian: DebianRecipe) -> DebootstrapRecipe:
    return DebootstrapRecipe(release=debian.release, packages=tuple(debian.packages),
                             files=dict(debian.files), commands=tuple(debian.commands),
                             cmd=tuple(debian.cmd))


BASE_IMAGE_KIND = BaseImageKind()
