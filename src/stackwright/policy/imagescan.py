"""Secret detection in images: the image's configuration (``Env``, ``Labels``, ``Cmd``,
``Entrypoint``: what ``ENV``/``ARG``/``LABEL`` left in it) and its configuration-like files,
read from the image's filesystem through ``podman image mount``.

The filesystem is the merged view of every layer: a secret a later layer deletes is not seen
(``podman save`` of the layers would find it; not done yet). Files looked at: text files with
the suffixes ``scan`` reads (``.env``, ``.yaml``, ``.conf``, ...) or named like credentials,
under ``etc``, ``app``, ``srv``, ``opt``, ``home``, ``root``, ``usr/local/etc`` and the
image's working directory, at most ``MAX_FILES`` of them. Findings name the image, the file
(or ``config:Env``) and the line, never the value.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stackwright.policy.findings import Finding

ROOTS = ("etc", "app", "srv", "opt", "home", "root", "usr/local/etc")
SKIP = {"etc/ssl/certs", "etc/alternatives", "usr/share", "proc", "sys", "dev"}
NAMES = {".env", "credentials", "config", ".netrc", ".pgpass", ".npmrc", ".pypirc",
         ".git-credentials", "id_rsa", "id_ed25519", ".dockercfg"}
MAX_FILES = 2000
MAX_BYTES = 1_000_000
CONFIG_FIELDS = ("Env", "Labels", "Cmd", "Entrypoint")


def scan_image(ref: str) -> list[Finding]:
    """Every secret in image ``ref``: its config, then its files."""
    from stackwright.policy.sbom import mounted_image

    config = image_config(ref)
    findings = scan_config(ref, config)
    with mounted_image(ref) as root:
        findings.extend(scan_tree(ref, root, workdir=str(config.get("WorkingDir") or "")))
    return findings


def image_config(ref: str) -> dict[str, Any]:
    """The image's ``Config`` (``podman image inspect``)."""
    from stackwright.tools.podman import Podman

    out = Podman().call(["image", "inspect", ref], f"image inspect {ref}").stdout
    doc = json.loads(out)
    first = doc[0] if isinstance(doc, list) and doc else {}
    config = first.get("Config") or {}
    return dict(config) if isinstance(config, dict) else {}


def scan_config(ref: str, config: dict[str, Any]) -> list[Finding]:
    """Secrets in the config: one line per ``Env`` entry, label, and command word."""
    from stackwright.policy.secretscan import scan_text

    out: list[Finding] = []
    for field in CONFIG_FIELDS:
        lines = _config_lines(config.get(field))
        if lines:
            out.extend(_in_image(f, ref) for f in scan_text("\n".join(lines) + "\n",
                                                              f"{ref} config:{field}"))
    return out


def _config_lines(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [f"{k}={v}" for k, v in sorted(value.items())]
    if isinstance(value, list):
        return [str(v).replace("\n", " ") for v in value]
    return []


def scan_tree(ref: str, root: Path, *, workdir: str = "") -> list[Finding]:
    """Secrets in the configuration-like files under the image's filesystem ``root``."""
    from stackwright.policy.secretscan import scan_files

    files = list(_candidates(root, workdir))
    return [_in_image(f, ref) for f in scan_files(files, root)]


def _candidates(root: Path, workdir: str) -> Iterator[Path]:
    from stackwright.policy.scan import TEXT_SUFFIXES

    seen: set[Path] = set()
    tops = [*ROOTS, workdir.strip("/")] if workdir.strip("/") else list(ROOTS)
    for top in dict.fromkeys(tops):
        for path in _walk(root, root / top):
            if len(seen) >= MAX_FILES:
                return
            if path in seen:
                continue
            if path.suffix in TEXT_SUFFIXES or path.name in NAMES:
                seen.add(path)
                yield path


def _walk(root: Path, top: Path) -> Iterator[Path]:
    if top.is_symlink() or not top.is_dir():
        return
    try:
        entries = sorted(top.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.is_symlink() or str(entry.relative_to(root)) in SKIP:
            continue
        if entry.is_dir():
            yield from _walk(root, entry)
        elif entry.is_file() and entry.stat().st_size <= MAX_BYTES:
            yield entry


def _in_image(f: Finding, ref: str) -> Finding:
    return Finding(f.rule, f.severity, f"{f.message} (in image {ref})", f.file, f.line,
                   f.tool, "Secret in an image", {**f.properties, "image": ref})


__all__ = ["image_config", "scan_config", "scan_image", "scan_tree"]
