"""Segment's mapping directives (``@path``, ``@if``, ``@arrayPath``), compiled once and read often.

A field of a mapping is written exactly as in Segment's mapping JSON::

    {"@path": "$.properties.currency"}
    {"@if": {"exists": {"@path": "$.userId"}, "then": {"@path": "$.userId"},
             "else": {"@path": "$.anonymousId"}}}
    {"@arrayPath": ["$.properties.products", {"content_id": {"@path": "$.product_id"}}]}
    "ViewContent"                                   (a literal: string, number or bool)

:func:`compile_source` turns one into a :class:`Source`; reading a source never raises, and gives
:data:`~pixel_embed.segment.paths.MISSING` when the message has no such value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..events import MAX_ITEMS
from .paths import MISSING, InvalidPath, parse_path, read_path


class InvalidSource(ValueError):
    """A field's mapping is not a directive Segment's mappings use.

    :param field: where, inside the mapping (``contents.price``).
    :param problem: what is wrong, as a sentence that follows the field's name.
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field} {problem}")


class Source(Protocol):
    """Where a field's value comes from."""

    def read(self, data: object) -> Any:
        """The value in ``data``, or ``MISSING``."""


@dataclass(frozen=True)
class PathSource:
    """``{"@path": "$.a.b"}``: the value at a path."""

    path: str

    def read(self, data: object) -> Any:
        return read_path(data, self.path)


@dataclass(frozen=True)
class LiteralSource:
    """A constant, such as the TikTok event name."""

    value: str | int | float | bool

    def read(self, data: object) -> Any:
        return self.value


@dataclass(frozen=True)
class IfSource:
    """``{"@if": {"exists": …, "then": …, "else": …}}``: ``then`` when ``exists`` reads a value."""

    exists: Source
    then: Source
    otherwise: Source | None = None

    def read(self, data: object) -> Any:
        if self.exists.read(data) is not MISSING:
            return self.then.read(data)
        return self.otherwise.read(data) if self.otherwise is not None else MISSING


@dataclass(frozen=True)
class ArraySource:
    """``{"@arrayPath": [path, {field: source}]}``: one item per element of the list at ``path``
    (a single object counts as a list of one), each item's fields read relative to the element.
    Fields that read nothing are left out of the item, and an item left empty is dropped."""

    path: str
    item: Mapping[str, Source]

    def reads_list(self, data: object) -> bool:
        """Whether ``path`` holds a list (rather than one object) in ``data``."""
        found = read_path(data, self.path)
        return isinstance(found, Sequence) and not isinstance(found, str)

    def read(self, data: object) -> Any:
        found = read_path(data, self.path)
        if found is MISSING:
            return MISSING
        # One past the core's limit: enough for it to refuse the list, without reading 250,000.
        elements = found[: MAX_ITEMS + 1] if self.reads_list(data) else [found]
        items = []
        for element in elements:
            item = {
                key: value
                for key, source in self.item.items()
                if (value := source.read(element)) is not MISSING
            }
            if item:
                items.append(item)
        return items


def _path(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidSource(field, f"has a path {value!r} that is not a string such as '$.userId'")
    try:
        parse_path(value)
    except InvalidPath as exc:
        raise InvalidSource(field, f"has {exc}") from None
    return value


def _directive(field: str, spec: Mapping[str, Any]) -> Source:
    if len(spec) != 1:
        raise InvalidSource(
            field, f"must be one directive (@path, @if or @arrayPath), not {sorted(spec)!r}"
        )
    ((kind, body),) = spec.items()
    if kind == "@path":
        return PathSource(_path(field, body))
    if kind == "@if":
        if (
            not isinstance(body, Mapping)
            or not {"exists", "then"} <= set(body)
            or not set(body) <= {"exists", "then", "else"}
        ):
            raise InvalidSource(field, "has an @if that needs 'exists' and 'then' (and 'else')")
        return IfSource(
            exists=compile_source(body["exists"], field),
            then=compile_source(body["then"], field),
            otherwise=compile_source(body["else"], field) if "else" in body else None,
        )
    if kind == "@arrayPath":
        if (
            not isinstance(body, Sequence)
            or isinstance(body, str)
            or len(body) != 2
            or not isinstance(body[1], Mapping)
        ):
            raise InvalidSource(
                field, "has an @arrayPath that is not [path, {item field: mapping}]"
            )
        return ArraySource(
            path=_path(field, body[0]),
            item={key: compile_source(value, f"{field}.{key}") for key, value in body[1].items()},
        )
    raise InvalidSource(
        field, f"uses {kind!r}; the directives supported are @path, @if, @arrayPath"
    )


def compile_source(spec: object, field: str) -> Source:
    """The :class:`Source` that a field's mapping JSON describes.

    :param field: the field's name, for errors.
    :raises InvalidSource: ``spec`` is not a literal or a supported directive.
    """
    if isinstance(spec, Mapping):
        return _directive(field, spec)
    if isinstance(spec, str):
        if spec.startswith("$.") or spec == "$":
            raise InvalidSource(
                field, f'is the text {spec!r}; to read that path write {{"@path": "{spec}"}}'
            )
        return LiteralSource(spec)
    if isinstance(spec, bool | int | float):
        return LiteralSource(spec)
    raise InvalidSource(
        field, f"must be a literal or a directive such as {{'@path': '$.x'}}, not {spec!r}"
    )
