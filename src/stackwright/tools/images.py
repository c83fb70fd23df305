"""Images without a registry: base images from busybox or debootstrap, app images from a context.

Every image is tagged by a hash of its inputs (recipe, tool version, files), so an unchanged
recipe is never rebuilt: ``podman image exists`` is asked first, and built rootfs tarballs
are kept in a cache directory for a machine whose images were removed.

A tag may carry an environment (``repo:<env>-<hash>``) so that environments never share a
tag: an image built for one environment is given to another with ``podman tag`` (same
inputs, found by the ``dev.stackwright.inputs`` label), not built again, and removing one
environment's tag leaves the other's image in place.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from stackwright.tools._proc import Completed, LineSink, ToolError, run, stream, tail
from stackwright.tools.podman import Podman

RECIPE_VERSION = "2"  # bump when the way rootfs trees are assembled changes
_BUSYBOX_DIRS = ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "var", "www")
_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
_GROUP = "root:x:0:\nnogroup:x:65534:\n"
INPUTS_LABEL = "dev.stackwright.inputs"
_IMAGE_LIKE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(?::[0-9]+)?/[A-Za-z0-9._/:@-]+")


@dataclass(frozen=True)
class BuiltImage:
    """An image ref tagged by the hash of its inputs; ``built`` is False when it was reused,
    and ``tagged_from`` names the image with the same inputs it was tagged from, if any."""

    ref: str
    digest: str
    built: bool
    tagged_from: str = ""


def _tag_prefix(repo: str, env: str) -> str:
    part = re.sub(r"[^A-Za-z0-9_.-]", "-", env).lstrip(".-")
    return f"{repo}:{part}-" if part else f"{repo}:"


def image_tag(repo: str, digest: str, env: str = "") -> str:
    """``repo:<env>-<hash>`` (``repo:<hash>`` without an environment)."""
    return _tag_prefix(repo, env) + digest[:16]


def _reuse(podman: Podman, repo: str, digest: str, ref: str) -> BuiltImage | None:
    """``ref`` if it exists, else ``ref`` tagged onto an image of ``repo`` with the same inputs."""
    if podman.image_exists(ref):
        return BuiltImage(ref, digest, built=False)
    source = same_inputs(podman, repo, digest)
    if source is None:
        return None
    done = podman.probe(["tag", source, ref])
    if done.returncode != 0:  # removed meanwhile (another environment's destroy): build
        return None
    return BuiltImage(ref, digest, built=False, tagged_from=source)


def _names(podman: Podman, args: Sequence[str]) -> list[str]:
    done = podman.probe(["images", "--format", "json", *args])
    if done.returncode != 0:
        return []
    return [n for image in json.loads(done.stdout or "[]") for n in image.get("Names") or []]


def same_inputs(podman: Podman, repo: str, digest: str) -> str | None:
    """A tag of ``repo`` on an image built from the inputs ``digest`` (by its label)."""
    names = _names(podman, ["--filter", f"label={INPUTS_LABEL}={digest}"])
    ours = sorted(n for n in names
                  if n.rpartition(":")[0] == repo and n.endswith(digest[:16]))
    return ours[0] if ours else None


def env_tags(podman: Podman, repo: str, env: str) -> list[str]:
    """Every ``repo:<env>-<hash>`` tag on this machine: the builds of one environment."""
    own = re.compile(re.escape(_tag_prefix(repo, env)) + "[0-9a-f]{16}")
    names = _names(podman, ["--filter", f"reference={repo}"])
    return sorted({n for n in names if own.fullmatch(n)})


def untag(podman: Podman, ref: str) -> str | None:
    """Remove the tag ``ref`` (the image goes with its last tag; never forced). Returns why
    podman refused (an image a container still uses), or None when the tag is gone."""
    if not ref:
        return None
    done = podman.probe(["image", "rm", ref])
    if done.returncode == 0 or not podman.image_exists(ref):
        return None
    return tail(done.stderr, 3).strip() or f"podman image rm exited {done.returncode}"


# App images


def ignore_patterns(context: Path) -> list[str]:
    """The patterns of ``.containerignore`` (or ``.dockerignore``) in ``context``."""
    for name in (".containerignore", ".dockerignore"):
        path = context / name
        if path.is_file():
            lines = (ln.strip() for ln in path.read_text().splitlines())
            return [ln for ln in lines if ln and not ln.startswith("#")]
    return []


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(\*\*/?|\*|\?)", pattern.strip("/").removeprefix("./"))
    table = {"**": ".*", "**/": "(?:.*/)?", "*": "[^/]*", "?": "[^/]"}
    body = "".join(table.get(p, re.escape(p)) for p in parts)
    return re.compile(f"{body}(?:/.*)?$")  # a matching directory excludes what it holds


def is_ignored(relpath: str, patterns: Sequence[str]) -> bool:
    """Docker's rule: the last pattern that matches decides; ``!pattern`` re-includes."""
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if _pattern_regex(pattern.lstrip("!")).match(relpath):
            ignored = not negated
    return ignored


def context_files(context: Path) -> Iterator[Path]:
    """Files of a build context that podman would send, in a stable order."""
    patterns = ignore_patterns(context)
    for root, dirs, files in os.walk(context):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if not is_ignored(path.relative_to(context).as_posix(), patterns):
                yield path


def content_hash(
    context_dir: Path, containerfile: Path | None = None,
    build_args: Mapping[str, str] | None = None,
) -> str:
    """A sha256 of every context file (names, modes, bytes), the Containerfile and the args."""
    context = Path(context_dir)
    h = hashlib.sha256(f"app:{RECIPE_VERSION}\n".encode())
    for path in context_files(context):
        rel = path.relative_to(context).as_posix()
        body = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
        mode = "x" if os.access(path, os.X_OK) else "-"
        h.update(f"{rel}\0{mode}\0{hashlib.sha256(body).hexdigest()}\n".encode())
    file = Path(containerfile) if containerfile else context / "Containerfile"
    h.update(b"containerfile\0" + (file.read_bytes() if file.is_file() else b""))
    for key, value in sorted((build_args or {}).items()):
        h.update(f"arg\0{key}={value}\n".encode())
    return h.hexdigest()


def app_image(
    podman: Podman, repo: str, context: Path, *, containerfile: Path | None = None,
    build_args: Mapping[str, str] | None = None, labels: Mapping[str, str] | None = None,
    on_line: LineSink | None = None, env: str = "",
) -> BuiltImage:
    """Build ``context`` as ``repo:[<env>-]<hash>`` unless an image with those inputs exists.

    A build argument naming a local image counts by that image's ID, not its name: an app
    built FROM another environment's tag of the same base has the same inputs.
    """
    digest = content_hash(context, containerfile, build_identity(podman, build_args or {}))
    ref = image_tag(repo, digest, env)
    reused = _reuse(podman, repo, digest, ref)
    if reused is not None:
        return reused
    podman.image_build(context, ref, containerfile=containerfile, build_args=build_args,
                       labels={**(labels or {}), INPUTS_LABEL: digest}, on_line=on_line)
    return BuiltImage(ref, digest, built=True)


def build_identity(podman: Podman, build_args: Mapping[str, str]) -> dict[str, str]:
    """Build arguments with each value that names a local image replaced by its image ID."""
    identity = dict(build_args)
    for key, value in build_args.items():
        if _IMAGE_LIKE.fullmatch(value):
            done = podman.probe(["image", "inspect", "--format", "{{.Id}}", value])
            if done.returncode == 0 and done.stdout.strip():
                identity[key] = f"image@{done.stdout.strip()}"
    return identity


# Busybox base image


def busybox_applets(busybox: Path) -> list[str]:
    """Applet paths (``bin/sh``, ``usr/bin/wget``…) the busybox binary provides."""
    done = run([str(busybox), "--list-full"], timeout=30)
    if done.returncode != 0:
        raise ToolError(f"{busybox} --list-full failed: {tail(done.stderr)}",
                        hint="install busybox-static or configure its path")
    return sorted(ln.strip() for ln in done.stdout.splitlines() if ln.strip())


def write_busybox_rootfs(busybox: Path, applets: Sequence[str], out: Path) -> None:
    """A reproducible rootfs tarball: busybox, its applet symlinks, /etc/passwd, /tmp."""
    with tarfile.open(out, "w") as tar:
        for d in _BUSYBOX_DIRS:
            tar.addfile(_entry(d, tarfile.DIRTYPE, 0o755))
        tar.addfile(_entry("tmp", tarfile.DIRTYPE, 0o1777))
        data = busybox.read_bytes()
        tar.addfile(_entry("bin/busybox", tarfile.REGTYPE, 0o755, size=len(data)),
                    io.BytesIO(data))
        for applet in applets:
            if applet != "bin/busybox":
                tar.addfile(_entry(applet, tarfile.SYMTYPE, 0o777, link="/bin/busybox"))
        for name, text in (("etc/passwd", _PASSWD), ("etc/group", _GROUP)):
            tar.addfile(_entry(name, tarfile.REGTYPE, 0o644, size=len(text)),
                        io.BytesIO(text.encode()))


def _entry(name: str, kind: bytes, mode: int, *, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.linkname, info.mtime = kind, mode, size, link, 0
    return info


def busybox_rootfs_image(
    podman: Podman, repo: str = "localhost/stackwright/busybox", *,
    busybox: Path = Path("/bin/busybox"), cache_dir: Path | None = None,
    labels: Mapping[str, str] | None = None, env: str = "",
) -> BuiltImage:
    """A tiny base image from a static busybox, tagged by the hash of the binary."""
    data = Path(busybox).read_bytes()
    digest = hashlib.sha256(b"busybox:" + RECIPE_VERSION.encode() + b"\0" + data).hexdigest()
    ref = image_tag(repo, digest, env)
    reused = _reuse(podman, repo, digest, ref)
    if reused is not None:
        return reused
    with _tarball(cache_dir, f"busybox-{digest[:16]}.tar") as (tarball, cached):
        if not cached:
            write_busybox_rootfs(Path(busybox), busybox_applets(Path(busybox)), tarball)
        podman.image_import(tarball, ref, changes=['CMD ["/bin/sh"]', f"ENV PATH={_PATH}"],
                            labels={**(labels or {}), "dev.stackwright.base": "busybox",
                                    INPUTS_LABEL: digest})
    return BuiltImage(ref, digest, built=True)


@contextmanager
def _tarball(cache_dir: Path | None, name: str) -> Iterator[tuple[Path, bool]]:
    """A tarball path in the cache (kept) or in a temporary directory (removed afterwards)."""
    if cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        path = Path(cache_dir) / name
        yield path, path.is_file()
        return
    with tempfile.TemporaryDirectory(prefix="sw-rootfs-") as tmp:
        yield Path(tmp) / name, False


# Debian base images


@dataclass(frozen=True)
class DebootstrapRecipe:
    """A Debian base image.

    Example::

        release: bookworm
        packages: [python3, ca-certificates]
        files: {/etc/motd: "built by stackwright\\n"}
        commands: ["apt-get clean", "rm -rf /var/lib/apt/lists/*"]
    """

    release: str = "bookworm"
    variant: str = "minbase"
    packages: tuple[str, ...] = ()
    files: Mapping[str, str] = field(default_factory=dict)  # absolute path -> content
    commands: tuple[str, ...] = ()  # run with /bin/sh in a chroot of the rootfs, in order
    cmd: tuple[str, ...] = ("/bin/bash",)

    def fingerprint(self, tool_version: str) -> str:
        h = hashlib.sha256(f"debootstrap:{RECIPE_VERSION}:{tool_version}\n".encode())
        for part in (self.release, self.variant, *sorted(self.packages), *self.commands,
                     *self.cmd, *(f"{k}\0{v}" for k, v in sorted(self.files.items()))):
            h.update(part.encode() + b"\n\0")
        return h.hexdigest()


@dataclass(frozen=True)
class DebootstrapSettings:
    binary: str = "debootstrap"
    mirror: str = "http://deb.debian.org/debian"
    cache_dir: Path | None = None  # rootfs tarballs are kept here when set
    work_dir: Path | None = None  # where the rootfs tree is assembled (default: /var/tmp)


def debootstrap_version(binary: str = "debootstrap") -> str:
    done = run([binary, "--version"], timeout=30)
    if done.returncode != 0:
        raise ToolError(f"{binary} --version failed: {tail(done.stderr)}",
                        hint="install debootstrap (apt-get install debootstrap)")
    return done.stdout.strip().split()[-1]


def debootstrap_image(
    podman: Podman, recipe: DebootstrapRecipe, repo: str = "localhost/stackwright/debian", *,
    settings: DebootstrapSettings | None = None, on_line: LineSink | None = None,
    labels: Mapping[str, str] | None = None, env: str = "",
) -> BuiltImage:
    """Build ``recipe`` into ``repo:[<env>-]<hash>`` unless an image with that recipe exists
    (about 40 s when it does not)."""
    settings = settings or DebootstrapSettings()
    digest = recipe.fingerprint(debootstrap_version(settings.binary))
    ref = image_tag(repo, digest, env)
    reused = _reuse(podman, repo, digest, ref)
    if reused is not None:
        return reused
    with _tarball(settings.cache_dir, f"debian-{digest[:16]}.tar") as (tarball, cached):
        if not cached:
            _debootstrap_tarball(recipe, settings, tarball, on_line or (lambda _: None))
        podman.image_import(tarball, ref, changes=[f"CMD {list(recipe.cmd)}".replace("'", '"')],
                            labels={**(labels or {}),
                                    "dev.stackwright.base": f"debian-{recipe.release}",
                                    INPUTS_LABEL: digest})
    return BuiltImage(ref, digest, built=True)


def _debootstrap_tarball(
    recipe: DebootstrapRecipe, settings: DebootstrapSettings, out: Path, on_line: LineSink
) -> None:
    work = Path(settings.work_dir or "/var/tmp")
    work.mkdir(parents=True, exist_ok=True)
    rootfs = Path(tempfile.mkdtemp(prefix="sw-debootstrap-", dir=work))
    try:
        argv = [settings.binary, f"--variant={recipe.variant}"]
        if recipe.packages:
            argv.append("--include=" + ",".join(recipe.packages))
        _checked(stream([*argv, recipe.release, str(rootfs), settings.mirror], on_line),
                 "debootstrap", f"is {settings.mirror} reachable?")
        _customize(rootfs, recipe, on_line)
        partial = out.with_suffix(".partial")
        _checked(run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), "."]),
                 "tar of the rootfs", "is there room in the cache directory?")
        partial.replace(out)
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)


def _customize(rootfs: Path, recipe: DebootstrapRecipe, on_line: LineSink) -> None:
    for target, content in sorted(recipe.files.items()):
        path = rootfs / target.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    env = {"PATH": _PATH, "DEBIAN_FRONTEND": "noninteractive"}
    for command in recipe.commands:
        done = stream(["chroot", str(rootfs), "/bin/sh", "-c", command], on_line, env=env)
        _checked(done, f"recipe command {command!r}", "the command runs in a chroot without /proc")


def _checked(done: Completed, what: str, hint: str) -> None:
    if done.returncode != 0:
        raise ToolError(f"{what} failed (exit {done.returncode}): {tail(done.stderr)}",
                        argv=done.argv, stderr=done.stderr, hint=hint)
