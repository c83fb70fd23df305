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


def test_processes_opening_at_once_migrate_one_after_the_other(tmp_path: Path) -> None:
    """Without the lock, two processes both saw no version table and both ran CREATE TABLE
    ("table … already exists")."""
    import subprocess
    import sys

    folder = _domain(tmp_path, "gamma_")
    url = f"sqlite:///{tmp_path / 'state.db'}"
    code = ("import sys; from pathlib import Path; "
            "from stackwright.core.state.domains import migrate, open_domain_engine; "
            f"migrate(open_domain_engine({url!r}), Path({str(folder)!r}), 'gamma_')")
    procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
             for _ in range(6)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors
    assert "gamma_things" in sa.inspect(open_domain_engine(url)).get_table_names()


def test_threads_of_one_process_migrate_domains_side_by_side(tmp_path: Path) -> None:
    """Alembic keeps the running migration in module-level proxies: the daemon's components
    migrating in threads at once used each other's context (KeyError: 'config')."""
    from concurrent.futures import ThreadPoolExecutor

    prefixes = [f"t{i}_" for i in range(6)]
    folders = {p: _domain(tmp_path, p) for p in prefixes}
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with ThreadPoolExecutor(len(prefixes)) as pool:
        list(pool.map(lambda p: migrate(open_domain_engine(url), folders[p], p), prefixes))
    tables = set(sa.inspect(open_domain_engine(url)).get_table_names())
    assert {f"{p}things" for p in prefixes} <= tables
