"""Ports and socket paths on this machine: a free TCP port for a server the platform starts,
and a directory short enough to bind unix sockets in."""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
from pathlib import Path

from stackwright.errors import PermanentError


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on at this moment (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes, with room for the socket names used


def socket_dir(directory: Path) -> Path:
    """Where to bind unix sockets meant to live in ``directory``: ``directory`` itself, or,
    when its path is too long for a socket (108 bytes), a short symlink to it in
    $XDG_RUNTIME_DIR or the temp dir, named by a digest of the directory."""
    if len(str(directory / "master.sock")) <= MAX_SOCKET_PATH:
        return directory
    target = directory.resolve()
    digest = hashlib.sha256(str(target).encode()).hexdigest()[:16]
    link = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / f"sw-{digest}"
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return link
    if link.is_symlink():
        link.unlink()
    elif link.exists():
        raise PermanentError(f"{link} exists and is not Stackwright's socket link",
                             hint="remove it, or set XDG_RUNTIME_DIR to another directory")
    target.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target, target_is_directory=True)
    return link
