"""`stackwright scan` runs the real Checkov (from .venv-checkov, `make setup`) on a Terraform
file and a Kubernetes manifest it flags, its findings merged with Stackwright's own."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from tests.fixtures.cli import Project

from stackwright.policy.sarif import SCHEMA_PATH
from stackwright.policy.scan import CHECKOV_ENV, find_checkov

CHECKOV, TRIED = find_checkov(Path("."))
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHECKOV is None, reason=f"Checkov is not installed ({TRIED})")]

TERRAFORM = """\
resource "aws_security_group" "open" {
  name = "open"
  ingress {
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}
"""
MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      hostNetwork: true
      containers:
        - name: web
          image: nginx:latest
          securityContext: {privileged: true}
"""


def test_checkov_findings_are_merged_with_their_ids_into_json_and_sarif(
        project: Project) -> None:
    project.write("iac/infra/main.tf", TERRAFORM)
    project.write("iac/k8s/deploy.yaml", MANIFEST)
    project.write("iac/app/Containerfile", "FROM debian:bookworm\nUSER root\n"
                                           "HEALTHCHECK CMD true\n")
    result = project.run("scan", "iac", "--sarif", "out.sarif", "--fail-on", "medium",
                         "-o", "json", timeout=600)
    assert result.code == 1, result.err
    doc = result.json()
    assert "findings" in doc, result.out
    checkov = {(f["rule"], f["file"]) for f in doc["findings"] if f["tool"] == "checkov"}
    assert {("CKV_AWS_24", "infra/main.tf"), ("CKV_K8S_16", "k8s/deploy.yaml"),
            ("CKV_K8S_19", "k8s/deploy.yaml"), ("CKV_K8S_14", "k8s/deploy.yaml")} <= checkov
    assert ("SW-CF-002", "app/Containerfile") in {(f["rule"], f["file"])
                                                  for f in doc["findings"]}
    assert not any("Checkov" in n for n in doc["notes"]), doc["notes"]
    sarif = json.loads((project.root / "out.sarif").read_text())
    jsonschema.Draft4Validator(json.loads(SCHEMA_PATH.read_text())).validate(sarif)
    runs = {r["tool"]["driver"]["name"]: r for r in sarif["runs"]}
    assert "CKV_AWS_24" in {res["ruleId"] for res in runs["checkov"]["results"]}


def test_a_configured_checkov_that_is_missing_is_a_note(project: Project) -> None:
    project.write("infra/main.tf", TERRAFORM)
    project.env[CHECKOV_ENV] = str(project.root / "no-such-checkov")
    project.env["PATH"] = "/usr/bin:/bin"
    result = project.run("scan", ".", "--fail-on", "none", "-o", "json", timeout=300)
    assert result.code == 0, result.err
    doc = result.json()
    assert not [f for f in doc["findings"] if f["tool"] == "checkov"]
    assert any("Checkov is not installed" in n for n in doc["notes"]), doc["notes"]
