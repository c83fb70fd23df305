"""Helpers shared by the tools' integration tests."""

from __future__ import annotations

import time
import urllib.request

from stackwright.ports import free_port  # noqa: F401 - the tests import it from here
from stackwright.tools.podman import (
    ContainerSpec,
    HealthCheck,
    NetworkAttachment,
    PortMapping,
    StackwrightLabels,
)


def http_get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status, resp.read().decode()


def wait_http(url: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return http_get(url)[1]
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def web_spec(name: str, image: str, port: int, network: str, labels: StackwrightLabels) -> (
        ContainerSpec):
    return ContainerSpec(
        name=name, image=image, env={"NAME": name}, ports=(PortMapping(port, 8080),),
        networks=(NetworkAttachment(network, (name.rsplit("-", 1)[-1],)),),
        labels=StackwrightLabels(labels.project, labels.env, name).as_dict(),
        cpus=0.5, memory="64m", restart="on-failure:3", tmpfs=("/tmp",), init=True,
        health=HealthCheck("wget -q -O /dev/null http://127.0.0.1:8080/healthz", interval="1s"),
    )
