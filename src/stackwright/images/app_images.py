"""The ``Image`` kind: an application image built with podman from a context directory."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from stackwright.core.kinds import Driver, DriverContext, Kind, SpecModel
from stackwright.core.model import Address, Applied, Observed, Recorded
from stackwright.core.spec.refs import has_expression
from stackwright.errors import PermanentError, SpecError
from stackwright.local import labels_for, podman_for
from stackwright.tools._proc import NotFoundError
from stackwright.tools.images import app_image, content_hash


class ImageSpec(SpecModel):
    context: str = Field(description="Build context directory, relative to the project.")
    containerfile: str = Field("Containerfile",
                               description="Containerfile path, relative to the context.")
    buildArgs: dict[str, str] = Field(  # noqa: N815 (the spec's spelling)
        default_factory=dict, description="Build arguments (ARG); may reference outputs.")


class ImageKind(Kind):
    """An application image built from a context directory and a Containerfile.

    ```yaml
    apiVersion: stackwright.dev/v1
    kind: Image
    metadata: {name: app}
    spec:
      context: app
      buildArgs: {BASE: "${{ BaseImage.python.image }}"}
    ```

    The tag is a hash of every file in the context (``.containerignore`` respected), the
    Containerfile and the build arguments: an unchanged image is never rebuilt, and editing a
    file in the context plans an update (the plan shows ``$sources`` changing). Outputs:
    ``image`` (the ref), ``digest``.
    """

    name: ClassVar[str] = "Image"
    spec_model = ImageSpec
    outputs = ("image", "digest")
    drivers = {"local": lambda: PodmanImageDriver()}

    def source_digest(self, inputs: Mapping[str, Any], project_dir: Path) -> str | None:
        context = str(inputs.get("context", ""))
        if not context or has_expression(context):
            return None
        root = project_dir / context
        containerfile = root / str(inputs.get("containerfile", "Containerfile"))
        if not root.is_dir():
            raise SpecError(f"the build context {context!r} is not a directory",
                            field="spec.context", hint="it is relative to the project")
        if not containerfile.is_file():
            raise SpecError(f"no Containerfile at {containerfile.relative_to(project_dir)}",
                            field="spec.containerfile",
                            hint="add it, or set spec.containerfile")
        return content_hash(root, containerfile)


class PodmanImageDriver(Driver):
    def read(self, ctx: DriverContext, recorded: Recorded) -> Observed | None:
        ref = str(recorded.outputs.get("image") or recorded.id or "")
        return Observed() if ref and podman_for(ctx).image_exists(ref) else None

    def create(self, ctx: DriverContext, inputs: Mapping[str, Any]) -> Applied:
        spec = ImageSpec.model_validate(dict(inputs))
        context = ctx.resolve_path(spec.context)
        containerfile = context / spec.containerfile
        if not context.is_dir():
            raise PermanentError(f"the build context {context} is not a directory",
                                 hint="spec.context is relative to the project")
        if not containerfile.is_file():
            raise PermanentError(f"no Containerfile at {containerfile}",
                                 hint="add it, or set spec.containerfile")
        address = ctx.address or Address("Image", "image")
        repo = f"localhost/{ctx.project or 'project'}/{address.name}"
        built = app_image(podman_for(ctx), repo, context, containerfile=containerfile,
                          build_args=spec.buildArgs, labels=labels_for(ctx, address),
                          on_line=ctx.log)
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


IMAGE_KIND = ImageKind()
