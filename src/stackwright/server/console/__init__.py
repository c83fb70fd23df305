"""The web console: pages rendered on the server (Jinja2, autoescaped) and enhanced with
htmx, vendored as ``static/htmx.min.js`` (2.0.4, from the npm registry, BSD-0): no build step
and no Node at run time (see docs/console.md).

Every page is behind the access guard: a browser logs in at ``/console/login`` (a session
cookie: HttpOnly, SameSite=Strict, Secure over TLS), and every change it makes carries the
session's CSRF token, which htmx sends from the page's ``hx-headers``. Domains add panels
through :mod:`.panels`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from stackwright.server.app import PlatformContext


def mount_console(app: FastAPI, ctx: PlatformContext) -> None:
    from stackwright.server.console.pages import mount_pages

    mount_pages(app, ctx)
