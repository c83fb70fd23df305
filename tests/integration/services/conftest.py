"""Real podman and HAProxy for the Service and LoadBalancer kinds.

Images: a busybox base and three app images (v1, v2, and a "bad" one without /healthz),
tagged by their content hash and kept between runs (an unchanged recipe is never rebuilt).
Every container a test project starts carries the project's label; the finalizer removes
them and any HAProxy the project left running.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.fixtures.podman_cleanup import remove_project_objects

from stackwright.tools.images import BuiltImage, app_image, busybox_rootfs_image
from stackwright.tools.podman import Podman, PodmanSettings

CONTAINERFILE = """\
FROM {base}
RUN mkdir -p /www && echo {page} > /www/index.html {health}
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
"""


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Podman:
    if shutil.which("podman") is None or shutil.which("haproxy") is None:
        pytest.skip("podman and haproxy are needed")
    return Podman(PodmanSettings(state_dir=tmp_path_factory.mktemp("podman")))


def _app(podman: Podman, base: BuiltImage, root: Path, page: str, healthy: bool) -> BuiltImage:
    ctx = root / page
    ctx.mkdir()
    health = "&& echo ok > /www/healthz" if healthy else ""
    (ctx / "Containerfile").write_text(CONTAINERFILE.format(base=base.ref, page=page,
                                                            health=health))
    return app_image(podman, "localhost/stackwright/itest-svc", ctx)


@pytest.fixture(scope="session")
def images(podman: Podman, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    cache = Path(os.environ.get("STACKWRIGHT_TEST_CACHE", "/var/tmp/stackwright-test-cache"))
    base = busybox_rootfs_image(podman, cache_dir=cache)
    root = tmp_path_factory.mktemp("apps")
    return {page: _app(podman, base, root, page, page != "bad").ref
            for page in ("v1", "v2", "bad")}


@pytest.fixture(scope="module")
def project_root(podman: Podman) -> Iterator[Path]:
    """A short path (HAProxy's unix sockets live under it) with a fresh project name."""
    root = Path(tempfile.mkdtemp(prefix="sw", dir="/tmp"))
    name = f"s{uuid.uuid4().hex[:6]}"
    (root / "stackwright.yaml").write_text(f"project: {name}\nenvironments: {{dev: {{}}}}\n")
    keys = root.parent / f"{root.name}-keys"
    old = os.environ.get("STACKWRIGHT_KEY_DIR")
    os.environ["STACKWRIGHT_KEY_DIR"] = str(keys)
    try:
        yield root
    finally:
        if old is None:
            os.environ.pop("STACKWRIGHT_KEY_DIR", None)
        else:
            os.environ["STACKWRIGHT_KEY_DIR"] = old
        remove_project_objects(name, root)
        for pid_file in root.glob(".stackwright/run/*/haproxy/*/haproxy.pid"):
            try:
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(keys, ignore_errors=True)
