"""Containerfile rules, SARIF against the 2.1.0 schema, OSV version ranges."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from stackwright.policy import containerfile
from stackwright.policy.findings import Finding, Severity
from stackwright.policy.osv import compare_debian, compare_pypi, match
from stackwright.policy.sarif import SCHEMA_PATH, to_sarif
from stackwright.policy.sbom import Package


def rules(tmp_path: Path, text: str) -> list[tuple[str, int]]:
    path = tmp_path / "Containerfile"
    path.write_text(text)
    return sorted((f.rule, f.line) for f in containerfile.check(path, "Containerfile"))


def test_user_root_and_secret_in_env_are_flagged(tmp_path: Path) -> None:
    found = rules(tmp_path, "FROM debian:bookworm\n# the app\nENV MODE=prod \\\n"
                            "    API_TOKEN=abc123\nUSER root\nHEALTHCHECK CMD true\n")
    assert found == [("SW-CF-002", 5), ("SW-CF-003", 3)]


def test_latest_base_no_user_no_healthcheck_and_arg_secret(tmp_path: Path) -> None:
    found = rules(tmp_path, "FROM alpine\nARG DB_PASSWORD\nRUN true\n")
    assert found == [("SW-CF-001", 1), ("SW-CF-002", 1), ("SW-CF-003", 2), ("SW-CF-004", 1)]


def test_a_careful_containerfile_is_clean(tmp_path: Path) -> None:
    assert rules(tmp_path, "ARG BASE\nFROM debian:12 AS build\nFROM build\nFROM ${BASE}\n"
                           "ENV PORT=8080\nUSER 1000:1000\nHEALTHCHECK CMD true\n") == []


def schema_validator() -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(json.loads(SCHEMA_PATH.read_text()))


def test_sarif_validates_against_the_2_1_0_schema() -> None:
    findings = [Finding("SW-CF-002", Severity.HIGH, "root", "app/Containerfile", 4),
                Finding("SW-SECRET", Severity.CRITICAL, "token", "build.log", 1),
                Finding("CKV_K8S_1", Severity.MEDIUM, "k8s", "k8s/d.yaml", 0, tool="checkov")]
    doc = to_sarif(findings)
    schema_validator().validate(doc)
    assert [r["tool"]["driver"]["name"] for r in doc["runs"]] == ["checkov", "stackwright"]
    assert doc["runs"][1]["results"][0]["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 4}


def test_the_schema_rejects_a_broken_log() -> None:
    doc = to_sarif([Finding("X", Severity.LOW, "m", "f", 1)])
    doc["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        schema_validator().validate(doc)


@pytest.mark.parametrize(("a", "b", "sign"), [
    ("2.36-9+deb12u4", "2.36-9+deb12u10", -1), ("1:1.0-1", "2.0-1", 1),
    ("1.0~rc1-1", "1.0-1", -1), ("3.1.7-1", "3.1.7-1", 0), ("7.88.1-10+deb12u5", "7.88.1-10", 1),
])
def test_debian_versions_compare_as_dpkg_does(a: str, b: str, sign: int) -> None:
    assert compare_debian(a, b) == sign


def test_pypi_versions_compare_by_release() -> None:
    assert compare_pypi("1.10.0", "1.9") == 1
    assert compare_pypi("2.0rc1", "2.0") == -1
    assert compare_pypi("3.1", "3.1.0") == 0


def test_osv_ranges_and_versions_match() -> None:
    pkgs = [Package("Debian", "libc6", "2.36-9+deb12u4", "amd64", "glibc"),
            Package("PyPI", "PyYAML", "6.0.1")]
    feed = [
        {"id": "DSA-1", "summary": "glibc bug", "affected": [{
            "package": {"ecosystem": "Debian:12", "name": "glibc"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
                                                        {"fixed": "2.36-9+deb12u7"}]}]}],
         "database_specific": {"severity": "high"}},
        {"id": "PYSEC-1", "affected": [{"package": {"ecosystem": "PyPI", "name": "pyyaml"},
                                        "versions": ["6.0.1"]}]},
        {"id": "DSA-2", "affected": [{
            "package": {"ecosystem": "Debian", "name": "libc6"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
                                                        {"fixed": "2.36-9+deb12u1"}]}]}]},
    ]
    found = {(f.rule, f.severity) for f in match(pkgs, feed, "img")}
    assert found == {("DSA-1", Severity.HIGH), ("PYSEC-1", Severity.MEDIUM)}




def test_a_secret_scan_ending_in_another_thread_leaves_this_ones_plugins(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """detect-secrets keeps its settings (the plugins) in one global, and a scan leaving
    them puts back what it found when it began: two pipeline jobs scanning at once must not
    empty the later one's plugins (it found nothing when the first ended while it read)."""
    import threading

    from detect_secrets.core.secrets_collection import SecretsCollection

    from stackwright.policy.secretscan import scan_files

    token = "ghp_" + "abcdefghijklmnopqrstuvwxyz0123456789"
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    for path in (first, second):
        path.write_text(f"push {token} ok\n")
    later_inside, first_done = threading.Event(), threading.Event()
    real = SecretsCollection.scan_file
    later_found: list[list[Finding]] = []
    later = threading.Thread(target=lambda: later_found.append(scan_files([second], tmp_path)))

    def scan_file(self: SecretsCollection, filename: str) -> None:
        if filename == str(first):  # the later scan begins while this one is inside
            later.start()
            later_inside.wait(3)  # with the lock it cannot begin: it waits for this one
        else:
            later_inside.set()
            first_done.wait(3)  # the first scan ends while this one is inside
        real(self, filename)

    monkeypatch.setattr(SecretsCollection, "scan_file", scan_file)
    found = scan_files([first], tmp_path)
    first_done.set()
    later.join(30)
    assert [f.rule for f in found] == ["SW-SECRET"]
    assert [f.rule for f in later_found[0]] == ["SW-SECRET"], "the later scan kept its plugins"
