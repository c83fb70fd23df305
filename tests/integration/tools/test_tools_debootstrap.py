"""A Debian base image from debootstrap (about 40 s cold; needs the Debian mirror).

Runs by default (CI reaches Debian's mirror); STACKWRIGHT_TEST_DEBOOTSTRAP=0 skips it on a
machine without the mirror. Once built, the hash-tagged image is reused.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stackwright.tools.images import DebootstrapRecipe, DebootstrapSettings, debootstrap_image
from stackwright.tools.podman import ContainerSpec, Podman, StackwrightLabels

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("STACKWRIGHT_TEST_DEBOOTSTRAP") == "0",
                       reason="STACKWRIGHT_TEST_DEBOOTSTRAP=0: no Debian mirror here"),
]


def test_debootstrap_image_builds_once_and_runs(
    podman: Podman, run_labels: StackwrightLabels
) -> None:
    recipe = DebootstrapRecipe(files={"/etc/stackwright-release": "itest\n"},
                               commands=("apt-get clean", "rm -rf /var/lib/apt/lists/*"))
    cache = Path(os.environ.get("STACKWRIGHT_TEST_CACHE", "/var/tmp/stackwright-test-cache"))
    settings = DebootstrapSettings(cache_dir=cache)
    image = debootstrap_image(podman, recipe, settings=settings)
    again = debootstrap_image(podman, recipe, settings=settings)
    assert (again.ref, again.built) == (image.ref, False)
    name = f"sw-itest-deb-{os.getpid()}"
    podman.container_run(ContainerSpec(name=name, image=image.ref, labels=run_labels.as_dict(),
                                       command=("cat", "/etc/stackwright-release")))
    try:
        assert podman.container_wait(name, timeout=30) == 0
        assert podman.container_logs(name) == "itest\n"
    finally:
        podman.container_remove(name, force=True)
