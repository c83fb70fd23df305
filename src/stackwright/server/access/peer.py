"""Which local user opened a loopback TCP connection: the kernel's socket table
(``/proc/net/tcp``, ``tcp6``) lists each socket with its owner's uid. The daemon trusts its
own user on this machine as it does on its unix socket (``cli.sock``, mode 0600): that user
can read the state database and its key anyway."""

from __future__ import annotations

_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")


def peer_uid(client_port: int, server_port: int) -> int | None:
    """The uid owning the socket whose local port is ``client_port`` and remote port
    ``server_port``, or None when none is found."""
    for table in _TABLES:
        try:
            with open(table) as handle:
                next(handle, None)
                for line in handle:
                    uid = _match(line.split(), client_port, server_port)
                    if uid is not None:
                        return uid
        except OSError:
            continue
    return None


def _match(fields: list[str], client_port: int, server_port: int) -> int | None:
    if len(fields) < 8:
        return None
    local, remote = fields[1], fields[2]
    try:
        if (int(local.rsplit(":", 1)[1], 16) == client_port
                and int(remote.rsplit(":", 1)[1], 16) == server_port):
            return int(fields[7])
    except (IndexError, ValueError):
        return None
    return None
