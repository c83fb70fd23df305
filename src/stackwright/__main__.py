"""``python -m stackwright``: the same as the ``stackwright`` command."""

from stackwright.cli.main import main

main()
