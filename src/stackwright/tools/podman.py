"""A thin wrapper around the podman CLI (``--format json`` where podman offers it).

Every object Stackwright creates carries the labels of :class:`StackwrightLabels`, so a
cleanup can find what a project, an environment or a resource left behind.

Health checks: podman schedules them with systemd timers; where systemd is absent (containers,
CI machines) they never run by themselves, so callers drive them with
:meth:`Podman.healthcheck_run`.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stackwright.tools import podman_facts as facts
from stackwright.tools._proc import (
    Completed,
    LineSink,
    NameInUseError,
    NotFoundError,
    ToolError,
    run,
    stream,
)

LABEL_PROJECT = "dev.stackwright.project"
LABEL_ENV = "dev.stackwright.env"
LABEL_RESOURCE = "dev.stackwright.resource"
_RM_ATTEMPTS = 3


@dataclass(frozen=True)
class StackwrightLabels:
    """The labels that tie a podman object to a project, environment and resource."""

    project: str | None = None
    env: str | None = None
    resource: str | None = None

    def as_dict(self) -> dict[str, str]:
        pairs = ((LABEL_PROJECT, self.project), (LABEL_ENV, self.env),
                 (LABEL_RESOURCE, self.resource))
        return {k: v for k, v in pairs if v}


@dataclass(frozen=True)
class PodmanSettings:
    """How to call podman. The defaults work on Debian 12 as root with runc."""

    binary: str = "podman"
    runtime: str | None = "runc"  # None: podman's own default (crun on most hosts)
    ulimits: tuple[str, ...] = ("nofile=16384:16384", "nproc=16384:16384")
    state_dir: Path | None = None  # where the generated containers.conf is written
    extra_args: tuple[str, ...] = ()  # global flags, e.g. ("--root", "/srv/containers")
    timeout: float = 600.0


def render_containers_conf(settings: PodmanSettings) -> str:
    lines = ["[containers]"]
    if settings.ulimits:
        lines.append("default_ulimits = [" + ", ".join(f'"{u}"' for u in settings.ulimits) + "]")
    lines.append("[engine]")
    if settings.runtime:
        lines.append(f'runtime = "{settings.runtime}"')
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class PortMapping:
    """Publish ``container_port`` on ``host_ip:host_port`` (loopback unless told)."""

    host_port: int
    container_port: int
    host_ip: str = "127.0.0.1"
    protocol: str = "tcp"

    def arg(self) -> str:
        return f"{self.host_ip}:{self.host_port}:{self.container_port}/{self.protocol}"


@dataclass(frozen=True)
class VolumeMount:
    source: str  # a volume name or an absolute host path
    target: str
    read_only: bool = False

    def arg(self) -> str:
        return f"{self.source}:{self.target}" + (":ro" if self.read_only else "")


@dataclass(frozen=True)
class NetworkAttachment:
    name: str
    aliases: tuple[str, ...] = ()

    def arg(self) -> str:
        return self.name + "".join(f":alias={a}" for a in self.aliases)


@dataclass(frozen=True)
class HealthCheck:
    """A command run inside the container; exit code 0 means healthy."""

    command: str
    interval: str = "5s"
    timeout: str = "3s"
    retries: int = 3
    start_period: str = "0s"

    def args(self) -> list[str]:
        return [
            "--health-cmd", self.command, "--health-interval", self.interval,
            "--health-timeout", self.timeout, "--health-retries", str(self.retries),
            "--health-start-period", self.start_period,
        ]


@dataclass(frozen=True)
class ContainerSpec:
    """Everything ``podman run -d`` needs to start one container."""

    name: str
    image: str
    command: tuple[str, ...] = ()
    entrypoint: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    ports: tuple[PortMapping, ...] = ()
    cpus: float | None = None
    memory: str | None = None  # "64m", "1g"
    volumes: tuple[VolumeMount, ...] = ()
    networks: tuple[NetworkAttachment, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    restart: str | None = None  # no | always | on-failure[:N] | unless-stopped
    health: HealthCheck | None = None
    tmpfs: tuple[str, ...] = ()  # "/tmp" or "/run:size=16m"
    init: bool = False  # run catatonit as PID 1 so the app gets signals
    stop_signal: str | None = None
    user: str | None = None
    workdir: str | None = None


def run_args(spec: ContainerSpec) -> list[str]:
    """The ``podman run`` arguments for ``spec`` (pure, so it can be checked in unit tests)."""
    args = ["run", "-d", "--pull", "never", "--name", spec.name]
    args += [a for k, v in sorted(spec.env.items()) for a in ("--env", f"{k}={v}")]
    args += [a for p in spec.ports for a in ("--publish", p.arg())]
    args += [a for v in spec.volumes for a in ("--volume", v.arg())]
    args += [a for n in spec.networks for a in ("--network", n.arg())]
    args += [a for k, v in sorted(spec.labels.items()) for a in ("--label", f"{k}={v}")]
    args += [a for t in spec.tmpfs for a in ("--tmpfs", t)]
    args += _optional(spec)
    if spec.health is not None:
        args += spec.health.args()
    if spec.entrypoint is not None:
        args += ["--entrypoint", spec.entrypoint]
    return [*args, spec.image, *spec.command]


def _optional(spec: ContainerSpec) -> list[str]:
    pairs = (("--cpus", spec.cpus), ("--memory", spec.memory), ("--restart", spec.restart),
             ("--stop-signal", spec.stop_signal), ("--user", spec.user),
             ("--workdir", spec.workdir))
    args = [a for flag, value in pairs if value is not None for a in (flag, str(value))]
    return [*args, "--init"] if spec.init else args


def _label_args(labels: Mapping[str, str]) -> list[str]:
    return [a for k, v in sorted(labels.items()) for a in ("--label", f"{k}={v}")]


def _filter_args(labels: Mapping[str, str]) -> list[str]:
    return [a for k, v in sorted(labels.items()) for a in ("--filter", f"label={k}={v}")]


class Podman:
    """The podman CLI, with a project-owned containers.conf when a state dir is given."""

    def __init__(self, settings: PodmanSettings | None = None) -> None:
        self.settings = settings or PodmanSettings()
        self._env: dict[str, str] = {}
        if self.settings.state_dir is not None:
            conf = Path(self.settings.state_dir) / "containers.conf"
            conf.parent.mkdir(parents=True, exist_ok=True)
            conf.write_text(render_containers_conf(self.settings))
            self._env["CONTAINERS_CONF"] = str(conf)

    @property
    def env(self) -> Mapping[str, str]:
        """Environment variables every podman call gets (CONTAINERS_CONF)."""
        return dict(self._env)

    def _argv(self, args: Sequence[str]) -> list[str]:
        base = [self.settings.binary, *self.settings.extra_args]
        if self.settings.state_dir is None:
            # Without a containers.conf the same settings go on the command line.
            if self.settings.runtime:
                base += ["--runtime", self.settings.runtime]
        return [*base, *args]

    def _ulimit_args(self) -> list[str]:
        if self.settings.state_dir is not None:
            return []  # in containers.conf
        return [a for u in self.settings.ulimits for a in ("--ulimit", u)]

    def call(self, args: Sequence[str], what: str, *, timeout: float | None = None) -> Completed:
        """Run ``podman args``; a non-zero exit raises the most specific :class:`ToolError`.

        ``rm`` of a container that podman is stopping or restarting at that moment (its
        restart policy) fails with "container state improper"; it is tried again."""
        for attempt in range(_RM_ATTEMPTS):
            done = self.probe(args, timeout=timeout)
            if done.returncode == 0:
                return done
            racing = args[:1] == ["rm"] and "container state improper" in done.stderr
            if not racing or attempt == _RM_ATTEMPTS - 1:
                break
            time.sleep(0.5 * (attempt + 1))
        raise facts.classify_failure(done.argv, done.stderr, what)

    def probe(self, args: Sequence[str], *, timeout: float | None = None) -> Completed:
        """Run ``podman args`` and return the result whatever the exit code."""
        return run(self._argv(args), env=self._env, timeout=timeout or self.settings.timeout)

    def version(self) -> str:
        return str(json.loads(self.call(["version", "--format", "json"], "podman version")
                              .stdout)["Client"]["Version"])

    # Images

    def image_build(
        self,
        context: Path,
        tag: str,
        *,
        containerfile: Path | None = None,
        build_args: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        on_line: LineSink | None = None,
    ) -> str:
        """Build ``context`` into ``tag``; output lines go to ``on_line``. Returns the image id."""
        context = Path(context).resolve()
        file = Path(containerfile).resolve() if containerfile else context / "Containerfile"
        if not file.is_file():
            raise NotFoundError(f"image build of {tag} failed: no Containerfile at {file}",
                                hint="create the Containerfile or fix its path")
        fd, name = tempfile.mkstemp(suffix=".iid")
        os.close(fd)
        iidfile = Path(name)
        args = ["build", "--pull=never", "--tag", tag, "--file", str(file),
                "--iidfile", str(iidfile), *self._ulimit_args(), *_label_args(labels or {})]
        args += [a for k, v in sorted((build_args or {}).items())
                 for a in ("--build-arg", f"{k}={v}")]
        done = stream(self._argv([*args, str(context)]), on_line or (lambda _: None),
                      env=self._env)
        try:
            if done.returncode != 0:
                if _only_cleanup_failed(done.stdout + done.stderr) and self.image_exists(tag):
                    # podman 4.3 sometimes tags the image, then fails to remove its own build
                    # container ("identifier is not a container"): the image is complete.
                    return self.image_inspect(tag).id
                raise facts.classify_failure(done.argv, done.stderr, f"image build of {tag}")
            return iidfile.read_text().strip().removeprefix("sha256:")
        finally:
            iidfile.unlink(missing_ok=True)

    def image_exists(self, ref: str) -> bool:
        return self.probe(["image", "exists", ref]).returncode == 0

    def image_inspect(self, ref: str) -> facts.ImageInfo:
        out = self.call(["image", "inspect", ref], f"image inspect {ref}").stdout
        return facts.parse_image_inspect(out)[0]

    def image_remove(self, ref: str, *, force: bool = False) -> None:
        self.call(["image", "rm", *(["--force"] if force else []), ref], f"image rm {ref}")

    def image_import(
        self, tarball: Path, tag: str, *, changes: Sequence[str] = (),
        labels: Mapping[str, str] | None = None,
    ) -> str:
        """Import a rootfs tarball as ``tag``; ``changes`` are Containerfile lines (CMD …)."""
        all_changes = [*changes, *(f"LABEL {k}={v}" for k, v in sorted((labels or {}).items()))]
        args = ["import", "--quiet", *[a for c in all_changes for a in ("--change", c)],
                str(tarball), tag]
        return self.call(args, f"image import {tag}").stdout.strip().removeprefix("sha256:")

    # Networks

    def network_create(
        self, name: str, *, subnet: str | None = None, labels: Mapping[str, str] | None = None,
        internal: bool = False,
    ) -> facts.NetworkInfo:
        args = ["network", "create", *(["--subnet", subnet] if subnet else []),
                *(["--internal"] if internal else []), *_label_args(labels or {}), name]
        self.call(args, f"network create {name}")
        return self.network_inspect(name)

    def network_inspect(self, name: str) -> facts.NetworkInfo:
        out = self.call(["network", "inspect", name], f"network inspect {name}").stdout
        return facts.parse_network_inspect(out)[0]

    def network_exists(self, name: str) -> bool:
        return self.probe(["network", "exists", name]).returncode == 0

    def network_remove(self, name: str, *, force: bool = False) -> None:
        self.call(["network", "rm", *(["--force"] if force else []), name],
                  f"network rm {name}")

    def network_list(self, labels: Mapping[str, str] | None = None) -> list[facts.NetworkInfo]:
        args = ["network", "ls", "--format", "json", *_filter_args(labels or {})]
        return facts.parse_network_inspect(self.call(args, "network ls").stdout)

    # Volumes

    def volume_create(
        self, name: str, *, labels: Mapping[str, str] | None = None
    ) -> facts.VolumeInfo:
        self.call(["volume", "create", *_label_args(labels or {}), name],
                  f"volume create {name}")
        return self.volume_inspect(name)

    def volume_inspect(self, name: str) -> facts.VolumeInfo:
        out = self.call(["volume", "inspect", name], f"volume inspect {name}").stdout
        return facts.parse_volume_inspect(out)[0]

    def volume_remove(self, name: str, *, force: bool = False) -> None:
        self.call(["volume", "rm", *(["--force"] if force else []), name],
                  f"volume rm {name}")

    def volume_list(self, labels: Mapping[str, str] | None = None) -> list[facts.VolumeInfo]:
        args = ["volume", "ls", "--format", "json", *_filter_args(labels or {})]
        return facts.parse_volume_inspect(self.call(args, "volume ls").stdout)

    # Containers

    def container_run(self, spec: ContainerSpec) -> str:
        """Start a detached container; on failure nothing is left behind. Returns its id."""
        try:
            args = run_args(spec)
            args[2:2] = self._ulimit_args()
            return self.call(args, f"run of container {spec.name}").stdout.strip()
        except NameInUseError:
            raise  # the container of that name is another one: it is not ours to remove
        except ToolError:
            # podman creates the container before it fails to start it (a taken port).
            self.probe(["rm", "--force", "--ignore", spec.name])
            raise

    def container_inspect(self, name: str) -> facts.ContainerInfo:
        out = self.call(["container", "inspect", name], f"container inspect {name}").stdout
        return facts.parse_container_inspect(out)[0]

    def container_exists(self, name: str) -> bool:
        return self.probe(["container", "exists", name]).returncode == 0

    def container_stop(self, name: str, *, timeout: int = 10) -> None:
        self.call(["stop", "--time", str(timeout), name], f"stop of container {name}",
                  timeout=timeout + 30)

    def container_remove(self, name: str, *, force: bool = False) -> None:
        self.call(["rm", *(["--force"] if force else []), name], f"rm of container {name}")

    def container_logs(self, name: str, *, tail: int | None = None) -> str:
        """The container's stdout and stderr, interleaved as podman stores them."""
        args = ["logs", *(["--tail", str(tail)] if tail is not None else []), name]
        done = self.call(args, f"logs of container {name}")
        return done.stdout + done.stderr

    def container_list(
        self, labels: Mapping[str, str] | None = None, *, stopped: bool = True
    ) -> list[facts.ContainerSummary]:
        args = ["ps", "--format", "json", *(["--all"] if stopped else [])]
        args += _filter_args(labels or {})
        return facts.parse_container_list(self.call(args, "ps").stdout)

    def container_wait(self, name: str, *, timeout: float | None = None) -> int:
        """Wait until the container exits; returns its exit code."""
        out = self.call(["wait", name], f"wait for container {name}", timeout=timeout).stdout
        return int(out.strip().splitlines()[-1])

    def container_exec(self, name: str, command: Sequence[str]) -> Completed:
        """Run ``command`` in the container; the caller reads the exit code."""
        return self.probe(["exec", name, *command])

    def healthcheck_run(self, name: str) -> bool:
        """Run the container's health check once (there may be no timer); True if healthy."""
        return self.probe(["healthcheck", "run", name]).returncode == 0

    def remove_labelled(self, labels: Mapping[str, str]) -> int:
        """Force-remove every container, network and volume carrying ``labels``."""
        if not labels:
            raise ValueError("refusing to remove every object: give at least one label")
        containers = [c.name for c in self.container_list(labels)]
        if containers:
            self.call(["rm", "--force", "--time", "0", *containers], "rm of labelled containers")
        networks = [n.name for n in self.network_list(labels)]
        for net in networks:
            self.network_remove(net, force=True)
        volumes = [v.name for v in self.volume_list(labels)]
        for vol in volumes:
            self.volume_remove(vol, force=True)
        return len(containers) + len(networks) + len(volumes)


def _only_cleanup_failed(output: str) -> bool:
    """A build whose one error is podman failing to delete its finished build container."""
    return "Successfully tagged" in output and "error deleting build container" in output
