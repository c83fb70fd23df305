"""``${{ ... }}`` expressions: finding them in a value tree and rendering them.

Grammar (whitespace inside the braces is ignored)::

    ${{ var.NAME }}                a variable of the project or environment
    ${{ Kind.name.output }}        an output of another resource (every resource has ``id``)
    ${{ env.name }}                the environment's name
    ${{ project.name }}            the project's name

A string that is exactly one expression takes the referenced value as it is (a number stays
a number); an expression inside a longer string is rendered as text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from stackwright.core.model import Address
from stackwright.core.spec.yamlpos import FieldPath
from stackwright.core.values import UNKNOWN

EXPRESSION = re.compile(r"\$\{\{\s*([^{}]*?)\s*\}\}")
SPAN = re.compile(r"\$\{\{([^{}]*)\}\}")
"""The same matches as EXPRESSION, twice as fast (no lazy repeat to backtrack through); its
group keeps the whitespace around the expression, which ``parse_expression`` strips."""
_PART = r"[A-Za-z_][A-Za-z0-9_-]*"
_VAR = re.compile(rf"^var\.({_PART})$")
NAME_PATTERN = r"[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?"
_RESOURCE = re.compile(rf"^([A-Z][A-Za-z0-9]*)\.({NAME_PATTERN})\.({_PART})$")
_BUILTIN = re.compile(r"^(env|project)\.name$")



@dataclass(frozen=True)
class Expression:
    """A parsed expression: ``scope`` is ``var``, ``resource``, ``env`` or ``project``."""

    text: str
    scope: str
    name: str
    address: Address | None = None
    output: str | None = None


class ExpressionError(ValueError):
    """An expression that does not parse; the message says what is allowed."""


@lru_cache(maxsize=8192)
def parse_expression(text: str) -> Expression:
    """The parsed expression (memoized: a spec repeats the same references, and planning
    renders them again)."""
    text = text.strip()
    if m := _VAR.match(text):
        return Expression(text, "var", m.group(1))
    if m := _BUILTIN.match(text):
        return Expression(text, m.group(1), "name")
    if m := _RESOURCE.match(text):
        address = Address(m.group(1), m.group(2))
        return Expression(text, "resource", m.group(2), address, m.group(3))
    raise ExpressionError(
        f"cannot parse expression {text!r}: expected var.NAME, Kind.name.output, env.name "
        "or project.name"
    )


def iter_strings(tree: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Every (dotted path, string) in a tree, dict keys included as values are not."""
    if isinstance(tree, str):
        yield prefix, tree
    elif isinstance(tree, dict):
        for key, value in tree.items():
            yield from iter_strings(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from iter_strings(value, f"{prefix}.{i}" if prefix else str(i))


def find_expressions(tree: Any) -> Iterator[tuple[str, str]]:
    """Every (field path, expression text) in a tree, in document order."""
    for path, text in iter_strings(tree):
        if "${{" in text:
            for m in EXPRESSION.finditer(text):
                yield path, m.group(1)


def expression_paths(tree: Any) -> list[tuple[FieldPath, str | None]]:
    """Every (field path, expression text) in a tree; None for an unterminated ``${{``."""
    found: list[tuple[FieldPath, str | None]] = []
    _collect(tree, (), found)
    return found


def _collect(tree: Any, path: FieldPath, found: list[tuple[FieldPath, str | None]]) -> None:
    # Strings are checked where they stand rather than in a call of their own: specs are
    # mostly leaves, and this runs over every spec of every load.
    if type(tree) is str:
        if "${{" in tree:
            _found_in(tree, path, found)
        return
    if isinstance(tree, dict):
        items: Any = tree.items()
    elif isinstance(tree, list):
        items = enumerate(tree)
    else:
        return
    for key, value in items:
        kind = type(value)
        if kind is str:
            if "${{" in value:
                _found_in(value, (*path, key), found)
        elif kind is dict or kind is list or isinstance(value, dict | list | str):
            _collect(value, (*path, key), found)


def _found_in(text: str, path: FieldPath, found: list[tuple[FieldPath, str | None]]) -> None:
    texts = [t.strip() for t in SPAN.findall(text)]
    found.extend((path, t) for t in texts)
    if text.count("${{") > len(texts):
        found.append((path, None))


def has_expression(text: str) -> bool:
    return "${{" in text and SPAN.search(text) is not None


Resolver = Callable[[Expression], Any]


def render(tree: Any, resolve: Resolver, scopes: frozenset[str] | None = None) -> Any:
    """A copy of ``tree`` with expressions replaced by ``resolve``'s values.

    Only expressions whose scope is in ``scopes`` (all when None) are rendered; the others are
    left as they are. If any part of a string resolves to UNKNOWN, the whole string is UNKNOWN.
    """
    if isinstance(tree, str):
        return _render_string(tree, resolve, scopes) if "${{" in tree else tree
    if isinstance(tree, dict):
        return {k: render(v, resolve, scopes) for k, v in tree.items()}
    if isinstance(tree, list):
        return [render(v, resolve, scopes) for v in tree]
    return tree


def _render_string(text: str, resolve: Resolver, scopes: frozenset[str] | None) -> Any:
    whole = SPAN.fullmatch(text)
    if whole is not None:
        expr = parse_expression(whole.group(1))
        if scopes is not None and expr.scope not in scopes:
            return text
        return resolve(expr)
    unknown = False

    def substitute(m: re.Match[str]) -> str:
        nonlocal unknown
        expr = parse_expression(m.group(1))
        if scopes is not None and expr.scope not in scopes:
            return m.group(0)
        value = resolve(expr)
        if value is UNKNOWN:
            unknown = True
            return ""
        return value if isinstance(value, str) else json.dumps(value)

    rendered = SPAN.sub(substitute, text)
    return UNKNOWN if unknown else rendered
