"""``stackwright init``: a small, valid project to start from."""

from __future__ import annotations

from pathlib import Path

from stackwright.core.spec.config import CONFIG_FILE, PROJECT_NAME
from stackwright.errors import SpecError

_CONFIG = """\
# The project: its variables and environments. Resources live in the other *.yaml files.
project: {name}
defaultEnvironment: dev
variables:
  greeting: world
environments:
  dev:
    variables:
      greeting: dev
  prod:
    variables:
      greeting: prod
    overrides:
      File/motd:
        spec:
          mode: "0600"
"""

_MAIN = """\
# Two resources: a command that prepares a directory, and a file written into it.
apiVersion: stackwright.dev/v1
kind: Command
metadata:
  name: setup
spec:
  create: mkdir -p out
  destroy: rm -rf out
  triggers:
    greeting: "${{ var.greeting }}"
---
apiVersion: stackwright.dev/v1
kind: File
metadata:
  name: motd
  labels:
    team: platform
dependsOn:
  - Command/setup
spec:
  path: out/motd.txt
  content: "hello from ${{ var.greeting }} in ${{ env.name }}\\n"
  mode: "0644"
"""


def scaffold(root: Path, name: str) -> list[Path]:
    """Write a new project into ``root``; refuses to overwrite any file."""
    if not PROJECT_NAME.fullmatch(name):
        hint = "use lowercase letters, digits and '-'"
        raise SpecError(f"invalid project name {name!r}", hint=hint)
    files = {root / CONFIG_FILE: _CONFIG.format(name=name), root / "main.yaml": _MAIN}
    existing = [p for p in files if p.exists()]
    if existing:
        raise SpecError(
            f"{existing[0]} already exists",
            hint="choose an empty directory; nothing was written",
        )
    root.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    return list(files)
