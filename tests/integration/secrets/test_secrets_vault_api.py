"""The Vault-compatible API through hvac, against a real uvicorn server on a free port."""

from __future__ import annotations

import http.client
import time
from pathlib import Path

import hvac
import hvac.exceptions as hx
import pytest
import requests
from secrets_vault_server import VaultServer

from stackwright.secrets.api import serve
from stackwright.secrets.audit import verify_audit_file
from stackwright.secrets.store import SecretsSettings, SecretsStore

pytestmark = pytest.mark.slow
KV = "secret"


def test_init_and_unseal_with_three_of_five(vault_server: VaultServer) -> None:
    client = vault_server.client()
    health = client.sys.read_health_status(method="GET")
    assert health.status_code == 501 and health.json()["initialized"] is False
    assert client.sys.is_initialized() is False
    result = client.sys.initialize(5, 3)
    assert len(result["keys"]) == 5 and len(result["keys_base64"]) == 5
    assert result["unseal_shares"] == 5 and result["unseal_threshold"] == 3
    assert client.sys.is_sealed()
    assert client.sys.read_health_status(method="GET").status_code == 503

    status = client.sys.submit_unseal_key(result["keys"][0])
    assert (status["sealed"], status["progress"], status["t"], status["n"]) == (True, 1, 3, 5)
    with pytest.raises(hx.InvalidRequest, match="not one of this store's key shares"):
        client.sys.submit_unseal_key("ab" * 33)
    assert client.sys.read_seal_status()["progress"] == 1
    status = client.sys.submit_unseal_key(result["keys_base64"][3])
    assert status["progress"] == 2
    status = client.sys.submit_unseal_key(result["keys"][4])
    assert status["sealed"] is False and status["progress"] == 0

    health = client.sys.read_health_status(method="GET")
    assert health["initialized"] is True and health["sealed"] is False
    with pytest.raises(hx.InvalidRequest, match="already initialized"):
        client.sys.initialize(1, 1)


def test_unseal_reset(vault_server: VaultServer) -> None:
    client = vault_server.client()
    keys = client.sys.initialize(3, 2)["keys"]
    assert client.sys.submit_unseal_key(keys[0])["progress"] == 1
    assert client.sys.submit_unseal_key(reset=True)["progress"] == 0
    assert client.sys.submit_unseal_keys(keys[1:])["sealed"] is False


def test_kv_v2_lifecycle(root_client: hvac.Client) -> None:
    kv = root_client.secrets.kv.v2
    first = kv.create_or_update_secret("app/db", {"password": "one"})
    assert first["data"]["version"] == 1
    kv.create_or_update_secret("app/db", {"password": "two"}, cas=1)
    with pytest.raises(hx.InvalidRequest, match="check-and-set parameter did not match"):
        kv.create_or_update_secret("app/db", {"password": "x"}, cas=1)

    latest = kv.read_secret_version("app/db", raise_on_deleted_version=True)
    assert latest["data"]["data"] == {"password": "two"}
    assert latest["data"]["metadata"]["version"] == 2
    old = kv.read_secret_version("app/db", version=1, raise_on_deleted_version=True)
    assert old["data"]["data"] == {"password": "one"}

    kv.delete_latest_version_of_secret("app/db")
    with pytest.raises(hx.InvalidPath):
        kv.read_secret_version("app/db", raise_on_deleted_version=True)
    deleted = kv.read_secret_version("app/db", raise_on_deleted_version=False)
    assert deleted["data"]["data"] is None
    assert deleted["data"]["metadata"]["deletion_time"] != ""
    kv.undelete_secret_versions("app/db", versions=[2])
    assert kv.read_secret(path="app/db")["data"]["data"] == {"password": "two"}

    kv.destroy_secret_versions("app/db", versions=[1])
    meta = kv.read_secret_metadata("app/db")["data"]
    assert meta["current_version"] == 2 and meta["versions"]["1"]["destroyed"] is True
    kv.delete_secret_versions("app/db", versions=[2])
    assert kv.read_secret_metadata("app/db")["data"]["versions"]["2"]["deletion_time"]

    kv.create_or_update_secret("app/api/key", {"k": "v"})
    kv.create_or_update_secret("top", {"k": "v"})
    assert kv.list_secrets("")["data"]["keys"] == ["app/", "top"]
    assert kv.list_secrets("app")["data"]["keys"] == ["api/", "db"]
    with pytest.raises(hx.InvalidPath):
        kv.list_secrets("nothing-here")

    kv.update_metadata("top", max_versions=2, custom_metadata={"owner": "team-a"})
    for i in range(3):
        kv.create_or_update_secret("top", {"i": str(i)})
    meta = kv.read_secret_metadata("top")["data"]
    assert meta["max_versions"] == 2 and meta["custom_metadata"] == {"owner": "team-a"}
    assert sorted(meta["versions"]) == ["3", "4"]

    kv.delete_metadata_and_all_versions("top")
    with pytest.raises(hx.InvalidPath):
        kv.read_secret_metadata("top")


def test_kv_config_and_cas_required(root_client: hvac.Client) -> None:
    kv = root_client.secrets.kv.v2
    kv.configure(max_versions=5, cas_required=True)
    config = kv.read_configuration()["data"]
    assert config["max_versions"] == 5 and config["cas_required"] is True
    with pytest.raises(hx.InvalidRequest, match="check-and-set parameter required"):
        kv.create_or_update_secret("c", {"a": "b"})
    kv.create_or_update_secret("c", {"a": "b"}, cas=0)
    kv.patch("c", {"x": "y"})
    assert kv.read_secret("c")["data"]["data"] == {"a": "b", "x": "y"}


def test_policies_deny_and_allow(root_client: hvac.Client, vault_server: VaultServer) -> None:
    kv = root_client.secrets.kv.v2
    kv.create_or_update_secret("app/db", {"password": "p"})
    kv.create_or_update_secret("ops/root", {"password": "r"})
    policy = """
    path "secret/data/app/*" { capabilities = ["read", "create", "update"] }
    path "secret/metadata/app/*" { capabilities = ["list", "read"] }
    path "secret/data/app/forbidden" { capabilities = ["deny"] }
    """
    root_client.sys.create_or_update_acl_policy("app", policy)
    assert "app" in root_client.sys.list_acl_policies()["data"]["keys"]
    assert "secret/data/app/*" in root_client.sys.read_acl_policy("app")["data"]["policy"]
    with pytest.raises(hx.InvalidRequest, match="line 3"):
        root_client.sys.create_or_update_acl_policy(
            "bad", 'path "a" {\n\n capabilities = [read]\n}'
        )

    token = root_client.auth.token.create(policies=["app"], ttl="1h")["auth"]["client_token"]
    app = vault_server.client(token)
    assert app.secrets.kv.v2.read_secret("app/db")["data"]["data"] == {"password": "p"}
    app.secrets.kv.v2.create_or_update_secret("app/new", {"v": "1"})
    with pytest.raises(hx.Forbidden):
        app.secrets.kv.v2.read_secret("ops/root")
    with pytest.raises(hx.Forbidden):
        app.secrets.kv.v2.create_or_update_secret("app/forbidden", {"v": "1"})
    with pytest.raises(hx.Forbidden):
        app.secrets.kv.v2.delete_metadata_and_all_versions("app/db")
    with pytest.raises(hx.Forbidden):
        app.sys.create_or_update_acl_policy("mine", 'path "*" { capabilities = ["sudo"] }')
    with pytest.raises(hx.Forbidden):
        app.sys.seal()
    raw = requests.get(
        f"{vault_server.url}/v1/secret/data/ops/root",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert raw.status_code == 403 and raw.json() == {"errors": ["permission denied"]}
    root_client.sys.delete_acl_policy("app")
    with pytest.raises(hx.Forbidden):
        app.secrets.kv.v2.read_secret("app/db")


def test_tokens_ttl_renew_revoke(root_client: hvac.Client, vault_server: VaultServer) -> None:
    created = root_client.auth.token.create(
        policies=["default"], ttl="2s", display_name="ci", meta={"team": "a"}, num_uses=0
    )["auth"]
    short = vault_server.client(created["client_token"])
    me = short.auth.token.lookup_self()["data"]
    assert me["display_name"] == "token-ci" and me["meta"] == {"team": "a"}
    assert me["policies"] == ["default"] and 0 < me["ttl"] <= 2
    assert me["accessor"] == created["accessor"]
    time.sleep(2.2)
    with pytest.raises(hx.Forbidden):
        short.auth.token.lookup_self()

    renewable = root_client.auth.token.create(policies=["default"], ttl="10s")["auth"]
    client = vault_server.client(renewable["client_token"])
    renewed = client.auth.token.renew_self(increment="1h")["auth"]
    assert renewed["lease_duration"] > 3000
    client.auth.token.revoke_self()
    with pytest.raises(hx.Forbidden):
        client.auth.token.lookup_self()

    other = root_client.auth.token.create(policies=["default"])["auth"]["client_token"]
    root_client.auth.token.revoke(other)
    assert not vault_server.client(other).is_authenticated()
    assert vault_server.client("hvs.bogus").is_authenticated() is False


def test_seal_makes_everything_503(root_client: hvac.Client, vault_server: VaultServer) -> None:
    root_client.secrets.kv.v2.create_or_update_secret("a", {"b": "c"})
    root_client.sys.seal()
    assert root_client.sys.is_sealed()
    with pytest.raises(hx.VaultDown):
        root_client.secrets.kv.v2.read_secret("a")
    with pytest.raises(hx.VaultDown):
        root_client.auth.token.lookup_self()
    health = root_client.sys.read_health_status(method="GET")
    assert health.status_code == 503 and health.json()["sealed"] is True


def test_no_plaintext_in_database_or_audit(
    root_client: hvac.Client, vault_server: VaultServer
) -> None:
    planted = "PLANTED-api-secret-4b1d7e"
    kv = root_client.secrets.kv.v2
    kv.create_or_update_secret("planted", {"password": planted})
    assert kv.read_secret("planted")["data"]["data"]["password"] == planted
    kv.update_metadata("planted", custom_metadata={"note": planted})
    token = root_client.auth.token.create(policies=["default"])["auth"]["client_token"]
    hashed = root_client.write_data("sys/audit-hash/file", data={"input": planted})
    db = b"".join(p.read_bytes() for p in vault_server.db_path.parent.glob("state.db*"))
    audit = vault_server.audit_path.read_bytes()
    assert len(db) > 0 and len(audit) > 0
    for secret in (planted, token, root_client.token):
        assert secret.encode() not in db
        assert secret.encode() not in audit
    assert hashed["data"]["hash"].encode() in audit  # found by its HMAC, never in clear
    assert verify_audit_file(vault_server.audit_path, vault_server.store.audit.head).ok


def test_unknown_route_bad_json_and_list_query(
    root_client: hvac.Client, vault_server: VaultServer
) -> None:
    headers = {"X-Vault-Token": root_client.token}
    missing = requests.get(f"{vault_server.url}/v1/nope/here", headers=headers, timeout=5)
    assert missing.status_code == 404 and "no handler" in missing.json()["errors"][0]
    bad = requests.put(
        f"{vault_server.url}/v1/secret/data/x", data="{not json", headers=headers, timeout=5
    )
    assert bad.status_code == 400 and bad.json()["errors"] == ["failed to parse JSON input"]
    root_client.secrets.kv.v2.create_or_update_secret("l/a", {"k": "v"})
    listed = requests.get(
        f"{vault_server.url}/v1/secret/metadata/l?list=true", headers=headers, timeout=5
    )
    assert listed.json()["data"]["keys"] == ["a"]
    absent = requests.get(f"{vault_server.url}/v1/secret/data/absent", headers=headers, timeout=5)
    assert absent.status_code == 404 and absent.json() == {"errors": []}


def test_audit_failure_fails_the_request(tmp_path: Path) -> None:
    settings = SecretsSettings(
        database_url=f"sqlite:///{tmp_path / 'state.db'}", audit_path=Path("/dev/full")
    )
    store = SecretsStore.open(settings)
    try:
        with serve(store) as running:
            client = hvac.Client(url=running.url)
            with pytest.raises(hx.InternalServerError, match="audit log could not be written"):
                client.sys.initialize(3, 2)
            assert store.status().initialized is False
            assert client.sys.read_health_status(method="GET").status_code == 501
    finally:
        store.close()


def test_idle_keep_alive_connection_is_kept(vault_server: VaultServer) -> None:
    """A pooled connection idle for longer than uvicorn's default 5 s is still served.

    With that default the server closed idle connections after 5 s, and a client reusing one
    at that moment saw "Remote end closed connection without response" (seen in CI).
    """
    conn = http.client.HTTPConnection(vault_server.url.removeprefix("http://"), timeout=10)
    try:
        for pause in (0.0, 6.5):
            time.sleep(pause)
            conn.request("GET", "/v1/sys/health")
            response = conn.getresponse()
            response.read()
            assert response.status == 501  # not initialized
            assert response.getheader("connection", "").lower() != "close"
        assert conn.sock is not None  # the same socket answered both
    finally:
        conn.close()
