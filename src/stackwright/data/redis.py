"""Redis, as the ``Cache`` driver runs it: the entry script, the server's arguments, a minimal
RESP client for the health check, and URLs.

The password is given to the server as an ACL rule holding its SHA-256 (``#<hex>``), so the
command line ``podman inspect`` shows never holds the password itself.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Sequence
from urllib.parse import quote

DATA_DIR = "/data"  # where the volume is mounted
REDIS_DIR = f"{DATA_DIR}/redis"
CONTAINER_PORT = 6379

ENTRY_SCRIPT = f"""set -eu
mkdir -p {REDIS_DIR} && chown redis:redis {REDIS_DIR} && chmod 700 {REDIS_DIR}
exec setpriv --reuid=redis --regid=redis --init-groups redis-server "$@"
"""


def password_rule(password: str) -> str:
    """The ACL rule that sets ``password`` by its hash."""
    return "#" + hashlib.sha256(password.encode()).hexdigest()


def server_args(password: str, *, maxmemory: str | None, policy: str,
                appendonly: bool) -> list[str]:
    """``redis-server`` arguments: data in the volume, every interface, the default user
    with only this password."""
    args = ["--dir", REDIS_DIR, "--port", str(CONTAINER_PORT), "--bind", "0.0.0.0",
            "--appendonly", "yes" if appendonly else "no", "--appendfsync", "everysec",
            "--maxmemory-policy", policy]
    if maxmemory is not None:
        args += ["--maxmemory", maxmemory.lower()]
    return [*args, "--user", "default", "reset", "on", password_rule(password), "~*", "&*",
            "+@all"]


def encode(*words: str) -> bytes:
    """One command in RESP: an array of bulk strings."""
    out = [f"*{len(words)}\r\n".encode()]
    for word in words:
        data = word.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def simple_replies(data: bytes) -> list[str]:
    """The simple-string (``+OK``) and error (``-ERR …``) replies in ``data``, in order."""
    return [line.decode(errors="replace") for line in data.split(b"\r\n")
            if line[:1] in (b"+", b"-")]


def ping(host: str, port: int, password: str, *, timeout: float = 3.0) -> list[str]:
    """``AUTH`` then ``PING`` over TCP; the two replies (``+OK``, ``+PONG`` when healthy)."""
    return command_replies(host, port, [["AUTH", password], ["PING"]], timeout=timeout)


def command_replies(host: str, port: int, commands: Sequence[Sequence[str]], *,
                    timeout: float = 3.0) -> list[str]:
    """Send ``commands`` pipelined; the simple replies, once one per command has come."""
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.sendall(b"".join(encode(*c) for c in commands))
        received = b""
        while len(simple_replies(received)) < len(commands):
            chunk = conn.recv(4096)
            if not chunk:
                break
            received += chunk
    return simple_replies(received)


def url(password: str, host: str, port: int, db: int = 0) -> str:
    return f"redis://:{quote(password, safe='')}@{host}:{port}/{db}"
