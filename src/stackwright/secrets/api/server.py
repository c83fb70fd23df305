"""Serve the Vault-compatible API with uvicorn in a background thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from stackwright.errors import SecretsError
from stackwright.ports import free_port
from stackwright.secrets.api.app import create_vault_app
from stackwright.secrets.store import SecretsStore
from stackwright.server.http import uvicorn_config


@dataclass(frozen=True)
class RunningServer:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@contextmanager
def serve(store: SecretsStore, host: str = "127.0.0.1", port: int = 0) -> Iterator[RunningServer]:
    """Run the API until the block ends; ``port=0`` picks a free port."""
    config = uvicorn_config(create_vault_app(store), host, port or free_port(host))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="secrets-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise SecretsError(f"the secrets API did not start on {host}:{config.port}")
        time.sleep(0.02)
    try:
        yield RunningServer(host, config.port)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
