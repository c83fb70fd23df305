"""Which diffs and values count as sensitive."""

from __future__ import annotations

from stackwright.core.values import is_sensitive, touches_sensitive


def test_a_list_holding_a_sensitive_item_is_sensitive_as_a_whole() -> None:
    marked = {"secrets.0.value"}
    assert not is_sensitive("secrets", marked)
    assert touches_sensitive("secrets", marked)
    assert touches_sensitive("secrets.0.value", marked)
    assert touches_sensitive("secrets.0.value.x", marked)
    assert not touches_sensitive("secrets.1", marked)
    assert not touches_sensitive("secretsx", marked)
    assert not touches_sensitive("secret", marked)
