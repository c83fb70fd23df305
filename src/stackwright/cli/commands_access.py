"""``stackwright user …`` and ``stackwright token …``: who may use the daemon's API and
console. They write the project's state database directly (whoever can run them here can
read that database anyway); the daemon reads the same tables on every request."""

import sys
from typing import Annotated, Any

import typer

from stackwright.cli.main import Options, _options, emit_json, engine, printer, run

user_app = typer.Typer(help="Users of the daemon's API and console, and their roles.",
                       no_args_is_help=True)
token_app = typer.Typer(help="API tokens (Authorization: Bearer …).", no_args_is_help=True)
ROLE_HELP = "viewer, developer, operator or admin."
ENV = typer.Option("--in", help="Environment the role holds in ('*': every one).")


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")
    users: list[Any] = [user_add, user_list, user_grant, user_passwd, user_remove]
    tokens: list[Any] = [token_create, token_list, token_revoke]
    for fn in users:
        user_app.command(name=fn.__name__.removeprefix("user_"))(fn)
    for fn in tokens:
        token_app.command(name=fn.__name__.removeprefix("token_"))(fn)


def _store(opts: Options) -> Any:
    from stackwright.server.access.store import AccessStore

    return AccessStore.open(engine(opts).state_url)


def _password(given_on_stdin: bool) -> str:
    if given_on_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


def _done(opts: Options, doc: dict[str, Any], text: str) -> None:
    if opts.json:
        emit_json({"ok": True, **doc})
    else:
        printer(opts).line(text)


def user_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="User name (lower case).")],
    role: Annotated[str, typer.Option(help=ROLE_HELP)] = "viewer",
    environment: Annotated[str, ENV] = "*",
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from standard input.")] = False,
    no_password: Annotated[bool, typer.Option(
        "--no-password", help="Token access only: the user cannot log in.")] = False,
) -> None:
    """Add a user with a role (and a password for the console, asked for unless given)."""
    opts = _options(ctx)

    def body() -> None:
        password = None if no_password else _password(password_stdin)
        _store(opts).add_user(name, password, {environment: role})
        _done(opts, {"user": name, "role": role, "environment": environment},
              f"Added {name}: {role} in {environment}.")

    run(opts, body)


def user_list(ctx: typer.Context) -> None:
    """Users, their roles per environment, whether they can log in."""
    opts = _options(ctx)

    def body() -> None:
        users = _store(opts).users()
        if opts.json:
            emit_json({"users": users})
            return
        out = printer(opts)
        for u in users:
            roles = ", ".join(f"{r} in {e}" for e, r in sorted(u["roles"].items())) or "no role"
            login = "" if u["has_password"] else "  (token access only)"
            out.line(f"  {u['name']:<20} {roles}{login}")
        if not users:
            out.line("No users. Add one with: stackwright user add NAME --role admin")

    run(opts, body)


def user_grant(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str, typer.Argument(help=ROLE_HELP + " 'none' takes the role away.")],
    environment: Annotated[str, ENV] = "*",
) -> None:
    """Give a user a role in an environment (or take it away with 'none')."""
    opts = _options(ctx)

    def body() -> None:
        _store(opts).grant(name, environment, None if role == "none" else role)
        _done(opts, {"user": name, "role": None if role == "none" else role,
                     "environment": environment}, f"{name}: {role} in {environment}.")

    run(opts, body)


def user_passwd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="User name.")],
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from standard input.")] = False,
) -> None:
    """Set a user's password."""
    opts = _options(ctx)

    def body() -> None:
        _store(opts).set_password(name, _password(password_stdin))
        _done(opts, {"user": name}, f"Password of {name} set.")

    run(opts, body)


def user_remove(ctx: typer.Context,
                name: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """Remove a user with its grants, tokens and sessions."""
    opts = _options(ctx)

    def body() -> None:
        _store(opts).remove_user(name)
        _done(opts, {"user": name, "removed": True}, f"Removed {name}.")

    run(opts, body)


def token_create(
    ctx: typer.Context,
    user: Annotated[str, typer.Option(help="Whose token it is.")],
    name: Annotated[str, typer.Option(help="What it is for (e.g. ci).")] = "cli",
    ttl: Annotated[str | None, typer.Option(help="Lifetime, e.g. 30d, 12h (default: none).")
                   ] = None,
    role: Annotated[str | None, typer.Option(help="At most this role (default: the user's).")
                    ] = None,
) -> None:
    """Make an API token; its secret is printed once and never stored."""
    opts = _options(ctx)

    def body() -> None:
        seconds = _ttl(ttl) if ttl else None
        secret, record = _store(opts).create_token(user, name, ttl=seconds, role=role)
        if opts.json:
            emit_json({"ok": True, "token": secret, **record})
        else:
            out = printer(opts)
            out.line(f"Token {record['id']} for {user}"
                     + (f", expires in {ttl}" if ttl else "") + ". Shown once:")
            out.line(secret)

    run(opts, body)


def _ttl(text: str) -> float:
    from stackwright.durations import period
    from stackwright.server.access.store import AccessError

    try:
        return period(text).total_seconds()
    except ValueError as exc:
        raise AccessError(f"--ttl: {exc}", hint="for example --ttl 30d") from exc


def token_list(ctx: typer.Context,
               user: Annotated[str | None, typer.Option(help="Only this user's.")] = None
               ) -> None:
    """Tokens (ids, owners, expiry; never their secrets)."""
    opts = _options(ctx)

    def body() -> None:
        import time

        tokens = _store(opts).tokens(user)
        if opts.json:
            emit_json({"tokens": tokens})
            return
        out = printer(opts)
        for t in tokens:
            state = ("revoked" if t["revoked"] else "expired"
                     if t["expires_at"] and t["expires_at"] < time.time() else "active")
            out.line(f"  {t['id']}  {t['user']:<16} {t['name']:<12} {state}")
        if not tokens:
            out.line("No tokens.")

    run(opts, body)


def token_revoke(ctx: typer.Context,
                 token_id: Annotated[str, typer.Argument(help="The token's id.")]) -> None:
    """Revoke a token at once."""
    opts = _options(ctx)

    def body() -> None:
        _store(opts).revoke_token(token_id)
        _done(opts, {"id": token_id, "revoked": True}, f"Revoked {token_id}.")

    run(opts, body)
