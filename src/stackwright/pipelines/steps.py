"""The built-in ``uses`` steps: checkout, build-image, test-report here, deploy in
:mod:`.deploy_step`; each registered through ``stackwright.pipeline_steps`` as other
domains' steps are (``scan``: :mod:`stackwright.policy.pipeline_step`).

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

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackwright.errors import StackwrightError
from stackwright.pipelines.step_api import PipelineStep, load_step
from stackwright.tools.git import Git

if TYPE_CHECKING:
    from stackwright.pipelines.jobexec import JobExecution


def run(uses: str, inputs: Mapping[str, Any], job: JobExecution) -> int:
    """Run the ``uses`` step registered under that name (see :mod:`.step_api`)."""
    return load_step(uses).run(inputs, job)


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


def test_report(inputs: Mapping[str, Any], job: JobExecution) -> int:
    patterns = inputs.get("junit") or []
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    summary = job.report_tests(patterns)
    if summary is None:
        job.log(f"[stackwright] no JUnit report matches {', '.join(patterns)}")
        return 1
    failing = summary["failures"] + summary["errors"]
    return 1 if failing and inputs.get("failOnFailure", True) else 0


CHECKOUT_STEP = PipelineStep("checkout", "the run's commit of the pipeline's repo", checkout)
BUILD_IMAGE_STEP = PipelineStep("build-image", "podman build; outputs image (by digest)",
                                build_image)
TEST_REPORT_STEP = PipelineStep("test-report", "JUnit XML into the run's test summary",
                                test_report)
