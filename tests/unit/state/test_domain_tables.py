"""A domain's own tables in the state database: migrated to head, independent of others."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from stackwright.core.state.domains import migrate, open_domain_engine

ENV = '''
import sqlalchemy as sa
from stackwright.core.state.domains import run_migrations
metadata = sa.MetaData()
run_migrations(metadata, "{prefix}")
'''

VERSION = '''
import sqlalchemy as sa
from alembic import op
revision = "{prefix}0001"
down_revision = None
branch_labels = ("{prefix}",)
depends_on = None
def upgrade():
    op.create_table("{prefix}things", sa.Column("id", sa.Integer, primary_key=True))
'''


def _domain(root: Path, prefix: str) -> Path:
    folder = root / prefix
    (folder / "versions").mkdir(parents=True)
    (folder / "env.py").write_text(ENV.format(prefix=prefix))
    (folder / "versions" / f"{prefix}0001.py").write_text(VERSION.format(prefix=prefix))
    return folder


def test_two_domains_migrate_side_by_side(tmp_path: Path) -> None:
    engine = open_domain_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(engine, _domain(tmp_path, "alpha_"), "alpha_")
    migrate(engine, _domain(tmp_path, "beta_"), "beta_")
    migrate(engine, tmp_path / "alpha_", "alpha_")  # again: nothing to do
    tables = set(sa.inspect(engine).get_table_names())
    assert {"alpha_things", "beta_things", "alpha_alembic_version",
            "beta_alembic_version"} <= tables
    with engine.connect() as conn:
        assert conn.execute(sa.text("select version_num from alpha_alembic_version")
                            ).scalar_one() == "alpha_0001"
