"""The ``Image`` kind: an application image built with podman from a context directory."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from stackwright.core.kinds import DriverContext, Kind, SpecModel
from stackwright.core.model import Address
from stackwright.core.spec.refs import has_expression
from stackwright.errors import PermanentError, SpecError
from stackwright.images.tagging import TaggedImageDriver
from stackwright.local import labels_for, podman_for, scope_of
from stackwright.tools.images import BuiltImage, app_image, content_hash


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

    The image is ``localhost/<project>/<name>:<env>-<key>-<hash>``, the hash covering every file
    in the context (``.containerignore`` respected), the Containerfile and the build
    arguments (one naming a local image counts by that image's ID): an unchanged image is
    never rebuilt, and editing a file in the context plans an update (the plan shows
    ``$sources`` changing). Each environment has its own tag; one whose inputs match an
    image another environment built tags that image instead of building it again. An update
    untags the build it replaces (kept, and logged, while a container still runs from it);
    destroy untags this environment's builds. Builds are labelled with the project,
    environment and resource. Outputs: ``image`` (the ref), ``digest``.
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


class PodmanImageDriver(TaggedImageDriver):
    default_address = Address("Image", "image")

    def repo(self, ctx: DriverContext, address: Address) -> str:
        return f"localhost/{ctx.project or 'project'}/{address.name}"

    def build(self, ctx: DriverContext, inputs: Mapping[str, Any], repo: str) -> BuiltImage:
        spec = ImageSpec.model_validate(dict(inputs))
        context = ctx.resolve_path(spec.context)
        containerfile = context / spec.containerfile
        if not context.is_dir():
            raise PermanentError(f"the build context {context} is not a directory",
                                 hint="spec.context is relative to the project")
        if not containerfile.is_file():
            raise PermanentError(f"no Containerfile at {containerfile}",
                                 hint="add it, or set spec.containerfile")
        labels = labels_for(ctx, ctx.address or self.default_address)
        return app_image(podman_for(ctx), repo, context, containerfile=containerfile,
                         build_args=spec.buildArgs, labels=labels, on_line=ctx.log,
                         env=scope_of(ctx).tag_env)


IMAGE_KIND = ImageKind()
