"""The ``stackwright`` console script.

With ``STACKWRIGHT_ADDR`` set it runs the command on that daemon
(:mod:`stackwright.cli.remote_http`). Otherwise it first offers the command to the project's
running daemon (:mod:`stackwright.cli.remote`,
standard library only), then to the quick path (:mod:`stackwright.cli.quick`: ``validate``
and ``plan`` without typer), and only when neither takes it imports the full CLI.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    from stackwright.cli.remote import try_run

    code = None
    if os.environ.get("STACKWRIGHT_ADDR"):
        from stackwright.cli.remote_http import try_remote

        code = try_remote(sys.argv[1:], os.environ)
    if code is None:
        code = try_run(sys.argv[1:])
    if code is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # nothing else was loaded: no interpreter teardown is needed
    quick(sys.argv[1:])
    from stackwright.cli.main import main as full

    full()


def quick(argv: list[str]) -> None:
    """Run ``argv`` on the quick path and end the process, or return for the full CLI."""
    import gc

    from stackwright.cli import quick as fast

    if fast.parse(argv, os.environ) is None or os.environ.get(fast.OPT_OUT_ENV) == "0":
        return
    gc.set_threshold(100_000, 50, 100)  # as the full CLI does (cli.main.main)
    code = fast.try_run(argv, os.environ)
    if code is None:
        return
    from stackwright.cli.options import leave

    leave(code)
