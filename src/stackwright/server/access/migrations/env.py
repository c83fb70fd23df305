from stackwright.core.state.domains import run_migrations
from stackwright.server.access.schema import PREFIX, metadata

run_migrations(metadata, PREFIX)
