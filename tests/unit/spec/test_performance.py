"""A 5,000-document project: the time is printed, not asserted (machines differ)."""

from __future__ import annotations

import time
from pathlib import Path

from stackwright.core.kinds import Kind
from stackwright.registry import Registry

from .helpers import load

DOCS = 5000
PER_FILE = 100


def _write_project(root: Path) -> None:
    root.joinpath("stackwright.yaml").write_text(
        "project: big\nvariables:\n  greeting: world\nenvironments:\n  dev: {}\n"
    )
    (root / "res").mkdir()
    for f in range(DOCS // PER_FILE):
        docs = [_document(i) for i in range(f * PER_FILE, (f + 1) * PER_FILE)]
        (root / "res" / f"part-{f:03}.yaml").write_text("---\n".join(docs))


def _document(i: int) -> str:
    head = "apiVersion: stackwright.dev/v1\n"
    if i % 2 == 0:
        return (
            f"{head}kind: Command\nmetadata:\n  name: cmd-{i}\n  labels: {{team: platform}}\n"
            f"spec:\n  create: echo ${{{{ var.greeting }}}} {i}\n  destroy: rm -f {i}\n"
            f"  triggers: {{n: '{i}'}}\n  timeout: 30\n"
        )
    return (
        f"{head}kind: File\nmetadata:\n  name: file-{i}\ndependsOn: [Command/cmd-{i - 1}]\n"
        f"spec:\n  path: out/{i}.txt\n  content: 'from ${{{{ Command.cmd-{i - 1}.stdout }}}}'\n"
        "  mode: '0644'\n"
    )


def test_five_thousand_documents(tmp_path: Path, kinds: Registry[Kind]) -> None:
    _write_project(tmp_path)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        project = load(tmp_path, kinds)
        best = min(best, time.perf_counter() - start)
    assert len(project.declared) == DOCS
    print(f"\nloaded and validated {DOCS} documents in {best:.3f}s (best of 3)")
