"""The SBOM of every image Stackwright builds is kept by the build hook, and the severity gate
of the environment refuses a plan that touches an image with a known vulnerability."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from tests.fixtures.cli import Project
from tests.fixtures.podman_cleanup import remove_images

from stackwright.core.kinds import DriverContext
from stackwright.core.model import Address
from stackwright.policy.imagegate import image_built, sbom_path
from stackwright.tools.images import BuiltImage

pytestmark = pytest.mark.slow

SPEC = """
apiVersion: stackwright.dev/v1
kind: BaseImage
metadata: {name: base}
spec: {busybox: {}}
---
apiVersion: stackwright.dev/v1
kind: Image
metadata: {name: app}
spec:
  context: app
  buildArgs: {BASE: "${{ BaseImage.base.image }}"}
---
apiVersion: stackwright.dev/v1
kind: Policy
metadata: {name: vulnerabilities}
spec:
  enforcement: {prod: hard-mandatory, "*": advisory}
  params: {vulnerabilities: {feed: osv.json, failOn: {prod: high, "*": critical}}}
"""
METADATA = "Metadata-Version: 2.1\nName: demo-lib\nVersion: 1.2.0\n"
FEED = [{"id": "OSV-TEST-DEMO", "summary": "crafted demo-lib advisory",
         "affected": [{"package": {"ecosystem": "PyPI", "name": "demo_lib"},
                       "ranges": [{"type": "ECOSYSTEM", "events": [
                           {"introduced": "1.0"}, {"fixed": "1.3.0"}]}]}],
         "database_specific": {"severity": "HIGH"}}]


def test_build_keeps_the_sbom_and_prod_refuses_a_vulnerable_image(project: Project) -> None:
    name = f"imgate{uuid.uuid4().hex[:8]}"
    project.write("stackwright.yaml", f"project: {name}\nenvironments: {{dev: {{}}, prod: {{}}}}\n")
    project.write("main.yaml", SPEC)
    project.write("osv.json", json.dumps(FEED))
    project.write("app/Containerfile", "ARG BASE\nFROM ${BASE}\n"
                  "COPY demo_lib-1.2.0.dist-info /usr/local/lib/python3.11/site-packages/"
                  "demo_lib-1.2.0.dist-info\n")
    project.write("app/demo_lib-1.2.0.dist-info/METADATA", METADATA)
    try:
        first = project.run("--env", "prod", "apply", "--yes", timeout=600)
        assert first.code == 0, first.out + first.err  # no SBOM yet when it was planned
        kept = project.root / ".stackwright/sbom/prod/Image-app.json"
        doc = json.loads(kept.read_text())
        assert doc["bomFormat"] == "CycloneDX"
        assert "pkg:pypi/demo-lib@1.2.0" in {c["purl"] for c in doc["components"]}
        assert (project.root / ".stackwright/sbom/prod/BaseImage-base.json").is_file()

        project.write("app/page.txt", "a change that rebuilds the image\n")
        project.write("app/Containerfile", "ARG BASE\nFROM ${BASE}\nCOPY page.txt /page.txt\n"
                      "COPY demo_lib-1.2.0.dist-info /usr/local/lib/python3.11/site-packages/"
                      "demo_lib-1.2.0.dist-info\n")
        plan = project.run("--env", "prod", "plan", "-o", "json", timeout=300)
        checks = plan.json()["checks"]
        assert [(c["level"], c["address"]) for c in checks] == [("deny", "Image/app")], checks
        assert "OSV-TEST-DEMO" in checks[0]["message"]
        refused = project.run("--env", "prod", "apply", "--yes", timeout=300)
        assert refused.code != 0 and "OSV-TEST-DEMO" in refused.out + refused.err
        # dev has built nothing yet (no SBOM there) and would gate at critical only
        dev = project.run("--env", "dev", "plan", "-o", "json", timeout=300)
        assert dev.code == 0 and dev.json()["checks"] == [], dev.out
    finally:
        for env in ("prod", "dev"):
            project.run("--env", env, "destroy", "--yes", timeout=300)
        remove_images(f"localhost/{name}/*")
        remove_images(f"localhost/stackwright/{name}-*")


def test_an_image_that_cannot_be_read_is_logged_and_the_build_stands(tmp_path: Path) -> None:
    lines: list[str] = []
    ctx = DriverContext(project_dir=tmp_path, environment="dev", log=lines.append)
    missing = f"localhost/policy-imgate-{uuid.uuid4().hex[:8]}:nope"
    image_built(ctx, Address("Image", "app"), BuiltImage(missing, "sha256:0", built=True))
    assert not sbom_path(tmp_path, "dev", Address("Image", "app")).exists()
    assert len(lines) == 1 and lines[0].startswith(f"no SBOM of {missing}: "), lines
