"""Real podman and HAProxy for canary and blue/green rollouts.

The app: busybox httpd serving ``/healthz`` (always 200) and a CGI at ``/cgi-bin/app`` that
answers 500 to a share ``ERROR_RATE`` (0 to 1) of requests, so a spec change of one
environment variable deploys a good or a bad revision. The image is tagged by its content
hash and kept between runs. Every container of the project carries its label; the finalizer
removes them and any HAProxy the project left running.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.fixtures.projects import short_project

from stackwright.tools.images import app_image, busybox_rootfs_image
from stackwright.tools.podman import Podman, PodmanSettings

CONTAINERFILE = """\
FROM {base}
COPY app /www/cgi-bin/app
RUN echo ok > /www/healthz && chmod 755 /www/cgi-bin/app
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
"""

CGI = """\
#!/bin/sh
if awk -v r="${ERROR_RATE:-0}" -v x="$RANDOM" 'BEGIN{exit !(x/32768 < r)}'; then
  printf 'Status: 500 Internal Server Error\\r\\nContent-Type: text/plain\\r\\n\\r\\nerror\\n'
else
  printf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' "${PAGE:-page}"
fi
"""


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Podman:
    if shutil.which("podman") is None or shutil.which("haproxy") is None:
        pytest.skip("podman and haproxy are needed")
    return Podman(PodmanSettings(state_dir=tmp_path_factory.mktemp("podman")))


@pytest.fixture(scope="session")
def image(podman: Podman, tmp_path_factory: pytest.TempPathFactory) -> str:
    cache = Path(os.environ.get("STACKWRIGHT_TEST_CACHE", "/var/tmp/stackwright-test-cache"))
    base = busybox_rootfs_image(podman, cache_dir=cache)
    ctx = tmp_path_factory.mktemp("delivery-app")
    (ctx / "Containerfile").write_text(CONTAINERFILE.format(base=base.ref))
    (ctx / "app").write_text(CGI)
    return app_image(podman, "localhost/stackwright/itest-delivery", ctx).ref


@pytest.fixture(scope="module")
def project_root(podman: Podman) -> Iterator[Path]:
    """A short path (HAProxy's unix sockets live under it) with a fresh project name."""
    with short_project(podman, "dlv", "swd") as root:
        yield root
