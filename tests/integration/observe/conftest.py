"""Real podman, HAProxy, Prometheus, Alertmanager and node_exporter for the observe domain.

The app image is busybox httpd: ``/metrics`` (a static exposition), ``/healthz`` and a CGI
``/cgi-bin/api`` that answers 500 while ``/tmp/fail`` exists in the replica (the tests
switch it with ``podman exec``). Every container a test project starts carries the
project's label; the finalizer removes them and any HAProxy the project left running.
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

from stackwright.tools.images import app_image, busybox_rootfs_image
from stackwright.tools.podman import Podman, PodmanSettings, StackwrightLabels

CONTAINERFILE = """\
FROM {base}
COPY www /www
RUN chmod +x /www/cgi-bin/api
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
"""
API = """#!/bin/sh
if [ -f /tmp/fail ]; then
  printf 'Status: 500 Internal Server Error\\r\\nContent-Type: text/plain\\r\\n\\r\\nfailing\\n'
else
  printf 'Content-Type: text/plain\\r\\n\\r\\nok\\n'
fi
"""
METRICS = "# TYPE obs_app_info gauge\nobs_app_info{version=\"1\"} 1\n"


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Podman:
    for tool in ("podman", "haproxy", "prometheus", "prometheus-alertmanager", "promtool"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is needed")
    return Podman(PodmanSettings(state_dir=tmp_path_factory.mktemp("podman")))


@pytest.fixture(scope="session")
def app_ref(podman: Podman, tmp_path_factory: pytest.TempPathFactory) -> str:
    cache = Path(os.environ.get("STACKWRIGHT_TEST_CACHE", "/var/tmp/stackwright-test-cache"))
    base = busybox_rootfs_image(podman, cache_dir=cache)
    ctx = tmp_path_factory.mktemp("obs-app")
    www = ctx / "www"
    (www / "cgi-bin").mkdir(parents=True)
    (www / "healthz").write_text("ok\n")
    (www / "metrics").write_text(METRICS)
    (www / "cgi-bin" / "api").write_text(API)
    (ctx / "Containerfile").write_text(CONTAINERFILE.format(base=base.ref))
    return app_image(podman, "localhost/stackwright/itest-observe", ctx).ref


@pytest.fixture(scope="module")
def project_root(podman: Podman) -> Iterator[Path]:
    """A short path (HAProxy's unix sockets live under it) with a fresh project name."""
    root = Path(tempfile.mkdtemp(prefix="swo", dir="/tmp"))
    name = f"obs-{uuid.uuid4().hex[:6]}"
    keys = root.parent / f"{root.name}-keys"
    old = os.environ.get("STACKWRIGHT_KEY_DIR")
    os.environ["STACKWRIGHT_KEY_DIR"] = str(keys)
    (root / "stackwright.yaml").write_text(f"project: {name}\nenvironments: {{dev: {{}}}}\n")
    try:
        yield root
    finally:
        if old is None:
            os.environ.pop("STACKWRIGHT_KEY_DIR", None)
        else:
            os.environ["STACKWRIGHT_KEY_DIR"] = old
        podman.remove_labelled(StackwrightLabels(project=name).as_dict())
        for pid_file in root.glob(".stackwright/run/*/haproxy/*/haproxy.pid"):
            try:
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(keys, ignore_errors=True)
