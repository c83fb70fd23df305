"""Who may do what on the daemon: users, API tokens, roles per environment, sessions.

- :mod:`.roles`: the four roles and what each route needs.
- :mod:`.store`: users, grants, tokens and sessions in the state database (``access_*``
  tables, their own Alembic folder and version table).
- :mod:`.guard`: the ASGI middleware that authenticates every request to the daemon (but
  Vault's API under ``/v1``, which keeps its own tokens), checks the role, CSRF and the login
  rate limit, and audits every change with its actor.
"""
