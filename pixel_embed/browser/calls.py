"""The calls a page made on ``ttq``, as the recorder and the audit read them: one
:class:`RecordedCall` each, and :func:`format_calls`, the table every message shows them in."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RecordedCall:
    """One call a page made on ``ttq`` (``pixel`` is ``None``) or on ``ttq.instance(pixel)``."""

    pixel: str | None
    method: str
    args: tuple[Any, ...] = ()
    url: str = ""
    #: An id of the document that made the call, the same for every call of one page load.
    document: str | None = None

    @property
    def event(self) -> str | None:
        """The event name of a ``track`` call."""
        if self.method == "track" and self.args and isinstance(self.args[0], str):
            return self.args[0]
        return None

    @property
    def params(self) -> dict[str, Any]:
        """The parameters of a ``track`` call, or the fields of an ``identify`` call."""
        index = 1 if self.method == "track" else 0
        if len(self.args) > index and isinstance(self.args[index], dict):
            return dict(self.args[index])
        return {}

    @property
    def event_id(self) -> str | None:
        """The ``event_id`` given in the options (third argument) of a ``track`` call."""
        if self.method == "track" and len(self.args) > 2 and isinstance(self.args[2], dict):
            value = self.args[2].get("event_id")
            return str(value) if value is not None else None
        return None

    @classmethod
    def from_js(cls, data: dict[str, Any], url: str = "") -> RecordedCall:
        return cls(
            pixel=data.get("pixel"),
            method=str(data.get("method")),
            args=tuple(data.get("args") or ()),
            url=str(data.get("url", url)),
            document=data.get("document"),
        )


def compact_json(value: Any, width: int = 70) -> str:
    """``value`` as JSON on one line, cut to ``width`` characters with an ellipsis."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=True, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def format_calls(calls: Sequence[RecordedCall], *, start: int = 1) -> str:
    """The calls as a readable table (the body of every assertion message).

    :param start: the number of the first call (the table of a later page of a journey).
    """
    if not calls:
        return "  (no ttq calls were recorded on this page)"
    rows = [("#", "pixel", "method", "event / arguments", "event_id")]
    for number, call in enumerate(calls, start):
        if call.method == "track":
            detail = f"{call.event} {compact_json(call.params)}"
        else:
            detail = compact_json(list(call.args)) if call.args else ""
        rows.append((str(number), call.pixel or "-", call.method, detail, call.event_id or ""))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        (
            "  "
            + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4]))
            + "  "
            + row[4]
        ).rstrip()
        for row in rows
    )
