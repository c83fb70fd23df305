"""The ``File`` kind: a file on the machine Stackwright runs on, kept as the spec says."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator

from stackwright.core.kinds import Driver, DriverContext, Kind, SpecModel
from stackwright.core.model import Applied, Imported, Observed, Recorded
from stackwright.errors import PermanentError

_MODE = re.compile(r"^0?[0-7]{3,4}$")


class FileSpec(SpecModel):
    path: str = Field(min_length=1, description="Path of the file, relative to the project.")
    content: str = Field("", description="What the file holds (UTF-8).")
    mode: str = Field("0644", description="Permission bits, octal, as a string.")
    sensitive: bool = Field(False, description="Treat the content as a secret.")

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

    Outputs: ``path`` (absolute), ``sha256`` and ``size`` of the content.
    """

    name: ClassVar[str] = "File"
    spec_model = FileSpec
    outputs = ("path", "sha256", "size")
    immutable = frozenset({"path"})
    drivers = {"local": lambda: LocalFileDriver()}

    def sensitive_fields(self, inputs: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({"content"}) if inputs.get("sensitive") else frozenset()

    def predict_outputs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        data = str(inputs.get("content", "")).encode()
        return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


class LocalFileDriver(Driver):
    """Writes files atomically (temp file + rename) under the project directory."""

    def read(self, ctx: DriverContext, recorded: Recorded) -> Observed | None:
        path = ctx.resolve_path(str(recorded.inputs.get("path", "")))
        try:
            data = path.read_bytes()
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise PermanentError(f"cannot read {path}: {exc.strerror}") from exc
        return Observed(
            inputs={"content": data.decode(errors="replace"), "mode": f"{mode:04o}"},
            outputs=_outputs(path, data),
        )

    def create(self, ctx: DriverContext, inputs: Mapping[str, Any]) -> Applied:
        spec = FileSpec.model_validate(dict(inputs))
        path = ctx.resolve_path(spec.path)
        data = spec.content.encode()
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
