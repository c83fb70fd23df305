"""``${{ }}`` expressions of pipeline files and the ``if`` conditions of jobs and steps.

A small, safe language in the style of GitHub Actions::

    ${{ matrix.python }}   ${{ env.NAME }}   ${{ ref }}   ${{ branch }}   ${{ sha }}
    ${{ needs.build.outputs.image }}   ${{ hashFiles('requirements*.txt') }}
    if: branch == 'main' && !cancelled()      if: startsWith(ref, 'refs/tags/')
    if: failure()   if: always()   if: contains(branch, 'release')

Conditions are parsed into Python's AST and only whitelisted nodes are evaluated: names
look up the context, nothing is ever ``eval``-ed.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping
from typing import Any

TEMPLATE = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


class ExpressionError(ValueError):
    """An expression that does not parse or names what the context lacks."""


def _translate(text: str) -> str:
    text = text.replace("&&", " and ").replace("||", " or ")
    return re.sub(r"!(?!=)", " not ", text)


def parse(text: str) -> ast.expr:
    """The checked AST of a condition or template expression."""
    try:
        tree = ast.parse(_translate(text.strip()), mode="eval").body
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse expression {text!r}: {exc.msg}") from exc
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ExpressionError(f"{type(node).__name__} is not allowed in {text!r}")
    return tree


_ALLOWED = (ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.Compare, ast.Eq, ast.NotEq,
            ast.Name, ast.Load, ast.Attribute, ast.Constant, ast.Call, ast.Subscript)


class Context:
    """What expressions may read, and the functions they may call."""

    def __init__(self, values: Mapping[str, Any],
                 functions: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self.values = dict(values)
        self.functions = {**_FUNCTIONS, **(functions or {})}

    def evaluate(self, text: str) -> Any:
        return self._eval(parse(text), text)

    def condition(self, text: str | None) -> bool:
        return True if text is None else bool(self.evaluate(_strip(text)))

    def render(self, template: str) -> str:
        """Every ``${{ expr }}`` in ``template`` replaced by its value."""
        return TEMPLATE.sub(lambda m: _text(self.evaluate(m.group(1))), template)

    def _eval(self, node: ast.expr, text: str) -> Any:
        match node:
            case ast.Constant(value=value):
                return value
            case ast.Name(id=name):
                return self._lookup(self.values, name, text)
            case ast.Attribute(value=inner, attr=attr):
                return self._lookup(self._eval(inner, text), attr, text)
            case ast.Subscript(value=inner, slice=key):
                return self._lookup(self._eval(inner, text), self._eval(key, text), text)
            case ast.UnaryOp(operand=operand):
                return not self._eval(operand, text)
            case ast.BoolOp(op=ast.And(), values=values):
                return all(self._eval(v, text) for v in values)
            case ast.BoolOp(values=values):
                return any(self._eval(v, text) for v in values)
            case ast.Compare():
                return self._compare(node, text)
            case ast.Call(func=ast.Name(id=name), args=args):
                return self._call(name, [self._eval(a, text) for a in args], text)
        raise ExpressionError(f"cannot evaluate {text!r}")

    def _compare(self, node: ast.Compare, text: str) -> bool:
        left = self._eval(node.left, text)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self._eval(right_node, text)
            if (left == right) != isinstance(op, ast.Eq):
                return False
            left = right
        return True

    def _call(self, name: str, args: list[Any], text: str) -> Any:
        function = self.functions.get(name)
        if function is None:
            raise ExpressionError(f"unknown function {name}() in {text!r} "
                                  f"(known: {', '.join(sorted(self.functions))})")
        return function(*args)

    @staticmethod
    def _lookup(scope: Any, key: Any, text: str) -> Any:
        if isinstance(scope, Mapping):
            if key in scope:
                return scope[key]
            raise ExpressionError(f"{key!r} is not defined in {text!r}"
                                  f" (defined: {', '.join(map(str, scope)) or 'nothing'})")
        raise ExpressionError(f"cannot read {key!r} in {text!r}")


def _strip(text: str) -> str:
    match = TEMPLATE.fullmatch(text.strip())
    return match.group(1) if match else text


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "startsWith": lambda s, p: str(s).startswith(str(p)),
    "endsWith": lambda s, p: str(s).endswith(str(p)),
    "contains": lambda s, p: str(p) in s if isinstance(s, list | dict) else str(p) in str(s),
    "format": lambda f, *a: str(f).format(*a),
}


def names_used(text: str) -> set[str]:
    """Top-level names an expression reads (for checking ``needs.X`` at load time)."""
    return {n.id for n in ast.walk(parse(_strip(text))) if isinstance(n, ast.Name)}


STATUS_FUNCTIONS = frozenset({"success", "failure", "always", "cancelled"})


def checks_status(text: str) -> bool:
    """Whether a condition calls success(), failure(), always() or cancelled(); one that
    does not holds only when the jobs needed passed (``success() && ...``, as in Actions)."""
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
               and n.func.id in STATUS_FUNCTIONS for n in ast.walk(parse(_strip(text))))


def needs_read(text: str) -> set[str]:
    """Jobs named as ``needs.JOB`` in an expression."""
    found: set[str] = set()
    for node in ast.walk(parse(_strip(text))):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id == "needs"):
            found.add(node.attr)
    return found


def template_expressions(template: str) -> list[str]:
    return [m.group(1) for m in TEMPLATE.finditer(template)]
