"""HAProxy in front of two real containers: balancing, drain, hitless reload, metrics."""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from tools_itest_support import free_port, http_get

from stackwright.tools._proc import ToolError
from stackwright.tools.haproxy import (
    Backend,
    HaproxyConfig,
    HaproxyProcess,
    HaproxyRuntime,
    HttpCheck,
    HttpFrontend,
    Server,
    render_config,
)

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Proxy:
    process: HaproxyProcess
    runtime: HaproxyRuntime
    config: HaproxyConfig
    url: str
    metrics_url: str


def proxy_config(state: Path, port: int, metrics: int, servers: dict[str, int]) -> HaproxyConfig:
    backend = Backend("app", tuple(Server(name.rsplit("-", 1)[-1], "127.0.0.1", p)
                                   for name, p in sorted(servers.items())),
                      health=HttpCheck("/healthz"), check_interval="500ms")
    return HaproxyConfig(
        stats_socket=state / "stats.sock", backends=(backend,),
        frontends=(HttpFrontend("web", f"127.0.0.1:{port}", default_backend="app"),),
        prometheus_bind=f"127.0.0.1:{metrics}",
    )


@pytest.fixture
def proxy(tmp_path: Path, web_servers: dict[str, int]) -> Iterator[Proxy]:
    port, metrics = free_port(), free_port()
    config = proxy_config(tmp_path, port, metrics, web_servers)
    process = HaproxyProcess(tmp_path)
    process.start(render_config(config))
    try:
        yield Proxy(process, HaproxyRuntime(config.stats_socket), config,
                    f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{metrics}/metrics")
    finally:
        process.stop()
    assert not process.running()


def answers(url: str, count: int) -> Counter[str]:
    return Counter(http_get(url)[1].strip() for _ in range(count))


def test_balances_and_drains(proxy: Proxy, web_servers: dict[str, int]) -> None:
    assert set(answers(proxy.url, 10)) == set(web_servers)
    rows = {r.name: r for r in proxy.runtime.show_stat() if r.proxy == "app"}
    assert rows["a"].type == "server" and rows["a"].status == "UP"
    assert rows["a"].lb_total + rows["b"].lb_total >= 10

    proxy.runtime.set_state("app", "a", "drain")
    assert proxy.runtime.server("app", "a").status == "DRAIN"
    drained = answers(proxy.url, 10)
    assert set(drained) == {n for n in web_servers if n.endswith("-b")}

    proxy.runtime.set_state("app", "a", "ready")
    proxy.runtime.set_weight("app", "b", 0)
    assert proxy.runtime.server("app", "b").weight == 0
    assert set(answers(proxy.url, 6)) == {n for n in web_servers if n.endswith("-a")}


def test_refused_runtime_change_is_an_error(proxy: Proxy) -> None:
    with pytest.raises(Exception, match="No such server"):
        proxy.runtime.set_weight("app", "nobody", 5)


def request_loop(url: str, count: int, spacing: float, failures: list[str],
                 done: list[int]) -> None:
    for _ in range(count):
        try:
            http_get(url, timeout=2.0)
            done.append(1)
        except (OSError, urllib.error.URLError) as exc:
            failures.append(repr(exc))
        time.sleep(spacing)


def test_hitless_reload_under_load(proxy: Proxy) -> None:
    failures: list[str] = []
    done: list[int] = []
    loop = threading.Thread(target=request_loop, args=(proxy.url, 300, 0.008, failures, done))
    loop.start()
    workers = []
    for weight in (50, 100):
        time.sleep(0.8)
        backend = replace(proxy.config.backends[0], servers=tuple(
            replace(s, weight=weight) for s in proxy.config.backends[0].servers))
        proxy.process.reload(render_config(replace(proxy.config, backends=(backend,))))
        workers.append([p.pid for p in proxy.process.processes() if p.type == "worker"][0])
    loop.join(timeout=30)
    assert not loop.is_alive()
    assert failures == []
    assert len(done) == 300
    assert workers[0] != workers[1], "each reload starts a new worker"
    assert proxy.runtime.server("app", "a").weight == 100


def test_invalid_config_is_rejected_and_old_one_keeps_serving(proxy: Proxy) -> None:
    bad = render_config(proxy.config).replace("balance roundrobin", "balance nonsense")
    with pytest.raises(ToolError, match="invalid") as err:
        proxy.process.reload(bad)
    assert "balance only supports" in str(err.value)  # haproxy names the line and why
    assert http_get(proxy.url)[0] == 200


def test_invalid_config_at_start_says_what_haproxy_rejected(
        proxy: Proxy, tmp_path: Path) -> None:
    bad = render_config(proxy.config).replace("balance roundrobin", "balance nonsense")
    other = HaproxyProcess(tmp_path / "other")
    with pytest.raises(ToolError, match="invalid") as err:
        other.start(bad)
    assert "balance only supports" in str(err.value)
    assert not other.running()


def test_prometheus_exporter(proxy: Proxy) -> None:
    http_get(proxy.url)
    status, body = http_get(proxy.metrics_url)
    assert status == 200
    assert 'haproxy_backend_status{proxy="app",state="UP"} 1' in body
    assert 'haproxy_server_weight{proxy="app",server="a"}' in body


def test_start_on_a_taken_port_fails_clearly(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        config = proxy_config(tmp_path, port, free_port(), {"x-a": free_port()})
        process = HaproxyProcess(tmp_path)
        try:
            with pytest.raises(ToolError, match=str(port)):
                process.start(render_config(config), timeout=5)
        finally:
            process.stop()
    assert not process.running()
