"""The fast path that skips alembic must know the real head revision."""

from __future__ import annotations

from alembic.config import Config
from alembic.script import ScriptDirectory

from stackwright.core.state.codec import HEAD_REVISION
from stackwright.core.state.engine import MIGRATIONS


def test_head_revision_constant_matches_alembic_head() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD_REVISION]
