"""A small HCL reader for ACL policies: blocks, attributes, strings, numbers, lists, objects.

JSON is read by the same parser (a JSON document is an HCL object expression), so both
policy formats report errors with their line. Heredocs and interpolation are not supported.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Union

from stackwright.secrets.errors import PolicyParseError

_TOKEN = re.compile(
    r"""(?P<ws>[ \t\r]+)|(?P<nl>\n)|(?P<comment>(\#|//)[^\n]*)|(?P<block>/\*.*?\*/)
    |(?P<string>"(?:[^"\\\n]|\\.)*")|(?P<number>-?\d+(?:\.\d+)?)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_\-.]*)|(?P<punct>[{}\[\]=,:])""",
    re.VERBOSE | re.DOTALL,
)

Value = Union[str, int, float, bool, list["Node"], "Obj"]


@dataclass(frozen=True)
class Node:
    value: Value
    line: int


@dataclass(frozen=True)
class Entry:
    """``key = value``, ``"key": value`` or a block ``key "label" { ... }``."""

    key: str
    labels: tuple[str, ...]
    node: Node


@dataclass(frozen=True)
class Obj:
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    line: int


def tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    line, pos = 1, 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise PolicyParseError(f"unexpected character {text[pos]!r}", line=line)
        kind = match.lastgroup or ""
        if kind in ("string", "number", "ident", "punct"):
            tokens.append(_Token(kind, match.group(), line))
        line += match.group().count("\n")
        pos = match.end()
    tokens.append(_Token("eof", "", line))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def take(self, text: str | None = None) -> _Token:
        token = self.tokens[self.pos]
        if text is not None and token.text != text:
            found = token.text or "end of input"
            raise PolicyParseError(f"expected {text!r}, found {found!r}", line=token.line)
        self.pos += 1
        return token

    def body(self, closing: str) -> Obj:
        entries: list[Entry] = []
        while self.peek().text != closing and self.peek().kind != "eof":
            entries.append(self.entry())
            if self.peek().text == ",":
                self.take()
        if closing == "}":
            self.take("}")
        elif self.peek().kind != "eof":
            raise PolicyParseError(f"unexpected {self.peek().text!r}", line=self.peek().line)
        return Obj(tuple(entries))

    def entry(self) -> Entry:
        token = self.take()
        if token.kind not in ("ident", "string"):
            raise PolicyParseError(f"expected a key, found {token.text!r}", line=token.line)
        key = _unquote(token) if token.kind == "string" else token.text
        if self.peek().text in ("=", ":"):
            self.take()
            return Entry(key, (), self.value())
        labels: list[str] = []
        while self.peek().kind == "string":
            labels.append(_unquote(self.take()))
        start = self.take("{")
        return Entry(key, tuple(labels), Node(self.body("}"), start.line))

    def value(self) -> Node:
        token = self.take()
        if token.kind == "string":
            return Node(_unquote(token), token.line)
        if token.kind == "number":
            return Node(float(token.text) if "." in token.text else int(token.text), token.line)
        if token.text in ("true", "false"):
            return Node(token.text == "true", token.line)
        if token.text == "[":
            return Node(self.items(), token.line)
        if token.text == "{":
            return Node(self.body("}"), token.line)
        raise PolicyParseError(f"expected a value, found {token.text!r}", line=token.line)

    def items(self) -> list[Node]:
        items: list[Node] = []
        while self.peek().text != "]":
            items.append(self.value())
            if self.peek().text != ",":
                break
            self.take()
        self.take("]")
        return items


def _unquote(token: _Token) -> str:
    try:
        value = json.loads(token.text)
    except json.JSONDecodeError as exc:
        raise PolicyParseError(f"invalid string {token.text}", line=token.line) from exc
    assert isinstance(value, str)
    return value


def parse(text: str) -> Obj:
    """Parse an HCL body, or a JSON object, into entries that remember their lines."""
    parser = _Parser(text)
    if parser.peek().text == "{":
        parser.take()
        document = parser.body("}")
        if parser.peek().kind != "eof":
            raise PolicyParseError(
                "unexpected content after the JSON object", line=parser.peek().line
            )
        return document
    return parser.body("")
