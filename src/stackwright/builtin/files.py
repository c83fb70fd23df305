"""The ``File`` kind: a file on the machine Stackwright runs on, kept as the spec says: its
content written in the spec, or rendered from a Jinja2 template file of the project."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, ValidationInfo, field_validator

from stackwright.core.kinds import Driver, DriverContext, Kind, SpecModel
from stackwright.core.model import Applied, Imported, Observed, Recorded
from stackwright.core.values import UNKNOWN, contains_unknown
from stackwright.errors import PermanentError, SpecError

_MODE = re.compile(r"^0?[0-7]{3,4}$")
TEMPLATE_FIELD = "spec.template"
RENDERED = "$content"
"""Inputs key of a templated file's rendered content: planned (and diffed) like ``content``,
recorded, and compared with the file on disk for drift."""


class FileSpec(SpecModel):
    path: str = Field(min_length=1, description="Path of the file, relative to the project.")
    content: str | None = Field(
        None, description="What the file holds (UTF-8). Set this or template.")
    template: str | None = Field(
        None, min_length=1, validate_default=True,
        description="A Jinja2 template file, relative to the project, rendered into the file "
                    "with vars. Set this or content.")
    vars: dict[str, Any] = Field(
        default_factory=dict,
        description="Values the template sees by name; may reference outputs and variables.")
    mode: str = Field("0644", description="Permission bits, octal, as a string.")
    sensitive: bool = Field(False, description="Treat the content (and vars) as a secret.")

    @field_validator("template")
    @classmethod
    def _one_source(cls, value: str | None, info: ValidationInfo) -> str | None:
        has_content = info.data.get("content") is not None
        if value is not None and has_content:
            raise ValueError("set content or template, not both")
        if value is None and not has_content:
            raise ValueError("set content or template: what the file holds")
        return value

    @field_validator("vars")
    @classmethod
    def _vars_need_template(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        # (when template itself is invalid it is missing from info.data: reported there)
        if value and "template" in info.data and info.data["template"] is None:
            raise ValueError("vars are only used with a template")
        return value

    @field_validator("mode")
    @classmethod
    def _octal(cls, value: str) -> str:
        if not _MODE.match(value):
            raise ValueError(f"mode must be octal like '0644', got {value!r}")
        return value.rjust(4, "0")


class FileKind(Kind):
    """A managed file: its content and mode are kept as declared; edits on disk are drift.

    ```yaml
    apiVersion: stackwright.dev/v1
    kind: File
    metadata: {name: motd}
    spec:
      path: out/motd.txt
      content: "hello from ${{ var.greeting }}"
      mode: "0644"
    ```

    ```yaml
    apiVersion: stackwright.dev/v1
    kind: File
    metadata: {name: app-config}
    spec:
      path: out/app.ini
      template: templates/app.ini.j2     # Jinja2, relative to the project
      vars:
        port: 8080
        motd_sha: "${{ File.motd.sha256 }}"
    ```

    Set ``content`` or ``template``. A template is rendered at plan time once its vars are
    known (the plan shows the rendered content as ``$content``), else at apply; an undefined
    name in it is an error naming the template's file and line. Editing the template file
    plans an update. Outputs: ``path`` (absolute), ``sha256`` and ``size`` of the content.
    """

    name: ClassVar[str] = "File"
    spec_model = FileSpec
    outputs = ("path", "sha256", "size")
    immutable = frozenset({"path"})
    drivers = {"local": lambda: LocalFileDriver()}

    def sensitive_fields(self, inputs: Mapping[str, Any]) -> frozenset[str]:
        if not inputs.get("sensitive"):
            return frozenset()
        return frozenset({"content", "vars", RENDERED})

    def predict_outputs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        if inputs.get("template") is not None:
            rendered = inputs.get(RENDERED)
            if not isinstance(rendered, str):
                return {}
            data = rendered.encode()
        else:
            data = str(inputs.get("content") or "").encode()
        return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}

    def source_digest(self, inputs: Mapping[str, Any], project_dir: Path) -> str | None:
        texts = self.read_sources(inputs, project_dir)
        if texts is None:
            return None
        return hashlib.sha256(texts[str(inputs["template"])].encode()).hexdigest()

    def read_sources(
        self, inputs: Mapping[str, Any], project_dir: Path
    ) -> Mapping[str, str] | None:
        """The template file's text by its name (None: not templated)."""
        template = inputs.get("template")
        if not isinstance(template, str):
            return None
        return {template: read_template(project_dir, template)}

    def render_sources(
        self, inputs: Mapping[str, Any], texts: Mapping[str, str]
    ) -> dict[str, Any]:
        """``$content``: the template rendered with the vars, UNKNOWN while a var is."""
        template = str(inputs["template"])
        variables = inputs.get("vars") or {}
        if contains_unknown(variables):
            return {RENDERED: UNKNOWN}
        from stackwright.builtin.templates import render_template

        return {RENDERED: render_template(texts[template], template, variables)}


def read_template(project_dir: Path, template: str) -> str:
    """The text of a template file; a missing or unreadable one is a SpecError."""
    if "${{" in template:
        raise SpecError("the template must be a path written in the spec, not a reference",
                        field=TEMPLATE_FIELD,
                        hint="write the template's path; pass values through vars")
    try:
        return (project_dir / template).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"no template file at {template}", field=TEMPLATE_FIELD,
                        hint="spec.template is relative to the project") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read the template {template}: {exc}", field=TEMPLATE_FIELD,
                        hint="a template is a UTF-8 text file") from None


class LocalFileDriver(Driver):
    """Writes files atomically (temp file + rename) under the project directory; renders a
    template from the project at apply time (the same rendering the plan showed)."""

    def read(self, ctx: DriverContext, recorded: Recorded) -> Observed | None:
        path = ctx.resolve_path(str(recorded.inputs.get("path", "")))
        try:
            data = path.read_bytes()
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise PermanentError(f"cannot read {path}: {exc.strerror}") from exc
        key = RENDERED if recorded.inputs.get("template") is not None else "content"
        return Observed(
            inputs={key: data.decode(errors="replace"), "mode": f"{mode:04o}"},
            outputs=_outputs(path, data),
        )

    def create(self, ctx: DriverContext, inputs: Mapping[str, Any]) -> Applied:
        spec = FileSpec.model_validate(dict(inputs))
        path = ctx.resolve_path(spec.path)
        data = _content(ctx, spec).encode()
        _write_atomically(path, data, int(spec.mode, 8))
        return Applied(id=str(path), outputs=_outputs(path, data))

    def update(
        self, ctx: DriverContext, recorded: Recorded, inputs: Mapping[str, Any]
    ) -> Applied:
        return self.create(ctx, inputs)

    def delete(self, ctx: DriverContext, recorded: Recorded) -> None:
        path = ctx.resolve_path(str(recorded.inputs.get("path", "")))
        try:
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise PermanentError(f"cannot delete {path}: {exc.strerror}") from exc

    def import_(self, ctx: DriverContext, object_id: str) -> Imported:
        path = ctx.resolve_path(object_id)
        try:
            data = path.read_bytes()
            mode = path.stat().st_mode & 0o7777
        except OSError as exc:
            raise PermanentError(
                f"cannot import {path}: {exc.strerror}", hint="give the file's path as the ID"
            ) from exc
        rel = os.path.relpath(path, ctx.project_dir) if path.is_absolute() else object_id
        inputs = {"path": rel, "content": data.decode(errors="replace"), "mode": f"{mode:04o}"}
        return Imported(id=str(path), inputs=inputs, outputs=_outputs(path, data))


def _content(ctx: DriverContext, spec: FileSpec) -> str:
    if spec.template is None:
        return spec.content or ""
    from stackwright.builtin.templates import render_template

    try:
        text = read_template(ctx.project_dir, spec.template)
        return render_template(text, spec.template, spec.vars)
    except SpecError as exc:
        raise PermanentError(f"{exc.field}: {exc.message}", hint=exc.hint) from None


def _outputs(path: Path, data: bytes) -> dict[str, Any]:
    return {"path": str(path), "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.stackwright-tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            os.write(fd, data)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        raise PermanentError(
            f"cannot write {path}: {exc.strerror}", hint="check the directory and permissions"
        ) from exc


FILE_KIND = FileKind()
