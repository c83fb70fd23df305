"""Every policy unit test runs on both Rego engines: regorus (the default evaluator) and
regopy (rego-cpp), so a rule that one of them reads differently fails here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stackwright.policy.rego import ENGINE_ENV


@pytest.fixture(autouse=True, params=["regorus", "regopy"])
def rego_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
                ) -> Iterator[str]:
    monkeypatch.setenv(ENGINE_ENV, request.param)
    yield str(request.param)
