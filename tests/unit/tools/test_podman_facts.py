"""Parsers of podman's JSON, and the error translation, on output captured from podman 4.3."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from stackwright.tools import podman_facts as facts
from stackwright.tools._proc import NotFoundError, PortInUseError, ToolError
from stackwright.tools.podman import (
    ContainerSpec,
    HealthCheck,
    NetworkAttachment,
    PodmanSettings,
    PortMapping,
    StackwrightLabels,
    VolumeMount,
    render_containers_conf,
    run_args,
)

DATA = Path(__file__).parent / "data"


def read(name: str) -> str:
    return (DATA / name).read_text()


def test_running_container_inspect() -> None:
    [c] = facts.parse_container_inspect(read("container-inspect.json"))
    assert c.name == "swexp-c1"
    assert c.running and c.status == "running"
    assert c.health == "starting"
    assert c.ips == {"swexp-net": "10.89.77.2"}
    assert c.aliases["swexp-net"][0] == "web"
    assert c.ports == (facts.PublishedPort("127.0.0.1", 18080, 8080, "tcp"),)
    assert c.labels["dev.stackwright.project"] == "exp"
    assert c.restart_policy == "on-failure"
    assert c.started_at == datetime(2026, 11, 28, 17, 45, 48, 937980, tzinfo=UTC)
    assert c.finished_at is None


def test_stopped_container_inspect() -> None:
    [c] = facts.parse_container_inspect(read("container-inspect-stopped.json"))
    assert not c.running
    assert c.status == "exited"
    assert c.exit_code == 137
    assert c.health == "healthy"
    assert c.finished_at is not None and c.started_at is not None
    assert c.finished_at > c.started_at


def test_container_list() -> None:
    [row] = facts.parse_container_list(read("ps.json"))
    assert (row.name, row.state, row.networks) == ("swexp-c1", "running", ("swexp-net",))
    assert row.labels["a"] == "b"
    assert facts.parse_container_list("[]") == []


def test_image_inspect() -> None:
    [img] = facts.parse_image_inspect(read("image-inspect.json"))
    assert img.id.startswith("dc96ff45f47c")
    assert img.tags == ("localhost/bbtest:1",)
    assert img.cmd == ("/bin/sh",)


def test_network_and_volume_inspect() -> None:
    [net] = facts.parse_network_inspect(read("network-inspect.json"))
    assert net.subnets == (facts.Subnet("10.89.77.0/24", "10.89.77.1"),)
    assert net.labels == {"dev.stackwright.project": "exp"} and net.dns_enabled
    [vol] = facts.parse_volume_inspect(read("volume-inspect.json"))
    assert vol.name == "swexp-vol" and vol.mountpoint.endswith("/swexp-vol/_data")


@pytest.mark.parametrize(
    ("stderr", "kind", "needle"),
    [
        ("Error: cannot listen on the TCP port: listen tcp4 127.0.0.1:18080: bind: "
         "address already in use", PortInUseError, "18080"),
        ("Error: unable to find network with name or ID nonexist-net: network not found",
         NotFoundError, "create the network"),
        ("Error: localhost/nonexist:1: image not known", NotFoundError, "no registry"),
        ('Error: no container with name or ID "x" found: no such container', NotFoundError,
         "container"),
        ("Error: something else broke", ToolError, "podman run"),
    ],
)
def test_classify_failure(stderr: str, kind: type[ToolError], needle: str) -> None:
    noise = "failed to connect to syslog: Initialization\n"
    err = facts.classify_failure(["podman", "run", "x"], noise + stderr, "run of container x")
    assert type(err) is kind
    assert needle in str(err)
    assert "syslog" not in err.message


def test_port_in_use_names_the_port() -> None:
    err = facts.classify_failure(
        ["podman"], "Error: listen tcp4 127.0.0.1:8443: bind: address already in use", "run")
    assert isinstance(err, PortInUseError) and err.port == 8443
    assert "8443" in (err.hint or "")


def test_run_args_golden() -> None:
    spec = ContainerSpec(
        name="web-1", image="localhost/app:1", command=("httpd", "-f"),
        env={"B": "2", "A": "1"}, ports=(PortMapping(8081, 8080),), cpus=0.5, memory="64m",
        volumes=(VolumeMount("data", "/data", read_only=True),),
        networks=(NetworkAttachment("net", ("web", "api")),),
        labels=StackwrightLabels("shop", "dev", "web").as_dict(), restart="on-failure:3",
        health=HealthCheck("wget -q -O- http://127.0.0.1:8080/healthz", interval="1s"),
        tmpfs=("/tmp",), init=True,
    )
    assert run_args(spec) == [
        "run", "-d", "--pull", "never", "--name", "web-1", "--env", "A=1", "--env", "B=2",
        "--publish", "127.0.0.1:8081:8080/tcp", "--volume", "data:/data:ro",
        "--network", "net:alias=web:alias=api",
        "--label", "dev.stackwright.env=dev", "--label", "dev.stackwright.project=shop",
        "--label", "dev.stackwright.resource=web", "--tmpfs", "/tmp",
        "--cpus", "0.5", "--memory", "64m", "--restart", "on-failure:3", "--init",
        "--health-cmd", "wget -q -O- http://127.0.0.1:8080/healthz", "--health-interval", "1s",
        "--health-timeout", "3s", "--health-retries", "3", "--health-start-period", "0s",
        "localhost/app:1", "httpd", "-f",
    ]


def test_containers_conf() -> None:
    assert render_containers_conf(PodmanSettings()) == (
        "[containers]\n"
        'default_ulimits = ["nofile=16384:16384", "nproc=16384:16384"]\n'
        "[engine]\n"
        'runtime = "runc"\n'
    )
    assert "runtime" not in render_containers_conf(PodmanSettings(runtime=None))


def test_labels_skip_missing_parts() -> None:
    assert StackwrightLabels(project="p").as_dict() == {"dev.stackwright.project": "p"}
