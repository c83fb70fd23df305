"""``stackwright secrets …``: the secrets store through its Vault-compatible HTTP API.

The address is ``--addr``, else STACKWRIGHT_ADDR, else VAULT_ADDR, else the daemon of the
project and environment (``stackwright up``). The token is ``--token``, else
STACKWRIGHT_TOKEN, else VAULT_TOKEN. Values are masked unless ``--reveal``.
"""

from __future__ import annotations

import secrets as pysecrets
import string
from typing import Annotated, Any

import typer

from stackwright.cli.main import Options, _options, emit_json, printer, run
from stackwright.errors import SecretsError
from stackwright.secure.vault import VaultClient, find_addr, find_token

secrets_app = typer.Typer(help="Keep secrets: init, unseal, put, get, list, rotate.",
                          no_args_is_help=True)
ADDR = typer.Option("--addr", help="API address (default: the project's daemon).")
TOKEN = typer.Option("--token", help="Token (or STACKWRIGHT_TOKEN / VAULT_TOKEN).")
MASK = "********"


def register(app: typer.Typer) -> None:
    app.add_typer(secrets_app, name="secrets")


def _addr(opts: Options, addr: str | None) -> str:
    if addr:
        return addr
    from stackwright.cli.main import engine

    eng = engine(opts)
    info = find_addr(eng.root, eng.environment)
    if info is None:
        raise SecretsError("no secrets API address",
                           hint="start the daemon (`stackwright up`) or pass --addr")
    return info


def _client(opts: Options, addr: str | None, token: str | None) -> VaultClient:
    return VaultClient(_addr(opts, addr), token or find_token())


def _show(opts: Options, doc: Any, lines: list[str]) -> None:
    if opts.json:
        emit_json(doc)
        return
    out = printer(opts)
    for line in lines:
        out.line(line)


@secrets_app.command("status")
def status(ctx: typer.Context, addr: Annotated[str | None, ADDR] = None) -> None:
    """Initialized? Sealed? Unseal progress."""
    opts = _options(ctx)

    def body() -> None:
        doc = _client(opts, addr, None).call("GET", "sys/seal-status")
        _show(opts, doc, [f"initialized: {doc['initialized']}", f"sealed: {doc['sealed']}",
                          f"unseal progress: {doc['progress']}/{doc['t']}"])

    run(opts, body)


@secrets_app.command("init")
def init(
    ctx: typer.Context,
    shares: Annotated[int, typer.Option(min=1, max=255, help="Unseal key shares.")] = 5,
    threshold: Annotated[int, typer.Option(min=1, max=255, help="Shares needed.")] = 3,
    addr: Annotated[str | None, ADDR] = None,
) -> None:
    """Create the store; prints the unseal key shares and the root token once."""
    opts = _options(ctx)

    def body() -> None:
        doc = _client(opts, addr, None).call(
            "PUT", "sys/init", {"secret_shares": shares, "secret_threshold": threshold})
        result = {"unseal_keys_b64": doc["keys_base64"], "unseal_keys_hex": doc["keys"],
                  "unseal_shares": shares, "unseal_threshold": threshold,
                  "recovery_keys_b64": [], "recovery_keys_hex": [],
                  "recovery_keys_shares": 0, "recovery_keys_threshold": 0,
                  "root_token": doc["root_token"]}
        lines = [f"Unseal Key {i + 1}: {k}" for i, k in enumerate(doc["keys_base64"])]
        lines += [f"Initial Root Token: {doc['root_token']}", "",
                  f"Keep these safe: {threshold} of the {shares} keys unseal the store; "
                  "they are shown only now."]
        _show(opts, result, lines)

    run(opts, body)


@secrets_app.command("unseal")
def unseal(
    ctx: typer.Context,
    key: Annotated[str | None, typer.Argument(help="One key share (asked if omitted).")] = None,
    addr: Annotated[str | None, ADDR] = None,
) -> None:
    """Give one unseal key share; repeat until the threshold is reached."""
    opts = _options(ctx)

    def body() -> None:
        share = key or typer.prompt("Unseal key share", hide_input=True)
        doc = _client(opts, addr, None).call("PUT", "sys/unseal", {"key": share})
        _show(opts, doc, [f"sealed: {doc['sealed']} (progress {doc['progress']}/{doc['t']})"])

    run(opts, body)


@secrets_app.command("seal")
def seal(ctx: typer.Context, addr: Annotated[str | None, ADDR] = None,
         token: Annotated[str | None, TOKEN] = None) -> None:
    """Seal the store: it serves nothing until unsealed again."""
    opts = _options(ctx)

    def body() -> None:
        _client(opts, addr, token).call("PUT", "sys/seal")
        _show(opts, {"sealed": True}, ["Sealed."])

    run(opts, body)


def _pairs(items: list[str]) -> dict[str, str]:
    data: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SecretsError(f"expected KEY=VALUE, got {item!r}",
                               hint="for example: stackwright secrets put app/db password=…")
        data[name] = value
    return data


@secrets_app.command("put")
def put(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="Secret path under secret/.")],
    pairs: Annotated[list[str], typer.Argument(help="KEY=VALUE ...")],
    cas: Annotated[int | None, typer.Option(help="Only if the current version is this.")
                   ] = None,
    addr: Annotated[str | None, ADDR] = None,
    token: Annotated[str | None, TOKEN] = None,
) -> None:
    """Write a new version of a secret."""
    opts = _options(ctx)

    def body() -> None:
        request: dict[str, Any] = {"data": _pairs(pairs)}
        if cas is not None:
            request["options"] = {"cas": cas}
        doc = _client(opts, addr, token).call("POST", f"secret/data/{path}", request)
        version = doc["data"]["version"]
        _show(opts, doc["data"], [f"Wrote {path} version {version}."])

    run(opts, body)


@secrets_app.command("get")
def get(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="Secret path under secret/.")],
    version: Annotated[int | None, typer.Option(help="A version (default: latest).")] = None,
    reveal: Annotated[bool, typer.Option("--reveal", help="Print the values.")] = False,
    addr: Annotated[str | None, ADDR] = None,
    token: Annotated[str | None, TOKEN] = None,
) -> None:
    """Read a secret; values are masked unless --reveal."""
    opts = _options(ctx)

    def body() -> None:
        params = {"version": str(version)} if version else None
        doc = _client(opts, addr, token).call("GET", f"secret/data/{path}", params=params)
        data = doc["data"]["data"] or {}
        shown = data if reveal else {k: MASK for k in data}
        meta = doc["data"]["metadata"]
        lines = [f"{path} (version {meta['version']})"]
        lines += [f"  {k} = {v}" for k, v in shown.items()]
        _show(opts, {"data": shown, "metadata": meta}, lines)

    run(opts, body)


@secrets_app.command("list")
def list_(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="A folder under secret/.")] = "",
    addr: Annotated[str | None, ADDR] = None,
    token: Annotated[str | None, TOKEN] = None,
) -> None:
    """List secrets and folders."""
    opts = _options(ctx)

    def body() -> None:
        doc = _client(opts, addr, token).call("GET", f"secret/metadata/{path}",
                                              params={"list": "true"})
        keys = doc["data"]["keys"]
        _show(opts, keys, keys)

    run(opts, body)


@secrets_app.command("delete")
def delete(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="Secret path under secret/.")],
    addr: Annotated[str | None, ADDR] = None,
    token: Annotated[str | None, TOKEN] = None,
) -> None:
    """Soft-delete the latest version (undelete brings it back; history keeps it)."""
    opts = _options(ctx)

    def body() -> None:
        _client(opts, addr, token).call("DELETE", f"secret/data/{path}")
        _show(opts, {"deleted": path}, [f"Deleted the latest version of {path}."])

    run(opts, body)


@secrets_app.command("history")
def history(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="Secret path under secret/.")],
    addr: Annotated[str | None, ADDR] = None,
    token: Annotated[str | None, TOKEN] = None,
) -> None:
    """Every version of a secret: when written, deleted or destroyed (never the values)."""
    opts = _options(ctx)

    def body() -> None:
        meta = _client(opts, addr, token).call("GET", f"secret/metadata/{path}")["data"]
        versions = meta["versions"]
        lines = [f"v{n}: created {v['created_time']}"
                 + (f", deleted {v['deletion_time']}" if v["deletion_time"] else "")
                 + (", destroyed" if v["destroyed"] else "")
                 for n, v in sorted(versions.items(), key=lambda kv: int(kv[0]))]
        _show(opts, meta, lines)

    run(opts, body)


@secrets_app.command("rotate")
def rotate(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="Secret path under secret/.")],
    key: Annotated[str, typer.Argument(help="The field to give a new value.")],
    length: Annotated[int, typer.Option(min=8, max=512, help="Characters.")] = 32,
    symbols: Annotated[bool, typer.Option(help="Include punctuation.")] = False,
    addr: Annotated[str | None, ADDR] = None,
    token: Annotated[str | None, TOKEN] = None,
) -> None:
    """Write a new version with a freshly generated value for KEY (other fields kept),
    check-and-set against the version read, so a concurrent write is not lost."""
    opts = _options(ctx)

    def body() -> None:
        client = _client(opts, addr, token)
        current = client.call("GET", f"secret/data/{path}")["data"]
        data = dict(current["data"] or {})
        data[key] = generate_password(length, symbols)
        request = {"data": data, "options": {"cas": current["metadata"]["version"]}}
        doc = client.call("POST", f"secret/data/{path}", request)["data"]
        _show(opts, {"path": path, "key": key, "version": doc["version"]},
              [f"Rotated {path}:{key}; now version {doc['version']}."])

    run(opts, body)


def generate_password(length: int, symbols: bool = False) -> str:
    """Random from the OS's CSPRNG, with at least one lower, upper and digit."""
    alphabet = string.ascii_letters + string.digits + ("!#%+-.:=@^_~" if symbols else "")
    while True:
        value = "".join(pysecrets.choice(alphabet) for _ in range(length))
        if (any(c.islower() for c in value) and any(c.isupper() for c in value)
                and any(c.isdigit() for c in value)):
            return value
