"""Rendering a ``File`` template with Jinja2: strict about undefined names, no autoescape,
sandboxed (a plan may render templates of a change nobody has reviewed yet).

Errors are :class:`~stackwright.errors.SpecError` naming the template file and line; Jinja2
is imported only when a template is rendered.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

from stackwright.errors import SpecError

FIELD = "spec.template"


def render_template(text: str, name: str, variables: Mapping[str, Any]) -> str:
    """``text`` (the template file ``name``) rendered with ``variables``."""
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(
        loader=jinja2.FunctionLoader(lambda wanted: (text, name, lambda: True)
                                     if wanted == name else None),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    given = ", ".join(sorted(variables)) or "none"
    try:
        return env.get_template(name).render(dict(variables))
    except jinja2.TemplateSyntaxError as exc:
        raise SpecError(f"{name}:{exc.lineno}: template syntax error: {exc.message}",
                        field=FIELD, hint="see the Jinja2 template syntax") from None
    except jinja2.UndefinedError as exc:
        line = _template_line(exc.__traceback__, name)
        raise SpecError(f"{name}:{line}: undefined in the template: {exc.message}",
                        field=FIELD, hint=f"vars given: {given}") from None
    except jinja2.TemplateNotFound as exc:
        raise SpecError(f"{name}: the template refers to {exc.name!r}",
                        field=FIELD,
                        hint="a File template is one file: include and extends are not "
                             "supported") from None
    except Exception as exc:  # noqa: BLE001 - any failure inside the template is the template's
        line = _template_line(exc.__traceback__, name)
        raise SpecError(f"{name}:{line}: the template failed: {type(exc).__name__}: {exc}",
                        field=FIELD, hint=f"vars given: {given}") from None


def _template_line(tb: TracebackType | None, name: str) -> int | str:
    """The line of the template being rendered when it failed (Jinja2 rewrites tracebacks
    so that template frames carry the template's file name and line)."""
    line: int | str = "?"
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == name:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
