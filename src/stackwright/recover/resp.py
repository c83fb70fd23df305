"""A minimal Redis client (RESP2) for BGSAVE, INFO and drill checks: AUTH, one command, its
reply parsed (simple strings, errors, integers, bulk strings, arrays)."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

from stackwright.data.redis import encode


class Error(str):
    """An error reply (``-ERR …``)."""


def _read_line(buf: socket.SocketIO | Any) -> bytes:
    line: bytes = buf.readline()
    if not line:
        raise ConnectionError("Redis closed the connection")
    return line.rstrip(b"\r\n")


def _reply(buf: Any) -> Any:
    line = _read_line(buf)
    kind, rest = line[:1], line[1:]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        return Error(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        data: bytes = buf.read(size + 2)
        return data[:-2].decode(errors="replace")
    if kind == b"*":
        count = int(rest)
        return None if count < 0 else [_reply(buf) for _ in range(count)]
    raise ConnectionError(f"not a RESP reply: {line[:40]!r}")


def call(host: str, port: int, password: str | None, command: Sequence[str], *,
         timeout: float = 10.0) -> Any:
    """``AUTH password`` (when given) then ``command``; the command's reply."""
    with socket.create_connection((host, port), timeout=timeout) as conn:
        words = ([["AUTH", password]] if password else []) + [list(command)]
        conn.sendall(b"".join(encode(*w) for w in words))
        buf = conn.makefile("rb")
        if password:
            auth = _reply(buf)
            if isinstance(auth, Error):
                raise PermissionError(f"Redis refused AUTH: {auth}")
        return _reply(buf)


def info(host: str, port: int, password: str | None, section: str) -> dict[str, str]:
    text = str(call(host, port, password, ["INFO", section]))
    return {k: v.strip() for k, _, v in (ln.partition(":") for ln in text.splitlines())
            if v}
