"""How the platform's HTTP servers are run with uvicorn.

Idle keep-alive connections are kept for ``idle_timeout`` seconds (Vault's ``http_idle_timeout``
defaults to five minutes; uvicorn's own default of five seconds races with clients that reuse a
pooled connection just as the server closes it, and the client sees the connection dropped).
The ``h11`` parser is used because it accepts Vault's ``LIST`` method.
"""

from __future__ import annotations

from typing import Any

DEFAULT_IDLE_TIMEOUT = 300.0


def uvicorn_config(app: Any, host: str, port: int, *,
                   idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
                   tls: tuple[Any, Any] = (None, None)) -> Any:
    import uvicorn

    cert, key = tls
    return uvicorn.Config(app, host=host, port=port, http="h11", lifespan="off",
                          log_level="warning", timeout_keep_alive=int(max(1, idle_timeout)),
                          ssl_certfile=str(cert) if cert else None,
                          ssl_keyfile=str(key) if key else None)
