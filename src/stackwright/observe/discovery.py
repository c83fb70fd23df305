"""Scrape targets from what runs: file-based service discovery for Prometheus.

Observing is I/O (podman's containers of the project, the recorded load balancers, a probe
of each replica's ports for ``/metrics``); turning that into target groups is pure
(:func:`service_targets`). Files are written atomically and only when they change;
Prometheus watches them, so targets follow deploys, scaling and rollouts without a reload.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackwright.services.replicas import LABEL_INDEX, LABEL_REVISION, LABEL_SERVICE
from stackwright.tools import podman_facts as facts
from stackwright.tools.podman import LABEL_RESOURCE, Podman
from stackwright.tools.prometheus import http_get

TargetGroup = dict[str, Any]  # {"targets": [...], "labels": {...}}


@dataclass(frozen=True)
class ReplicaTarget:
    """A service replica's published port that answers ``/metrics``."""

    service: str
    revision: str
    replica: str
    container: str
    address: str  # host:port


def service_name(labels: Mapping[str, str]) -> str:
    """The service's name from its resource label (``Service/web`` → ``web``)."""
    resource = labels.get(LABEL_RESOURCE, "")
    return resource.split("/", 1)[1] if "/" in resource else labels.get(LABEL_SERVICE, "")


def replica_addresses(info: facts.ContainerInfo) -> list[str]:
    """Every published TCP port of a running replica, as host:port on loopback."""
    if not info.running:
        return []
    return [f"{_host(p.host_ip)}:{p.host_port}" for p in info.ports if p.protocol == "tcp"]


def _host(ip: str) -> str:
    return "127.0.0.1" if ip in ("", "0.0.0.0") else ip  # noqa: S104 (reading, not binding)


def service_targets(environment: str, replicas: Iterable[ReplicaTarget]) -> list[TargetGroup]:
    """One target group per replica (its labels differ), sorted for stable files."""
    groups = [{"targets": [r.address],
               "labels": {"service": r.service, "environment": environment,
                          "revision": r.revision, "replica": r.replica,
                          "container": r.container}}
              for r in replicas]
    return sorted(groups, key=lambda g: (g["labels"]["service"], g["labels"]["replica"],
                                         g["labels"]["revision"], g["targets"][0]))


def static_targets(job_labels: Mapping[str, str], addresses: Iterable[str]) -> list[TargetGroup]:
    found = sorted(set(addresses))
    return [{"targets": found, "labels": dict(job_labels)}] if found else []


@dataclass
class MetricsProbe:
    """Remembers which (container, address) answered ``/metrics``: each is probed once
    while its container lives (a replica is replaced, never changed, by a deploy)."""

    get: Callable[[str], tuple[int, bytes]] = field(
        default=lambda url: http_get(url, timeout=2.0))
    seen: dict[tuple[str, str], bool] = field(default_factory=dict)

    def exposes(self, container: str, address: str) -> bool:
        key = (container, address)
        if key not in self.seen:
            status, body = self.get(f"http://{address}/metrics")
            self.seen[key] = status == 200 and _looks_like_metrics(body)
        return self.seen[key]

    def forget_except(self, containers: set[str]) -> None:
        self.seen = {k: v for k, v in self.seen.items() if k[0] in containers}


def _looks_like_metrics(body: bytes) -> bool:
    text = body[:4096].decode(errors="replace")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return bool(lines) and all(ln.startswith("#") or " " in ln for ln in lines[:20])


def observe_replicas(podman: Podman, selector: Mapping[str, str],
                     probe: MetricsProbe) -> list[ReplicaTarget]:
    """The running replicas of the project's services whose ports serve metrics;
    ``selector``: the labels of this checkout's project environment (``local.checkout_selector``),
    so that another checkout's replicas are never scraped as ours."""
    summaries = podman.container_list(selector, stopped=False)
    names = [s.name for s in summaries if LABEL_SERVICE in s.labels]
    if not names:
        probe.forget_except(set())
        return []
    done = podman.probe(["container", "inspect", *names])
    infos = facts.parse_container_inspect(done.stdout) if done.stdout.strip() else []
    probe.forget_except({i.name for i in infos})
    found = []
    for info in infos:
        for address in replica_addresses(info):
            if probe.exposes(info.name, address):
                found.append(ReplicaTarget(service_name(info.labels),
                                           info.labels.get(LABEL_REVISION, ""),
                                           info.labels.get(LABEL_INDEX, ""), info.name,
                                           address))
    return found


def write_targets(path: Path, groups: list[TargetGroup]) -> bool:
    """Write the target file if its content changed (atomically); True if it did."""
    text = json.dumps(groups, indent=1, sort_keys=True) + "\n"
    try:
        if path.read_text() == text:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return True
