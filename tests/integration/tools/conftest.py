"""Real podman and HAProxy for the tools' integration tests.

Everything a test creates carries the labels of ``run_labels`` so the session finalizer can
remove leftovers; the busybox base image and the app image are tagged by their input hash and
kept between runs on purpose (an unchanged recipe is never rebuilt).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from tools_itest_support import free_port, wait_http, web_spec

from stackwright.tools.images import BuiltImage, app_image, busybox_rootfs_image
from stackwright.tools.podman import Podman, PodmanSettings, StackwrightLabels

APP_CMD = 'echo "$NAME" > /www/index.html && exec httpd -f -p 8080 -h /www'
CONTAINERFILE = """\
FROM {base}
RUN mkdir -p /www && echo ok > /www/healthz
CMD ["/bin/sh", "-c", "{cmd}"]
"""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Podman:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    return Podman(PodmanSettings(state_dir=tmp_path_factory.mktemp("podman")))


@pytest.fixture(scope="session")
def run_labels(podman: Podman) -> Iterator[StackwrightLabels]:
    labels = StackwrightLabels(project="sw-itest-tools", env=f"run{os.getpid()}")
    yield labels
    podman.remove_labelled(labels.as_dict())


@pytest.fixture(scope="session")
def base_image(podman: Podman) -> BuiltImage:
    cache = Path(os.environ.get("STACKWRIGHT_TEST_CACHE", "/var/tmp/stackwright-test-cache"))
    return busybox_rootfs_image(podman, cache_dir=cache)


@pytest.fixture(scope="session")
def app_context(tmp_path_factory: pytest.TempPathFactory, base_image: BuiltImage) -> Path:
    ctx = tmp_path_factory.mktemp("app")
    (ctx / "Containerfile").write_text(CONTAINERFILE.format(
        base=base_image.ref, cmd=APP_CMD.replace('"', '\\"')))
    return ctx


@pytest.fixture(scope="session")
def app(podman: Podman, app_context: Path) -> BuiltImage:
    return app_image(podman, "localhost/stackwright/itest-app", app_context)


def unused_subnet(podman: Podman) -> str:
    used = {s.subnet for n in podman.network_list() for s in n.subnets}
    for third in range(150, 250):
        if f"10.89.{third}.0/24" not in used:
            return f"10.89.{third}.0/24"
    raise RuntimeError("no free test subnet")


@pytest.fixture(scope="module")
def network(podman: Podman, run_labels: StackwrightLabels) -> Iterator[str]:
    name = f"sw-itest-net-{os.getpid()}"
    labels = StackwrightLabels(run_labels.project, run_labels.env, "net")
    podman.network_create(name, subnet=unused_subnet(podman), labels=labels.as_dict())
    yield name
    if podman.network_exists(name):
        podman.network_remove(name, force=True)  # removes containers still attached


@pytest.fixture(scope="module")
def web_servers(
    podman: Podman, app: BuiltImage, network: str, run_labels: StackwrightLabels
) -> Iterator[dict[str, int]]:
    """Two app containers on ``network``: name -> published port on 127.0.0.1."""
    servers = {f"sw-itest-{os.getpid()}-{i}": free_port() for i in ("a", "b")}
    try:
        for name, port in servers.items():
            podman.container_run(web_spec(name, app.ref, port, network, run_labels))
        for port in servers.values():
            wait_http(f"http://127.0.0.1:{port}/healthz")
        yield servers
    finally:
        for name in servers:
            if podman.container_exists(name):
                podman.container_remove(name, force=True)
