"""Which Segment calls a mapping applies to: the subset of Segment's FQL that subscriptions use.

``type = "page"``, ``event = "Order Completed"``, ``name != "Home"``, joined with ``and`` /
``or`` (``and`` binds tighter) and grouped with parentheses. The fields are the message's
``type`` (``track``, ``page``, ``identify``), ``event`` (of a track) and ``name`` (of a page).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Predicate = Callable[[Mapping[str, Any]], bool]

FIELDS = ("type", "event", "name")
_TOKEN = re.compile(
    r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*")
         |(?P<op>!=|=)
         |(?P<paren>[()])
         |(?P<word>[A-Za-z_]+))""",
    re.VERBOSE,
)


class InvalidSubscription(ValueError):
    """A subscription is not of the form ``event = "Order Completed"``."""


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while text[position:].strip():
        match = _TOKEN.match(text, position)
        if match is None or match.lastgroup is None:
            raise InvalidSubscription(f"cannot read {text[position:].strip()!r}")
        kind = match.lastgroup
        value = match[kind]
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        elif kind == "word":
            value = value.lower() if value.lower() in ("and", "or") else value
        tokens.append((kind, value))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, kind: str, what: str) -> str:
        token = self.peek()
        if token is None or token[0] != kind:
            found = "the end" if token is None else repr(token[1])
            raise InvalidSubscription(f"expected {what}, found {found}")
        self.position += 1
        return token[1]

    def parse(self) -> Predicate:
        predicate = self.any_of()
        rest = self.peek()
        if rest is not None:
            raise InvalidSubscription(f"expected 'and', 'or' or the end, found {rest[1]!r}")
        return predicate

    def any_of(self) -> Predicate:
        return self.joined("or", self.all_of, any)

    def all_of(self) -> Predicate:
        return self.joined("and", self.comparison, all)

    def joined(
        self, word: str, part: Callable[[], Predicate], combine: Callable[[Iterable[bool]], bool]
    ) -> Predicate:
        parts = [part()]
        while self.peek() == ("word", word):
            self.position += 1
            parts.append(part())
        return parts[0] if len(parts) == 1 else lambda m: combine(p(m) for p in parts)

    def comparison(self) -> Predicate:
        if self.peek() == ("paren", "("):
            self.position += 1
            inner = self.any_of()
            self.take("paren", "')'")
            return inner
        name = self.take("word", "a field (type, event or name)")
        if name not in FIELDS:
            raise InvalidSubscription(f"{name!r} is not a field one can subscribe on {FIELDS}")
        op = self.take("op", "'=' or '!='")
        expected = self.take("string", 'a double-quoted value such as "Order Completed"')
        if op == "=":
            return lambda m: m.get(name) == expected
        return lambda m: m.get(name) != expected


@dataclass(frozen=True)
class Subscription:
    """A parsed subscription such as ``event = "Order Completed"``.

    :raises InvalidSubscription: the text is not a subscription.
    """

    text: str
    _predicate: Predicate = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise InvalidSubscription('must be a string such as event = "Order Completed"')
        if not self.text.strip():
            raise InvalidSubscription('is empty: write e.g. event = "Order Completed"')
        object.__setattr__(self, "_predicate", _Parser(self.text).parse())

    def matches(self, message: Mapping[str, Any]) -> bool:
        """Whether the Segment ``message`` (with its ``type``) is subscribed to."""
        return self._predicate(message)
