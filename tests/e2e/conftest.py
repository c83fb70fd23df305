"""The CLI fixtures live in tests/fixtures/cli.py (shared with the integration tests)."""

from tests.fixtures.cli import Project, Result

__all__ = ["Project", "Result"]
