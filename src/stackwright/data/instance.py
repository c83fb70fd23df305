"""The life of one data instance on podman, shared by ``Database`` and ``Cache``.

An instance is a container ``sw-<project>-<key>-<env>-<name>`` (see
:mod:`stackwright.local.names`) with its data on a volume (mounted at ``/data``), published on
``127.0.0.1:<port>``, restarted by podman itself (``--restart unless-stopped``) so it needs no
Stackwright process to stay up.

Its password and port are also kept in the volume (``/data/.stackwright/<engine>/``, mode
0600, readable by root only): whoever can read that file can read the data files next to it,
and it is what lets a container removed behind Stackwright's back, or a destroyed resource
applied again, come back with the same password and port.
"""

from __future__ import annotations

import abc
import contextlib
import os
import secrets
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from stackwright.core.kinds import Driver, DriverContext
from stackwright.core.model import Address, Applied, Observed, Recorded
from stackwright.data.image import ensure_data_image
from stackwright.data.spec import InstanceSpec
from stackwright.errors import PermanentError
from stackwright.local import (
    claim,
    labels_for,
    mention_legacy_volume,
    object_name,
    podman_for,
    scope_of,
)
from stackwright.ports import free_port
from stackwright.tools._proc import NotFoundError, PortInUseError, ToolError
from stackwright.tools.podman import (
    ContainerSpec,
    NetworkAttachment,
    Podman,
    PortMapping,
    VolumeMount,
)

HOST = "127.0.0.1"
DATA_DIR = "/data"
PASSWORD_BYTES = 24  # 32 URL-safe characters
# Fields whose change needs no new container.
IN_PLACE_FIELDS = frozenset({"deleteData", "startTimeout", "running"})
PORT_RELEASE_WAIT = 3.0


def generate_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True



def port_taken(port: int) -> PermanentError:
    return PermanentError(f"spec.port: host port {HOST}:{port} is already in use",
                          hint="choose another spec.port, leave it out to get a free one, "
                               "or stop what listens on it")


@dataclass(frozen=True)
class Names:
    container: str
    volume: str
    default_volume: bool


def names_for(ctx: DriverContext, address: Address, spec: InstanceSpec,
              prior: Recorded | None = None) -> Names:
    """The container (``sw-<project>-<key>-<env>-<name>``) and the volume: ``spec.volume``,
    the default volume the record names (an older Stackwright's name too: the data stays
    where it is), else ``<container>-data``."""
    container = object_name(ctx, address)
    if spec.volume is not None:
        return Names(container, spec.volume, default_volume=False)
    kept = str(prior.outputs.get("volume") or "") if (
        prior is not None and prior.inputs.get("volume") is None) else ""
    return Names(container, kept or f"{container}-data", default_volume=True)


class Stash:
    """The password and port an instance keeps in its volume (see the module docstring)."""

    def __init__(self, mountpoint: Path, engine: str) -> None:
        self.dir = Path(mountpoint) / ".stackwright" / engine

    def _read(self, name: str) -> str | None:
        try:
            return (self.dir / name).read_text().strip() or None
        except OSError:
            return None

    def password(self) -> str | None:
        return self._read("password")

    def port(self) -> int | None:
        text = self._read("port")
        return int(text) if text and text.isdigit() else None

    def slot(self) -> str | None:
        """The login slot the password belongs to (a rotating ``Database``)."""
        return self._read("slot")

    def admin_password(self) -> str | None:
        """The password of a ``Database``'s credentials admin (``dynamicCredentials``)."""
        return self._read("admin_password")

    def save(self, password: str, port: int, slot: str | None = None) -> None:
        files = [("password", password), ("port", str(port))]
        for name, text in files + ([("slot", slot)] if slot else []):
            self._write(name, text)

    def save_admin(self, password: str | None) -> None:
        """Keep the admin's password, or forget it (None)."""
        if password is None:
            (self.dir / "admin_password").unlink(missing_ok=True)
        else:
            self._write("admin_password", password)

    def _write(self, name: str, text: str) -> None:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        partial = self.dir / f".{name}.partial"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text + "\n")
        partial.replace(self.dir / name)


@dataclass(frozen=True)
class Instance:
    """A started container and what a client needs to reach it."""

    address: Address
    container: str
    volume: str
    port: int
    password: str
    restarts: int = 0  # podman's restart count when it was started
    slot: str = "owner"  # the login slot the password is for (see data/slots.py)
    retiring: str | None = None  # a slot still allowed to log in until it is retired
    admin_password: str | None = None  # a Database's credentials admin, when it has one


class InstanceDriver(Driver, abc.ABC):
    """Create, observe, change and remove one instance; subclasses say how the server runs."""

    engine: ClassVar[str]
    container_port: ClassVar[int]
    # Fields whose change needs no new container.
    in_place_fields: ClassVar[frozenset[str]] = IN_PLACE_FIELDS

    def initial_slot(self, spec: InstanceSpec) -> str:
        """The login slot of a new instance (only a rotating ``Database`` has slots)."""
        return "owner"

    def wants_admin(self, spec: InstanceSpec) -> bool:
        """Whether the instance has a second, admin login (a ``Database`` with
        ``dynamicCredentials``); its password is kept like the main one."""
        return False

    @abc.abstractmethod
    def parse(self, inputs: Mapping[str, Any]) -> InstanceSpec: ...

    @abc.abstractmethod
    def server(self, spec: InstanceSpec, password: str) -> tuple[str, list[str]]:
        """The entry script and its arguments."""

    @abc.abstractmethod
    def provision(self, podman: Podman, spec: InstanceSpec, inst: Instance,
                  deadline: float) -> None:
        """Wait until the server answers, make sure it has the password, and log in with it."""

    @abc.abstractmethod
    def outputs(self, spec: InstanceSpec, inst: Instance) -> dict[str, Any]: ...

    stop_signal: ClassVar[str | None] = None

    # Driver

    def read(self, ctx: DriverContext, recorded: Recorded) -> Observed | None:
        name = _container(recorded)
        if not name:  # a create that failed or was cut short: nothing is left
            return None
        try:
            info = podman_for(ctx).container_inspect(name)
        except NotFoundError:
            return None
        return Observed(inputs={"running": info.running})

    def create(self, ctx: DriverContext, inputs: Mapping[str, Any]) -> Applied:
        return self._start(ctx, self.parse(inputs), prior=None)

    def update(self, ctx: DriverContext, recorded: Recorded, inputs: Mapping[str, Any]
               ) -> Applied:
        old, new = self.parse(recorded.inputs), self.parse(inputs)
        changed = _changed(old, new)
        podman = podman_for(ctx)
        name = _container(recorded)
        if changed <= self.in_place_fields and name and podman.container_exists(name):
            self._set_running(ctx, podman, new, recorded)
            return Applied(id=recorded.id or name, outputs=dict(recorded.outputs))
        return self._start(ctx, new, prior=recorded)

    def delete(self, ctx: DriverContext, recorded: Recorded) -> None:
        podman = podman_for(ctx)
        name = _container(recorded)
        if name:
            _remove_container(podman, name)
        spec = self.parse(recorded.inputs)
        volume = str(recorded.outputs.get("volume") or "")
        if not volume:
            return
        if spec.volume is None and spec.deleteData:
            with contextlib.suppress(NotFoundError):
                podman.volume_remove(volume)
            ctx.log(f"deleted volume {volume} and its data (deleteData: true)")
        else:
            ctx.log(f"keeping volume {volume} and its data"
                    + ("" if spec.volume else " (set deleteData: true to delete it)"))

    def suspend(self, ctx: DriverContext, recorded: Recorded) -> bool:
        """Stop the container (podman then leaves it stopped); the volume and its data stay,
        and the next apply starts it again (it observes ``running: false``)."""
        name = _container(recorded)
        if not name:
            return False
        podman = podman_for(ctx)
        try:
            info = podman.container_inspect(name)
        except NotFoundError:
            return False
        if not info.running and info.status != "restarting":
            return False
        ctx.log(f"stopping {name}")
        podman.container_stop(name)
        return True

    # Steps

    def _start(self, ctx: DriverContext, spec: InstanceSpec, prior: Recorded | None) -> Applied:
        address = ctx.address or (prior.address if prior else Address("Instance", "unnamed"))
        podman = podman_for(ctx)
        names = names_for(ctx, address, spec, prior)
        image = spec.image or ensure_data_image(ctx)
        # The container being replaced, or one of ours left by an apply that was cut short.
        if prior is not None and _container(prior):
            _remove_container(podman, _container(prior))
        _remove_own(ctx, podman, names.container)
        if spec.port is not None and not _port_frees(spec.port, PORT_RELEASE_WAIT):
            raise port_taken(spec.port)
        mountpoint, made = self._volume(ctx, podman, address, names, prior)
        try:
            inst = self._run(ctx, podman, spec, names, image, Stash(mountpoint, self.engine),
                             prior, address)
            self.provision(podman, spec, inst, time.monotonic() + spec.startTimeout)
            if not spec.running:
                podman.container_stop(inst.container)
        except BaseException:
            _remove_container(podman, names.container, grace=0)
            if made:  # it holds nothing but what this failed attempt wrote
                with contextlib.suppress(ToolError):
                    podman.volume_remove(names.volume, force=True)
            raise
        return Applied(id=inst.container, outputs=self.outputs(spec, inst))

    def _volume(self, ctx: DriverContext, podman: Podman, address: Address, names: Names,
                prior: Recorded | None) -> tuple[Path, bool]:
        try:
            info = podman.volume_inspect(names.volume)
            if names.default_volume and not _recorded_volume(prior, names.volume):
                claim(scope_of(ctx), "volume", names.volume, info.labels)
        except NotFoundError:
            if not names.default_volume:
                raise PermanentError(f"spec.volume: volume {names.volume} does not exist",
                                     hint="create it with a Volume resource and reference "
                                          "it: ${{ Volume.<name>.name }}") from None
            info = podman.volume_create(names.volume, labels=labels_for(ctx, address))
            mention_legacy_volume(ctx, podman, f"{scope_of(ctx).legacy_name(address.name)}-data",
                                  f"set spec.volume: <that name> on {address}")
            return Path(info.mountpoint), True
        ctx.log(f"using volume {names.volume} and the data it holds")
        return Path(info.mountpoint), False

    def _run(self, ctx: DriverContext, podman: Podman, spec: InstanceSpec, names: Names,
             image: str, stash: Stash, prior: Recorded | None, address: Address) -> Instance:
        password = _prior(prior, "password") or stash.password() or generate_password()
        slot = str(prior.outputs.get("slot") or "owner") if prior is not None else (
            stash.slot() or self.initial_slot(spec))
        admin = (_prior(prior, "adminPassword") or stash.admin_password()
                 or generate_password()) if self.wants_admin(spec) else None
        stash.save_admin(admin)
        candidates = [_prior(prior, "port"), stash.port()]
        for attempt in range(3):
            port = spec.port or _pick_port(candidates if attempt == 0 else [])
            stash.save(password, port, None if slot == "owner" else slot)
            container = self._container_spec(ctx, spec, names, image, port, password, address)
            try:
                podman.container_run(container)
            except PortInUseError:
                if spec.port is not None:
                    raise port_taken(port) from None
                continue  # a free port taken between the pick and the run: pick again
            return Instance(address, names.container, names.volume, port, password, slot=slot,
                            retiring=_prior(prior, "retiring") or None,
                            admin_password=admin)
        raise PermanentError("no free host port could be published after 3 tries",
                             hint="set spec.port")

    def _container_spec(self, ctx: DriverContext, spec: InstanceSpec, names: Names, image: str,
                        port: int, password: str, address: Address) -> ContainerSpec:
        script, args = self.server(spec, password)
        networks = (NetworkAttachment(spec.network, aliases=(address.name,)),) \
            if spec.network else ()
        return ContainerSpec(
            name=names.container, image=image, entrypoint="/bin/sh",
            command=("-c", script, f"sw-{self.engine}", *args),
            ports=(PortMapping(port, self.container_port, HOST),),
            volumes=(VolumeMount(names.volume, DATA_DIR),), networks=networks,
            cpus=spec.resources.cpus, memory=spec.resources.memory,
            labels=labels_for(ctx, address), restart="unless-stopped", init=True,
            stop_signal=self.stop_signal,
        )

    def _set_running(self, ctx: DriverContext, podman: Podman, spec: InstanceSpec,
                     recorded: Recorded) -> None:
        name = _container(recorded)
        info = podman.container_inspect(name)
        running = info.running
        if spec.running and not running:
            ctx.log(f"starting {name}")
            podman.call(["start", name], f"start of container {name}")
            inst = recorded_instance(recorded, info.restart_count)
            self.provision(podman, spec, inst, time.monotonic() + spec.startTimeout)
        elif running and not spec.running:
            ctx.log(f"stopping {name}")
            podman.container_stop(name)


def recorded_instance(recorded: Recorded, restarts: int = 0) -> Instance:
    """The instance a record describes."""
    out = recorded.outputs
    return Instance(recorded.address, _container(recorded), str(out.get("volume") or ""),
                    int(out.get("port") or 0), str(out.get("password") or ""), restarts,
                    slot=str(out.get("slot") or "owner"), retiring=out.get("retiring") or None,
                    admin_password=out.get("adminPassword") or None)


def wait_failed(podman: Podman, container: str, message: str) -> PermanentError:
    """An error with the container's last log lines as the hint."""
    try:
        logs = podman.container_logs(container, tail=15).strip()
    except ToolError:
        logs = "(no logs: the container is gone)"
    return PermanentError(message, hint=f"last lines of the log of {container}:\n{logs}")


def check_alive(podman: Podman, inst: Instance) -> None:
    """Fail at once, with its logs, when the server exited (podman may have restarted it
    already: its restart count then went up)."""
    try:
        info = podman.container_inspect(inst.container)
    except NotFoundError:
        raise PermanentError(f"container {inst.container} disappeared while starting") from None
    if info.restart_count > inst.restarts or (
            not info.running and info.status in ("exited", "stopped")):
        raise wait_failed(podman, inst.container,
                          f"the server in {inst.container} exited while starting "
                          f"(exit code {info.exit_code})")


def _port_frees(port: int, wait: float) -> bool:
    """Whether ``port`` is free, or becomes free within ``wait`` seconds (podman may let go
    of a removed container's port a moment after ``rm`` returns)."""
    deadline = time.monotonic() + wait
    while not port_is_free(port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _pick_port(candidates: list[int | None]) -> int:
    for port in candidates:
        if port and port_is_free(port):
            return port
    return free_port()


def _prior(prior: Recorded | None, key: str) -> Any:
    return prior.outputs.get(key) if prior is not None else None


def _container(recorded: Recorded) -> str:
    return str(recorded.outputs.get("container") or recorded.id or "")


def _changed(old: InstanceSpec, new: InstanceSpec) -> set[str]:
    before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
    return {k for k in after if before.get(k) != after[k]}


def _recorded_volume(prior: Recorded | None, volume: str) -> bool:
    return prior is not None and str(prior.outputs.get("volume") or "") == volume


def _remove_own(ctx: DriverContext, podman: Podman, name: str) -> None:
    """Remove ``name`` if it exists and carries this project's owner; refuse if it is
    someone else's."""
    try:
        info = podman.container_inspect(name)
    except NotFoundError:
        return
    claim(scope_of(ctx), "container", name, info.labels)
    _remove_container(podman, name)


def _remove_container(podman: Podman, name: str, grace: int = 10) -> None:
    """Stop (gracefully, up to ``grace`` seconds) and remove ``name`` if it exists."""
    podman.call(["rm", "--force", "--ignore", "--time", str(grace), name],
                f"rm of container {name}", timeout=grace + 60)
