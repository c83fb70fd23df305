"""``successCondition`` / ``failureCondition``: small expressions over ``result``.

``result < 0.05``, ``result >= 100 and result < 500``, ``not (result > 2)``: comparisons of
``result`` (the measured number) with numbers, joined by ``and`` / ``or`` / ``not``. Parsed
with :mod:`ast` and walked over a whitelist: nothing else is evaluated.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}


class ConditionError(ValueError):
    """A condition that is not a comparison of ``result`` with numbers."""


def _parse(text: str) -> ast.expr:
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ConditionError(f"cannot parse condition {text!r}: {exc.msg} "
                             "(write e.g. result < 0.05)") from exc
    return tree.body


def _value(node: ast.expr, result: float) -> Any:
    if isinstance(node, ast.BoolOp):
        values = [_value(v, result) for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _value(node.operand, result)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_value(node.operand, result)
    if isinstance(node, ast.Compare):
        return _compare(node, result)
    if isinstance(node, ast.Name) and node.id == "result":
        return result
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) \
            and not isinstance(node.value, bool):
        return node.value
    raise ConditionError(f"{ast.unparse(node)!r} is not allowed in a condition: use result, "
                         "numbers, < <= > >= == !=, and, or, not")


def _compare(node: ast.Compare, result: float) -> bool:
    left = _value(node.left, result)
    for op, comparator in zip(node.ops, node.comparators, strict=True):
        fn = _COMPARE.get(type(op))
        if fn is None:
            raise ConditionError(f"operator {type(op).__name__} is not allowed in a condition")
        right = _value(comparator, result)
        if not fn(left, right):
            return False
        left = right
    return True


def evaluate(text: str, result: float) -> bool:
    """Whether ``text`` holds for ``result``."""
    return bool(_value(_parse(text), result))


def check_condition(text: str) -> None:
    """Raise :class:`ConditionError` unless ``text`` is a valid condition (spec validation)."""
    evaluate(text, 0.0)
