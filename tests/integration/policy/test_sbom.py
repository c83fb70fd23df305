"""The SBOM of the quickstart example's app image (FROM its debootstrap Python base), built on
real podman: its real Debian and Python packages, and a crafted OSV feed that matches one."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import jsonschema
import pytest
from tests.fixtures.cli import Project
from tests.fixtures.podman_cleanup import remove_images

from stackwright.policy.sarif import SCHEMA_PATH

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).parents[3] / "examples" / "quickstart"
SPEC = """
apiVersion: stackwright.dev/v1
kind: BaseImage
metadata: {name: python}
spec:
  debian:
    release: bookworm
    packages: [python3, python3-psycopg, python3-redis, python3-prometheus-client]
    cmd: [python3]
---
apiVersion: stackwright.dev/v1
kind: Image
metadata: {name: app}
spec:
  context: app
  buildArgs: {BASE: "${{ BaseImage.python.image }}"}
---
apiVersion: stackwright.dev/v1
kind: Policy
metadata: {name: vulnerabilities}
spec:
  params: {vulnerabilities: {failOn: {prod: medium, "*": none}}}
"""


def test_sbom_of_the_example_image_lists_its_real_packages(project: Project) -> None:
    name = f"sbom{uuid.uuid4().hex[:8]}"
    project.write("stackwright.yaml",
                  f"project: {name}\nenvironments: {{dev: {{}}, prod: {{}}}}\n")
    project.write("main.yaml", SPEC)
    shutil.copytree(EXAMPLE / "app", project.root / "app")
    try:
        built = project.run("apply", "--yes", timeout=900)
        assert built.code == 0, built.out + built.err
        sbom = project.run("sbom", "Image/app", "--out", "bom.json", "-o", "json", timeout=300)
        assert sbom.code == 0, sbom.err
        doc = json.loads((project.root / "bom.json").read_text())
        assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.5"
        comps = {(c["purl"].split(":")[1].split("/")[0], c["name"]): c["version"]
                 for c in doc["components"]}
        for deb in ("libc6", "python3", "python3-psycopg", "python3-redis", "dpkg"):
            assert ("deb", deb) in comps, deb
        py = {n.lower() for kind, n in comps if kind == "pypi"}
        assert {"psycopg", "redis", "prometheus-client"} <= {p.replace("_", "-") for p in py}
        libc = comps[("deb", "libc6")]
        psycopg = next(v for (k, n), v in comps.items() if k == "pypi" and n.lower() == "psycopg")

        feed = [{"id": "OSV-TEST-GLIBC", "summary": "crafted glibc advisory",
                 "affected": [{"package": {"ecosystem": "Debian:12", "name": "glibc"},
                               "ranges": [{"type": "ECOSYSTEM", "events": [
                                   {"introduced": "0"}, {"fixed": libc + "+sw1"}]}]}],
                 "database_specific": {"severity": "CRITICAL"}},
                {"id": "OSV-TEST-PSYCOPG", "summary": "crafted psycopg advisory",
                 "affected": [{"package": {"ecosystem": "PyPI", "name": "psycopg"},
                               "versions": [psycopg]}]},
                {"id": "OSV-TEST-NOT-HERE", "affected": [{"package": {
                    "ecosystem": "PyPI", "name": "not-installed"}, "versions": ["1.0"]}]}]
        project.write("osv.json", json.dumps(feed))
        gate = project.run("sbom", "Image/app", "--osv", "osv.json", "--sarif", "vulns.sarif",
                           "--fail-on", "high", "-o", "json", timeout=300)
        assert gate.code == 1 and "findings" in gate.json(), gate.out + gate.err
        found = {(f["rule"], f["properties"]["package"], f["severity"])
                 for f in gate.json()["findings"]}
        assert {r for r, _, _ in found} == {"OSV-TEST-GLIBC", "OSV-TEST-PSYCOPG"}
        assert ("OSV-TEST-GLIBC", "libc6", "critical") in found  # by its source package
        assert any(r == "OSV-TEST-PSYCOPG" and p.lower() == "psycopg" for r, p, _ in found)
        sarif = json.loads((project.root / "vulns.sarif").read_text())
        jsonschema.Draft4Validator(json.loads(SCHEMA_PATH.read_text())).validate(sarif)
        lenient = project.run("sbom", "Image/app", "--osv", "osv.json", "--fail-on",
                              "critical", timeout=300)
        assert lenient.code == 1
        assert project.run("sbom", "Image/app", "--osv", "osv.json", "--fail-on", "none",
                           timeout=300).code == 0
        ref = doc["metadata"]["component"]["name"]
        only_psycopg = json.dumps([feed[1]])  # medium
        project.write("osv.json", only_psycopg)
        assert project.run("sbom", ref, "--osv", "osv.json", timeout=300).code == 0  # dev: none
        gated = project.run("--env", "prod", "sbom", ref, "--osv", "osv.json", timeout=300)
        assert gated.code == 1, gated.out + gated.err  # prod: medium and above
    finally:
        project.run("destroy", "--yes", timeout=300)
        remove_images(f"localhost/stackwright/{name}-*")
