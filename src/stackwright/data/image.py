"""The data image: Debian bookworm with PostgreSQL 15 and Redis, built locally with debootstrap.

Tagged by the hash of its recipe like a ``BaseImage`` (same ``settings.images`` mirror and
cache directory), and shared by every project on the machine: built once, then reused.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stackwright.core.kinds import DriverContext
from stackwright.local import podman_for
from stackwright.tools.images import DebootstrapRecipe, DebootstrapSettings, debootstrap_image

DATA_IMAGE_REPO = "localhost/stackwright/data"
DEFAULT_CACHE_DIR = "/var/tmp/stackwright-image-cache"
DATA_IMAGE_RECIPE = DebootstrapRecipe(
    release="bookworm",
    packages=("postgresql-15", "redis-server"),
    commands=("apt-get clean", "rm -rf /var/lib/apt/lists/*"),
    cmd=("/bin/bash",),
)


def image_settings(ctx: DriverContext) -> DebootstrapSettings:
    """The mirror and cache directory of ``settings.images`` (as ``BaseImage`` reads them)."""
    conf: dict[str, Any] = dict(ctx.settings.get("images") or {})
    return DebootstrapSettings(mirror=str(conf.get("mirror", DebootstrapSettings.mirror)),
                               cache_dir=Path(str(conf.get("cacheDir", DEFAULT_CACHE_DIR))))


def ensure_data_image(ctx: DriverContext) -> str:
    """The data image's ref, built first if this machine does not have it (about 80 s)."""
    settings = image_settings(ctx)
    assert settings.cache_dir is not None
    # A Database and a Cache applied together (or tests in parallel) must not both build it.
    with _file_lock(settings.cache_dir / "data-image.lock"):
        built = debootstrap_image(podman_for(ctx), DATA_IMAGE_RECIPE, DATA_IMAGE_REPO,
                                  settings=settings, on_line=ctx.log)
    if built.built:
        ctx.log(f"built the data image {built.ref}")
    return built.ref


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
