"""HAProxy config rendering (golden text), and parsing of the runtime API's answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackwright.tools.haproxy import (
    Backend,
    HaproxyConfig,
    HttpCheck,
    HttpFrontend,
    Route,
    Server,
    TcpCheck,
    TcpFrontend,
    parse_show_proc,
    parse_show_stat,
    render_config,
)

DATA = Path(__file__).parent / "data"

GOLDEN = """\
global
    stats socket /run/sw/stats.sock mode 600 level admin expose-fd listeners
    stats timeout 30s
    maxconn 4096
    hard-stop-after 30s
    httpclient.ssl.verify none
    noreuseport

defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    timeout check 2s

frontend web
    mode http
    bind 127.0.0.1:8080
    option forwardfor
    http-request disable-l7-retry unless { method GET HEAD OPTIONS }
    acl route0_host req.hdr(host),field(1,:) -m str -i api.example.com
    acl route0_path path_beg /v1
    use_backend api if route0_host route0_path
    acl route1_host req.hdr(host),field(1,:) -m str -i shop.example.com
    use_backend shop if route1_host
    default_backend shop

frontend pg
    mode tcp
    bind 127.0.0.1:15432
    default_backend pg

frontend prometheus
    mode http
    bind 127.0.0.1:9101
    no log
    http-request use-service prometheus-exporter if { path /metrics }

backend api
    mode http
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    default-server inter 2s rise 2 fall 3
    server a1 10.89.0.2:8080 weight 100 check
    server a2 10.89.0.3:8080 weight 50 check backup

backend shop
    mode http
    balance leastconn
    default-server inter 2s rise 2 fall 3 init-addr last,libc,none
    server web-1 web-1.dns.podman:8080 weight 100

backend pg
    mode tcp
    balance roundrobin
    default-server inter 1s rise 2 fall 3
    server db 127.0.0.1:5432 weight 100 check
"""


def sample() -> HaproxyConfig:
    return HaproxyConfig(
        stats_socket=Path("/run/sw/stats.sock"),
        frontends=(
            HttpFrontend("web", "127.0.0.1:8080", routes=(
                Route("api", host="api.example.com", path_prefix="/v1"),
                Route("shop", host="shop.example.com"),
            ), default_backend="shop"),
            TcpFrontend("pg", "127.0.0.1:15432", "pg"),
        ),
        backends=(
            Backend("api", (Server("a1", "10.89.0.2", 8080),
                            Server("a2", "10.89.0.3", 8080, weight=50, backup=True))),
            Backend("shop", (Server("web-1", "web-1.dns.podman", 8080),), balance="leastconn",
                    health=None),
            Backend("pg", (Server("db", "127.0.0.1", 5432),), mode="tcp", health=TcpCheck(),
                    check_interval="1s"),
        ),
        prometheus_bind="127.0.0.1:9101",
    )


def test_render_golden() -> None:
    assert render_config(sample()) == GOLDEN


def test_render_is_deterministic_and_reuseport_optional() -> None:
    cfg = sample()
    assert render_config(cfg) == render_config(cfg)
    assert "noreuseport" not in render_config(HaproxyConfig(Path("/s"), reuseport=True))


def test_http_check_without_expect() -> None:
    text = render_config(HaproxyConfig(Path("/s"), backends=(
        Backend("b", (Server("s", "127.0.0.1", 1),), health=HttpCheck("/ready", None)),)))
    assert "option httpchk GET /ready\n" in text
    assert "http-check expect" not in text


def test_parse_show_stat() -> None:
    rows = parse_show_stat((DATA / "show-stat.txt").read_text())
    assert [(r.proxy, r.name, r.type) for r in rows] == [
        ("web", "FRONTEND", "frontend"), ("prom", "FRONTEND", "frontend"),
        ("app", "s1", "server"), ("app", "BACKEND", "backend"),
    ]
    server = rows[2]
    assert (server.status, server.weight, server.check_status) == ("UP", 100, "L7OK")
    assert server.address == "127.0.0.1:18080"


def test_parse_show_stat_rejects_other_text() -> None:
    with pytest.raises(ValueError, match="not a show stat"):
        parse_show_stat("Unknown command\n")


def test_parse_show_proc() -> None:
    procs = parse_show_proc((DATA / "show-proc.txt").read_text())
    assert [(p.pid, p.type, p.reloads, p.failed) for p in procs] == [
        (10972, "master", 1, 0), (10980, "worker", 0, 0),
    ]
