"""A LoadBalancer's HAProxy sends a GET again to another server when the one it chose closed
the connection without answering (a replica killed while it held the request), and never
repeats a POST. Real HAProxy; one backend server answers, the other hangs up on every
request; no health check, so HAProxy keeps choosing both."""

from __future__ import annotations

import http.client
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackwright.ports import free_port
from stackwright.services.loadbalancer import render
from stackwright.tools.haproxy import (
    Backend,
    HaproxyConfig,
    HaproxyProcess,
    HttpFrontend,
    Server,
    Timeouts,
)

pytestmark = pytest.mark.slow


class _Answers(http.server.BaseHTTPRequestHandler):
    posts = 0

    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        self._ok()

    def do_POST(self) -> None:  # noqa: N802
        type(self).posts += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._ok()

    def _ok(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def _hang_up(listener: socket.socket, stop: threading.Event, seen: list[int]) -> None:
    """Accept, read the request, close without a byte of answer."""
    listener.settimeout(0.2)
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        with conn:
            conn.settimeout(2)
            try:
                conn.recv(65536)
            except OSError:
                pass
            seen.append(1)


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[tuple[int, list[int]]]:
    good = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    threading.Thread(target=good.serve_forever, daemon=True).start()
    bad = socket.socket()
    bad.bind(("127.0.0.1", 0))
    bad.listen(64)
    stop, hung_up = threading.Event(), []
    threading.Thread(target=_hang_up, args=(bad, stop, hung_up), daemon=True).start()
    port = free_port()
    backend = Backend("app", (Server("bad", "127.0.0.1", bad.getsockname()[1]),
                              Server("good", "127.0.0.1", good.server_address[1])),
                      health=None)
    config = HaproxyConfig(stats_socket=tmp_path / "stats.sock", backends=(backend,),
                           frontends=(HttpFrontend("web", f"127.0.0.1:{port}",
                                                   default_backend="app"),),
                           timeouts=Timeouts(connect="1s"))
    process = HaproxyProcess(tmp_path)
    process.start(render(config))
    try:
        yield port, hung_up
    finally:
        process.stop()
        stop.set()
        good.shutdown()
        bad.close()


def _request(port: int, method: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, "/", body=b"x" if method == "POST" else None,
                     headers={"Connection": "close"})
        return conn.getresponse().status
    finally:
        conn.close()


def test_get_is_sent_again_and_post_is_not(proxy: tuple[int, list[int]]) -> None:
    port, hung_up = proxy
    gets = [_request(port, "GET") for _ in range(10)]
    assert gets == [200] * 10
    assert hung_up, "the server that hangs up was chosen, and the GET went on to the other"
    _Answers.posts = 0
    posts = [_request(port, "POST") for _ in range(10)]
    assert 502 in posts and 200 in posts  # the hung-up ones fail: a POST is never repeated
    assert _Answers.posts == posts.count(200)
