"""Podman wrapper against real podman: images, networks, volumes, containers, errors."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import pytest
from tools_itest_support import free_port, http_get, web_spec

from stackwright.tools._proc import NotFoundError, PortInUseError
from stackwright.tools.images import BuiltImage, app_image
from stackwright.tools.podman import (
    ContainerSpec,
    NetworkAttachment,
    Podman,
    StackwrightLabels,
    VolumeMount,
)

pytestmark = pytest.mark.slow


def test_base_and_app_images_are_reused(
    podman: Podman, base_image: BuiltImage, app: BuiltImage, app_context: Path
) -> None:
    assert podman.image_exists(base_image.ref)
    info = podman.image_inspect(app.ref)
    assert info.labels["dev.stackwright.inputs"] == app.digest
    again = app_image(podman, "localhost/stackwright/itest-app", app_context)
    assert (again.ref, again.built) == (app.ref, False)


def test_network_with_subnet_and_containers(
    podman: Podman, network: str, web_servers: dict[str, int], run_labels: StackwrightLabels
) -> None:
    net = podman.network_inspect(network)
    subnet = ipaddress.ip_network(net.subnets[0].subnet)
    assert network in [n.name for n in podman.network_list(run_labels.as_dict())]
    listed = {c.name for c in podman.container_list(run_labels.as_dict())}
    assert set(web_servers) <= listed
    for name, port in web_servers.items():
        info = podman.container_inspect(name)
        assert info.running and info.started_at is not None
        assert ipaddress.ip_address(info.ips[network]) in subnet
        assert info.labels["dev.stackwright.resource"] == name
        assert info.ports[0].host_port == port
        assert http_get(f"http://127.0.0.1:{port}/") == (200, f"{name}\n")
        assert podman.healthcheck_run(name)
        assert podman.container_inspect(name).health == "healthy"


def test_container_name_dns_and_exec(
    podman: Podman, network: str, web_servers: dict[str, int]
) -> None:
    first, second = sorted(web_servers)
    done = podman.container_exec(first, ["wget", "-q", "-O-", f"http://{second}:8080/"])
    assert (done.returncode, done.stdout) == (0, f"{second}\n")
    alias = second.rsplit("-", 1)[-1]
    done = podman.container_exec(first, ["wget", "-q", "-O-", f"http://{alias}:8080/healthz"])
    assert done.stdout == "ok\n"


def test_wait_logs_and_exit_code(podman: Podman, app: BuiltImage, run_labels: StackwrightLabels
                                 ) -> None:
    name = f"sw-itest-job-{os.getpid()}"
    spec = ContainerSpec(name=name, image=app.ref, command=("sh", "-c", "echo hi; exit 3"),
                         labels=run_labels.as_dict())
    podman.container_run(spec)
    try:
        assert podman.container_wait(name, timeout=30) == 3
        info = podman.container_inspect(name)
        assert (info.running, info.exit_code, info.status) == (False, 3, "exited")
        assert podman.container_logs(name) == "hi\n"
    finally:
        podman.container_remove(name, force=True)
    assert not podman.container_exists(name)


def test_volume_lifecycle(podman: Podman, app: BuiltImage, run_labels: StackwrightLabels
                          ) -> None:
    labels = StackwrightLabels(run_labels.project, run_labels.env, "vol").as_dict()
    name = f"sw-itest-vol-{os.getpid()}"
    vol = podman.volume_create(name, labels=labels)
    try:
        assert [v.name for v in podman.volume_list(labels)] == [name]
        spec = ContainerSpec(name=f"{name}-w", image=app.ref, labels=labels,
                             command=("sh", "-c", "echo kept > /data/f"),
                             volumes=(VolumeMount(name, "/data"),))
        podman.container_run(spec)
        assert podman.container_wait(spec.name, timeout=30) == 0
        podman.container_remove(spec.name)
        assert (Path(vol.mountpoint) / "f").read_text() == "kept\n"
    finally:
        podman.remove_labelled(labels)
    assert podman.volume_list(labels) == []


def test_stop_and_remove(podman: Podman, app: BuiltImage, network: str,
                         run_labels: StackwrightLabels) -> None:
    name = f"sw-itest-stop-{os.getpid()}"
    podman.container_run(web_spec(name, app.ref, free_port(), network, run_labels))
    podman.container_stop(name, timeout=5)
    assert podman.container_inspect(name).status in {"exited", "stopped"}
    podman.container_remove(name)
    assert not podman.container_exists(name)


def test_port_taken_names_the_port(
    podman: Podman, app: BuiltImage, network: str, run_labels: StackwrightLabels
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        name = f"sw-itest-port-{os.getpid()}"
        with pytest.raises(PortInUseError) as err:
            podman.container_run(web_spec(name, app.ref, port, network, run_labels))
    assert err.value.port == port
    assert str(port) in str(err.value) and "already in use" in str(err.value)
    assert not podman.container_exists(name), "a failed run leaves no container behind"


def test_build_with_missing_containerfile(podman: Podman, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no Containerfile"):
        podman.image_build(tmp_path, "localhost/stackwright/nope:1",
                           containerfile=tmp_path / "Missing")


def test_build_failure_carries_output(podman: Podman, tmp_path: Path,
                                      base_image: BuiltImage) -> None:
    (tmp_path / "Containerfile").write_text(f"FROM {base_image.ref}\nRUN exit 7\n")
    lines: list[str] = []
    with pytest.raises(Exception, match="image build of") as err:
        podman.image_build(tmp_path, "localhost/stackwright/broken:1", on_line=lines.append)
    assert any("exit 7" in ln for ln in lines)
    assert "exit status 7" in str(err.value)


def test_run_with_missing_network(podman: Podman, app: BuiltImage,
                                  run_labels: StackwrightLabels) -> None:
    name = f"sw-itest-nonet-{os.getpid()}"
    spec = ContainerSpec(name=name, image=app.ref, labels=run_labels.as_dict(),
                         networks=(NetworkAttachment("sw-no-such-network"),))
    with pytest.raises(NotFoundError, match="sw-no-such-network") as err:
        podman.container_run(spec)
    assert "create the network" in (err.value.hint or "")
    assert not podman.container_exists(name)


def test_run_with_missing_image(podman: Podman, run_labels: StackwrightLabels) -> None:
    spec = ContainerSpec(name=f"sw-itest-noimg-{os.getpid()}", labels=run_labels.as_dict(),
                         image="localhost/stackwright/no-such-image:1")
    with pytest.raises(NotFoundError, match="no-such-image") as err:
        podman.container_run(spec)
    assert "registry" in (err.value.hint or "")
