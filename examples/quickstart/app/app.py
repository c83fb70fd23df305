"""The quickstart web app: a visit counter kept in Redis, a guestbook in PostgreSQL,
Prometheus metrics at /metrics and a health check at /healthz.

Configuration comes from what the platform gives the container: DATABASE_URL and REDIS_URL
(or, as the quickstart does, files named by /run/secrets/database_url and
/run/secrets/redis_url), PORT and REVISION. For trying canaries (docs/delivery.md):
ERROR_RATE, the share of requests (0 to 1) answered with 500, and EXTRA_LATENCY_MS, a delay
added to every answer; neither touches /healthz or /metrics, so a bad revision still passes
its health check and only analysis can catch it. Standard library HTTP server plus psycopg, redis
and prometheus-client (Debian's packages).
"""

from __future__ import annotations

import json
import os
import random
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import psycopg
import redis
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

REQUESTS = Counter("quickstart_requests_total", "HTTP requests", ["path", "code"])
LATENCY = Histogram("quickstart_request_seconds", "HTTP request latency", ["path"])
REVISION = os.environ.get("REVISION", "dev")
HOST = socket.gethostname()
ERROR_RATE = min(1.0, max(0.0, float(os.environ.get("ERROR_RATE", "0") or 0)))
EXTRA_LATENCY = max(0.0, float(os.environ.get("EXTRA_LATENCY_MS", "0") or 0)) / 1000


def setting(name: str) -> str:
    """``NAME`` from the environment, else the content of /run/secrets/<name>."""
    if name in os.environ:
        return os.environ[name]
    with open(f"/run/secrets/{name.lower()}") as handle:
        return handle.read().strip()


def cache() -> redis.Redis:
    return redis.Redis.from_url(setting("REDIS_URL"), socket_timeout=2)


def database() -> psycopg.Connection:
    return psycopg.connect(setting("DATABASE_URL"), connect_timeout=3, autocommit=True)


def migrate() -> None:
    with database() as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS guestbook ("
            " id serial PRIMARY KEY, name text NOT NULL, at timestamptz DEFAULT now())"
        )


class Handler(BaseHTTPRequestHandler):
    server_version = "quickstart/1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._route("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._route("POST")

    def _route(self, method: str) -> None:
        url = urlparse(self.path)
        started = time.monotonic()
        try:
            code, body, kind = self._dispatch(method, url.path, parse_qs(url.query))
        except Exception as exc:  # a dependency is down: say so, as a 503
            code, body, kind = 503, json.dumps({"error": str(exc)}).encode(), "application/json"
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        REQUESTS.labels(url.path, str(code)).inc()
        LATENCY.labels(url.path).observe(time.monotonic() - started)

    def _dispatch(self, method: str, path: str, query: dict[str, list[str]]
                  ) -> tuple[int, bytes, str]:
        if path == "/healthz":
            return 200, b"ok\n", "text/plain"
        if path == "/metrics":
            return 200, generate_latest(), CONTENT_TYPE_LATEST
        if EXTRA_LATENCY:
            time.sleep(EXTRA_LATENCY)
        if ERROR_RATE and random.random() < ERROR_RATE:
            return 500, b'{"error": "injected by ERROR_RATE"}\n', "application/json"
        if path == "/" and method == "GET":
            visits = cache().incr("visits")
            doc = {"visits": visits, "revision": REVISION, "host": HOST}
            return 200, json.dumps(doc).encode() + b"\n", "application/json"
        if path == "/guestbook" and method == "POST":
            name = query.get("name", ["anonymous"])[0][:100]
            with database() as conn:
                conn.execute("INSERT INTO guestbook (name) VALUES (%s)", (name,))
            return 201, b"signed\n", "text/plain"
        if path == "/guestbook":
            with database() as conn:
                rows = conn.execute("SELECT name FROM guestbook ORDER BY id").fetchall()
            return 200, json.dumps([r[0] for r in rows]).encode() + b"\n", "application/json"
        return 404, b"not found\n", "text/plain"

    def log_message(self, format: str, *args: object) -> None:
        return  # metrics say enough; keep the container log for errors


def main() -> None:
    for attempt in range(30):
        try:
            migrate()
            break
        except psycopg.OperationalError:
            time.sleep(1)
    port = int(os.environ.get("PORT", "8080"))
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
