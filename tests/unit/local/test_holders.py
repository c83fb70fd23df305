"""Who holds a port: found through /proc, with the project directory of a Stackwright HAProxy."""

from __future__ import annotations

import os
import socket

from stackwright.local.holders import holder_of, port_holder


def test_the_process_listening_on_a_port_is_found() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        holder = port_holder(port)
        assert holder is not None and holder.pid == os.getpid()
        assert "python" in holder.describe()
    assert port_holder(port) is None  # closed: nobody


def test_an_haproxy_names_its_project_directory_and_environment() -> None:
    cmd = ("/usr/sbin/haproxy -W -D -f /home/ci/qs/.stackwright/run/dev/haproxy/edge/"
           "haproxy.cfg -p /home/ci/qs/.stackwright/run/dev/haproxy/edge/haproxy.pid")
    holder = holder_of(4242, cmd)
    assert (holder.project_dir, holder.env) == ("/home/ci/qs", "dev")
    assert holder.describe() == "haproxy (pid 4242) of environment dev in /home/ci/qs"
    assert holder_of(7, "nginx -g daemon off;").describe() == "nginx (pid 7)"
