"""Secrets in a real podman image (its ENV and a config file) and in a pipeline log held in
memory: found with their place, never printed."""

from __future__ import annotations

import io
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.fixtures.cli import Project

from stackwright.policy.imagescan import scan_image
from stackwright.policy.secretscan import scan_text

GITHUB = "ghp_" + "abcdefghijklmnopqrstuvwxyz0123456789"
AWS = "AKIA" + "IOSFODNN7EXAMPLQ"


def _rootfs(path: Path) -> None:
    files = {"app/config.env": f"MODE=prod\nGITHUB_TOKEN={GITHUB}\n",
             "etc/motd": "hello\n", "app/README.txt": "nothing to see\n"}
    with tarfile.open(path, "w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def image(tmp_path: Path) -> Iterator[str]:
    ref = f"localhost/policy-imgscan-{uuid.uuid4().hex[:8]}:t1"
    _rootfs(tmp_path / "rootfs.tar")
    subprocess.run(["podman", "import", "--quiet", "--change", f"ENV AWS_ACCESS_KEY_ID={AWS}",
                    "--change", "WORKDIR /app", str(tmp_path / "rootfs.tar"), ref],
                   check=True, capture_output=True, timeout=300)
    try:
        yield ref
    finally:
        subprocess.run(["podman", "image", "rm", ref], capture_output=True, timeout=300)


@pytest.mark.slow
def test_secrets_in_an_image_config_and_files_are_found(image: str) -> None:
    found = scan_image(image)
    where = {(f.file, f.line, f.properties["type"]) for f in found}
    assert (f"{image} config:Env", 1, "AWS Access Key") in {
        (f.file, f.line, f.properties["type"]) for f in found if "config:Env" in f.file}
    assert ("app/config.env", 2, "GitHub Token") in where, where
    assert not any(f.file in ("etc/motd", "app/README.txt") for f in found)
    assert all(GITHUB not in f.message and AWS not in f.message for f in found)
    assert all(f.properties["image"] == image for f in found)


@pytest.mark.slow
def test_scan_image_option_through_the_cli(project: Project, image: str) -> None:
    result = project.run("scan", ".", "--image", image, "--no-checkov", "-o", "json",
                         timeout=300)
    assert result.code == 1, result.err
    files = {f["file"] for f in result.json()["findings"]}
    assert {"app/config.env", f"{image} config:Env"} <= files
    assert GITHUB not in result.out and AWS not in result.out


def test_a_pipeline_log_in_memory_is_scanned_with_its_line_numbers() -> None:
    log = f"step 1 ok\npushing with {GITHUB}\nexport AWS_ACCESS_KEY_ID={AWS}\ndone\n"
    found = scan_text(log, "pipelines/build#7/test.log", first_line=10)
    assert {(f.file, f.line, f.properties["type"]) for f in found} >= {
        ("pipelines/build#7/test.log", 11, "GitHub Token"),
        ("pipelines/build#7/test.log", 12, "AWS Access Key")}
    assert all(GITHUB not in f.message and AWS not in f.message for f in found)
    assert scan_text("all green\n3 passed\n", "clean.log") == []
