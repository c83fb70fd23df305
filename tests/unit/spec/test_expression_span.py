"""The fast expression pattern finds exactly what the documented one finds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stackwright.core.spec.refs import EXPRESSION, SPAN

PIECES = st.lists(st.sampled_from(["${{", "}}", "{", "}", " ", "\t", "\n", "var.a", "x", "$",
                                   "File.f.id", "\u2003"]), max_size=12).map("".join)


@given(PIECES)
def test_span_matches_expression(text: str) -> None:
    assert [t.strip() for t in SPAN.findall(text)] == EXPRESSION.findall(text)
    whole, fast = EXPRESSION.fullmatch(text), SPAN.fullmatch(text)
    assert (whole is None) == (fast is None)
    if whole is not None and fast is not None:
        assert fast.group(1).strip() == whole.group(1)
    assert [m.span() for m in SPAN.finditer(text)] == [m.span() for m in EXPRESSION.finditer(text)]
