"""The built-in ``uses`` steps: checkout, build-image, deploy, test-report.

```yaml
- uses: checkout                      # the run's commit of the pipeline's repo
- uses: build-image                   # podman build; outputs image (pinned by digest), id
  with: {image: localhost/shop/web, context: ., containerfile: Containerfile}
- uses: deploy                        # plan + apply of the platform for an environment
  with:
    environment: staging
    project: ../platform              # the platform project (default: the pipeline's own)
    variables: {image: "${{ needs.build.outputs.image }}"}
- uses: test-report                   # JUnit XML into the run's test summary
  with: {junit: "reports/*.xml", failOnFailure: true}
```
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackwright.errors import StackwrightError
from stackwright.pipelines.procs import stream_stoppable
from stackwright.tools.git import Git

if TYPE_CHECKING:
    from stackwright.pipelines.jobexec import JobExecution

StepFn = Callable[[Mapping[str, Any], "JobExecution"], int]


def run(uses: str, inputs: Mapping[str, Any], job: JobExecution) -> int:
    return STEPS[uses](inputs, job)


def repo_address(repo: str, project_dir: Path) -> str:
    """A repository path relative to the project, or a URL as written."""
    if "://" in repo or repo.startswith("git@"):
        return repo
    path = Path(repo)
    return str(path if path.is_absolute() else (project_dir / path).resolve())


def checkout(inputs: Mapping[str, Any], job: JobExecution) -> int:
    repo = inputs.get("repo") or job.env.definition.repo
    sha = str(inputs.get("ref") or job.env.run["sha"])
    if not repo or not sha:
        raise StackwrightError("checkout needs a repository and a commit",
                               hint="set repo: on the pipeline (a path or git URL)")
    address = repo_address(str(repo), job.env.project_dir)
    job.log(f"[stackwright] checkout {address} at {sha[:12]}")
    Git().checkout(address, sha, job.workspace)
    return 0


def build_image(inputs: Mapping[str, Any], job: JobExecution) -> int:
    image = str(inputs.get("image") or "")
    if not image:
        raise StackwrightError("build-image needs with.image (e.g. localhost/shop/web)")
    tag = str(inputs.get("tag") or job.env.run["sha"][:12] or job.env.run["id"])
    context = (job.workspace / str(inputs.get("context", "."))).resolve()
    containerfile = inputs.get("containerfile")
    ref = f"{image}:{tag}"
    podman = job.env.podman
    image_id = podman.image_build(
        context, ref, containerfile=context / str(containerfile) if containerfile else None,
        labels={**job.env.labels, "dev.stackwright.pipeline-run": job.env.run["id"]},
        on_line=job.log)
    digest = podman.call(["image", "inspect", "--format", "{{.Digest}}", ref],
                         f"inspect {ref}").stdout.strip()
    pinned = f"{image}@{digest}" if digest.startswith("sha256:") else ref
    job.set_output("image", pinned)
    job.set_output("tag", ref)
    job.set_output("id", image_id)
    job.log(f"[stackwright] built {ref} ({pinned})")
    return 0


def deploy(inputs: Mapping[str, Any], job: JobExecution) -> int:
    environment = str(inputs.get("environment") or job.job.environment or "")
    if not environment:
        raise StackwrightError("deploy needs with.environment (or the job's environment)")
    project = Path(str(inputs.get("project", ".")))
    project = project if project.is_absolute() else job.env.project_dir / project
    variables = dict(inputs.get("variables") or {})
    argv = [sys.executable, "-m", "stackwright", "-C", str(project.resolve()), "--env",
            environment, "--color", "never", "apply", "--yes"]
    argv += [a for k, v in sorted(variables.items()) for a in ("--var", f"{k}={v}")]
    job.log(f"[stackwright] deploy to {environment}: " + " ".join(
        f"{k}={v}" for k, v in sorted(variables.items())))
    code = stream_stoppable(argv, job.log, stop=job.stop_reason)
    if code != 0:
        job.log(f"[stackwright] deploy to {environment} failed (apply exited {code})")
    return code


def test_report(inputs: Mapping[str, Any], job: JobExecution) -> int:
    patterns = inputs.get("junit") or []
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    summary = job.report_tests(patterns)
    if summary is None:
        job.log(f"[stackwright] no JUnit report matches {', '.join(patterns)}")
        return 1
    failing = summary["failures"] + summary["errors"]
    return 1 if failing and inputs.get("failOnFailure", True) else 0


STEPS: dict[str, StepFn] = {"checkout": checkout, "build-image": build_image,
                            "deploy": deploy, "test-report": test_report}
