"""SBOMs of images: the packages really installed, read from the image's filesystem
(``podman image mount``), as CycloneDX 1.5 JSON.

- Debian packages: ``var/lib/dpkg/status`` (what debootstrap and apt installed);
- Python distributions: ``*.dist-info/METADATA`` and ``*.egg-info`` under every
  ``site-packages``/``dist-packages`` directory.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stackwright import __version__
from stackwright.errors import SpecError, TargetError

_PY_DIRS = ("usr/lib/python3*/*-packages", "usr/local/lib/python3*/*-packages",
            "usr/lib/python3/dist-packages", "opt/*/lib/python3*/site-packages")


@dataclass(frozen=True, order=True)
class Package:
    ecosystem: str  # "Debian" or "PyPI" (OSV's names)
    name: str
    version: str
    arch: str = ""
    source: str = ""

    @property
    def purl(self) -> str:
        if self.ecosystem == "Debian":
            arch = f"?arch={self.arch}" if self.arch else ""
            return f"pkg:deb/debian/{self.name}@{self.version}{arch}"
        return f"pkg:pypi/{normalize(self.name)}@{self.version}"


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def image_ref(opts: Any, image: str) -> str:
    """``Image/name`` or ``BaseImage/name``: the image the state records; else ``image``."""
    kind, sep, _ = image.partition("/")
    if not sep or kind not in ("Image", "BaseImage"):
        return image
    from stackwright.cli.main import engine
    from stackwright.core.model import Address

    eng = engine(opts)
    record = eng.snapshot().resources.get(Address.parse(image))
    eng.close()
    if record is None:
        raise SpecError(f"{image} is not in the state of {eng.name}/{eng.environment}",
                        hint="apply it first, or give an image reference")
    return str(record.outputs.get("image") or record.id)


def inventory(ref: str) -> list[Package]:
    """Every Debian and Python package in image ``ref``."""
    with mounted_image(ref) as root:
        return sorted({*read_dpkg(root), *read_python(root)})


@contextmanager
def mounted_image(ref: str) -> Iterator[Path]:
    """Image ``ref``'s filesystem (all its layers merged), read-only, through
    ``podman image mount``; unmounted afterwards."""
    from stackwright.tools.podman import Podman

    podman = Podman()
    try:
        root = Path(podman.call(["image", "mount", ref], f"mount image {ref}").stdout.strip())
    except TargetError as exc:
        raise TargetError(f"cannot read image {ref}: {exc.message}",
                          hint="is it a local image? see `podman images`") from exc
    try:
        yield root
    finally:
        podman.probe(["image", "unmount", ref])


def read_dpkg(root: Path) -> list[Package]:
    status = root / "var/lib/dpkg/status"
    if not status.is_file():
        return []
    out = []
    for para in status.read_text(errors="replace").split("\n\n"):
        fields = _fields(para)
        if fields.get("Status", "").endswith(" installed") and "Package" in fields:
            source = fields.get("Source", "").split(" ")[0]
            out.append(Package("Debian", fields["Package"], fields.get("Version", ""),
                               fields.get("Architecture", ""), source))
    return out


def read_python(root: Path) -> list[Package]:
    out = []
    for meta in _python_metadata(root):
        fields = _fields(meta.read_text(errors="replace").split("\n\n")[0])
        if "Name" in fields and "Version" in fields:
            out.append(Package("PyPI", fields["Name"], fields["Version"]))
    return out


def _python_metadata(root: Path) -> Iterator[Path]:
    for pattern in _PY_DIRS:
        for site in root.glob(pattern):
            for entry in sorted(site.iterdir()) if site.is_dir() else []:
                if entry.suffix == ".dist-info":
                    yield entry / "METADATA"
                elif entry.suffix == ".egg-info":
                    yield entry / "PKG-INFO" if entry.is_dir() else entry


def _fields(paragraph: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in paragraph.splitlines():
        if line[:1].isspace() or ":" not in line:
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def to_cyclonedx(ref: str, packages: list[Package]) -> dict[str, Any]:
    return {
        "bomFormat": "CycloneDX", "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{uuid.uuid4()}", "version": 1,
        "metadata": {
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
            "tools": {"components": [{"type": "application", "name": "stackwright",
                                      "version": __version__}]},
            "component": {"type": "container", "name": ref, "bom-ref": ref},
        },
        "components": [_component(p) for p in packages],
    }


def _component(p: Package) -> dict[str, Any]:
    props = [{"name": "stackwright:ecosystem", "value": p.ecosystem}]
    if p.source:
        props.append({"name": "stackwright:debian-source", "value": p.source})
    return {"type": "library", "bom-ref": p.purl, "name": p.name, "version": p.version,
            "purl": p.purl, "properties": props}


__all__ = ["Package", "image_ref", "inventory", "mounted_image", "read_dpkg", "read_python",
           "to_cyclonedx"]
