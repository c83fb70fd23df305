"""The daemon's own settings in stackwright.yaml (``settings.server``)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from stackwright.server.daemon import DaemonError, _idle_timeout
from stackwright.server.http import DEFAULT_IDLE_TIMEOUT, uvicorn_config


def _engine(settings: dict[str, Any]) -> Any:
    return SimpleNamespace(config=SimpleNamespace(settings=settings))


def test_idle_timeout_defaults_to_vaults_five_minutes() -> None:
    assert _idle_timeout(_engine({})) == DEFAULT_IDLE_TIMEOUT == 300.0
    assert _idle_timeout(_engine({"server": {"idleTimeout": 30}})) == 30.0
    config = uvicorn_config(object(), "127.0.0.1", 1, idle_timeout=42.5)
    assert config.timeout_keep_alive == 42 and config.http == "h11"


@pytest.mark.parametrize("value", [0, -1, "5m", True, None])
def test_bad_idle_timeout_names_the_field(value: object) -> None:
    with pytest.raises(DaemonError) as caught:
        _idle_timeout(_engine({"server": {"idleTimeout": value}}))
    assert "settings.server.idleTimeout" in str(caught.value)
    assert caught.value.hint


@pytest.mark.parametrize(("key", "value"), [("protected", "prod"), ("protected", [1]),
                                            ("hostnames", "a.example"), ("localTrust", "no")])
def test_bad_access_settings_name_the_field(key: str, value: object) -> None:
    from stackwright.server.app import check_access_settings

    with pytest.raises(DaemonError) as caught:
        check_access_settings({key: value})
    assert f"settings.server.{key}" in str(caught.value) and caught.value.hint
    check_access_settings({"protected": ["live"], "hostnames": [], "localTrust": False})
