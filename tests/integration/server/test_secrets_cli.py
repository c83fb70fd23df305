"""``stackwright secrets`` against the daemon: init, unseal K of N, put, get masked and
revealed, history, rotate, list, delete, seal."""

from __future__ import annotations

import pytest
from tests.fixtures.cli import Project

pytestmark = pytest.mark.slow

VALUE = "cli-planted-secret-4471"


def test_secrets_cli_round_trip(project: Project) -> None:
    assert project.run("up").code == 0
    try:
        init = project.run("secrets", "init", "--shares", "3", "--threshold", "2", "-o", "json")
        assert init.code == 0, init.err
        doc = init.json()
        assert doc["unseal_shares"] == 3 and len(doc["unseal_keys_b64"]) == 3
        wrong = project.run("secrets", "unseal", "bm90LWEtc2hhcmU=")
        assert wrong.code == 1
        for key in doc["unseal_keys_b64"][:2]:
            assert project.run("secrets", "unseal", key).code == 0
        status = project.run("secrets", "status", "-o", "json").json()
        assert status["sealed"] is False
        project.env["STACKWRIGHT_TOKEN"] = doc["root_token"]

        put = project.run("secrets", "put", "app/db", f"password={VALUE}", "user=app")
        assert put.code == 0, put.err
        masked = project.run("secrets", "get", "app/db")
        assert VALUE not in masked.out and "password = ********" in masked.out
        revealed = project.run("secrets", "get", "app/db", "--reveal", "-o", "json").json()
        assert revealed["data"] == {"password": VALUE, "user": "app"}

        conflict = project.run("secrets", "put", "app/db", "user=x", "--cas", "0")
        assert conflict.code == 1 and "check-and-set" in conflict.err

        rotated = project.run("secrets", "rotate", "app/db", "password", "-o", "json").json()
        assert rotated["version"] == 2
        now = project.run("secrets", "get", "app/db", "--reveal", "-o", "json").json()
        assert now["data"]["user"] == "app" and now["data"]["password"] != VALUE
        assert len(now["data"]["password"]) == 32
        history = project.run("secrets", "history", "app/db")
        assert "v1:" in history.out and "v2:" in history.out and VALUE not in history.out

        assert project.run("secrets", "list", "-o", "json").json() == ["app/"]
        assert project.run("secrets", "delete", "app/db").code == 0
        gone = project.run("secrets", "get", "app/db")
        assert gone.code == 1 and "404" in gone.err

        assert project.run("secrets", "seal").code == 0
        sealed = project.run("secrets", "get", "app/db")
        assert sealed.code == 1 and "503" in sealed.err
        for path in (project.root / ".stackwright").rglob("*"):
            if path.is_file():
                assert VALUE.encode() not in path.read_bytes(), path
    finally:
        project.run("down")
