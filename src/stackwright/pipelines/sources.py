"""Where a pipeline's definition comes from: a file in the project, or the pipeline file of
an application repository at a commit; and the post-receive hook of a local bare repo."""

from __future__ import annotations

import shlex
import sys
import tempfile
from pathlib import Path

from stackwright.errors import SpecError, SpecErrors
from stackwright.pipelines.kind import PipelineSpec
from stackwright.pipelines.loader import PIPELINES_DIR, LoadedPipeline, load_file
from stackwright.pipelines.steps import repo_address
from stackwright.tools.git import Git


def mirrors_dir(project_dir: Path, environment: str) -> Path:
    return project_dir / ".stackwright" / "pipelines" / environment / "mirrors"


def repo_file(name: str, spec: PipelineSpec) -> str:
    return str(PIPELINES_DIR / (spec.file or f"{name}.yaml"))


def load_declared(project_dir: Path, environment: str, name: str, spec: PipelineSpec,
                  sha: str | None = None) -> LoadedPipeline:
    """The definition of a declared Pipeline: its project file, or its repo's file at
    ``sha`` (default: the head of ``spec.branch``)."""
    if spec.repo is None:
        return load_file(project_dir / repo_file(name, spec), name)
    address = repo_address(spec.repo, project_dir)
    git = Git()
    if sha is None:
        sha = git.resolve(address, spec.branch)[1]
    rel = repo_file(name, spec)
    try:
        text = git.show(address, sha, rel, mirrors_dir(project_dir, environment))
    except Exception as exc:  # a missing file, an unreachable repo: a spec problem to show
        raise SpecErrors([SpecError(f"cannot read {rel} at {sha[:12]} of {address}: {exc}",
                                    hint="commit the pipeline file to the repository")]) \
            from exc
    loaded = _load_text(text, f"{address}@{sha[:12]}:{rel}", name)
    if loaded.definition.repo is not None:
        return loaded
    definition = loaded.definition.model_copy(update={"repo": spec.repo})
    return LoadedPipeline(name, definition, loaded.file)


def _load_text(text: str, label: str, name: str) -> LoadedPipeline:
    """Parse text read from git; errors name the repo, commit and file as their file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pipeline.yaml"
        path.write_text(text)
        try:
            loaded = load_file(path, name)
        except SpecErrors as exc:
            for error in exc.errors:
                if error.location is not None:
                    error.location = type(error.location)(label, error.location.line,
                                                           error.location.col)
            raise
    return LoadedPipeline(name, loaded.definition, label)


HOOK = """#!/bin/sh
# stackwright: runs pipeline {name} of {project} for each pushed branch or tag.
unset GIT_DIR GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
while read old new ref; do
  [ "$new" = "0000000000000000000000000000000000000000" ] && continue
  {python} -m stackwright -C {project} --env {env} pipeline run {name} --ref "$ref" \\
    --sha "$new" --trigger push --detach >/dev/null 2>&1 </dev/null &
done
exit 0
"""


def install_hook(project_dir: Path, environment: str, name: str, spec: PipelineSpec) -> str:
    """Write the post-receive hook of a local bare repository; returns its path."""
    address = Path(repo_address(str(spec.repo), project_dir))
    if not address.is_dir() or not Git().is_bare(address):
        raise SpecErrors([SpecError(f"hook: {address} is not a local bare repository",
                                    field="spec.hook",
                                    hint="hooks need a bare repo on this machine; "
                                    "other repos are polled (on.push)")])
    hook = address / "hooks" / "post-receive"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(HOOK.format(name=name, project=shlex.quote(str(project_dir.resolve())),
                                env=shlex.quote(environment), python=shlex.quote(sys.executable)))
    hook.chmod(0o755)
    return str(hook)
