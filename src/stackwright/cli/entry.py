"""The ``stackwright`` console script.

It first offers the command to the project's running daemon (:mod:`stackwright.cli.remote`,
standard library only), and only when the daemon does not take it imports the full CLI.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    from stackwright.cli.remote import try_run

    code = try_run(sys.argv[1:])
    if code is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # nothing else was loaded: no interpreter teardown is needed
    from stackwright.cli.main import main as full

    full()
