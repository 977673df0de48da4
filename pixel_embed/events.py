"""TikTok's web event vocabulary, and validation of the events a view queues.

Validation is framework-free. Each problem is an :class:`~pixel_embed.errors.InvalidEvent` naming
the field; the caller decides (through ``on_error``) whether it raises or whether the bad field
is dropped and the rest of the event kept.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from .currencies import CURRENCIES
from .errors import InvalidEvent

log = logging.getLogger("pixel_embed")

#: TikTok's standard web events (TikTok for Business, "Standard events and parameters").
STANDARD_EVENTS: frozenset[str] = frozenset(
    {
        "AddPaymentInfo",
        "AddToCart",
        "AddToWishlist",
        "ClickButton",
        "CompletePayment",
        "CompleteRegistration",
        "Contact",
        "Download",
        "InitiateCheckout",
        "PlaceAnOrder",
        "Search",
        "SubmitForm",
        "Subscribe",
        "ViewContent",
        # Newer standard events TikTok documents for web.
        "ApplicationApproval",
        "CustomizeProduct",
        "FindLocation",
        "Lead",
        "Purchase",
        "Schedule",
        "StartTrial",
        "SubmitApplication",
    }
)

#: Events that record a sale: they should carry ``value`` and ``currency``.
PURCHASE_EVENTS: frozenset[str] = frozenset({"CompletePayment", "PlaceAnOrder", "Purchase"})

CONTENT_TYPES: frozenset[str] = frozenset({"product", "product_group"})

_EVENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_ .:-]{0,99}")
_FOLD = re.compile(r"[^a-z0-9]")
_INTEGER = re.compile(r"[+-]?\d+")
_FOLDED_STANDARD = {_FOLD.sub("", name.lower()): name for name in STANDARD_EVENTS}
_TEXT_PARAMS = ("query", "description", "order_id", "shop_id", "content_name", "content_category")
_ITEM_TEXT = ("content_id", "content_name", "content_category", "brand")

OnError = Callable[[InvalidEvent], None]


def raise_error(error: InvalidEvent) -> None:
    """The ``on_error`` of strict mode: every problem raises."""
    raise error


def near_miss(name: str) -> str | None:
    """The standard event that ``name`` probably means (``addtocart`` → ``AddToCart``).

    ``None`` for a standard name itself and for a custom name that resembles none.
    """
    if name in STANDARD_EVENTS:
        return None
    folded = _FOLD.sub("", name.lower())
    if folded in _FOLDED_STANDARD:
        return _FOLDED_STANDARD[folded]
    close = difflib.get_close_matches(folded, list(_FOLDED_STANDARD), n=1, cutoff=0.85)
    return _FOLDED_STANDARD[close[0]] if close else None


# The variant nibble of a UUID4 (RFC 9562: binary 10xx) for each random hex digit.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def new_event_id() -> str:
    """A fresh event id (a random UUID4 string), shared with the Events API for deduplication.

    Built from ``os.urandom`` like :func:`uuid.uuid4`, in a third of its time: every tracked
    event on every page gets one.
    """
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


@dataclass(frozen=True)
class Event:
    """One validated ``ttq.track`` call: ``ttq.track(name, params, {"event_id": event_id})``."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    event_id: str = field(default_factory=new_event_id)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, e.g. for the session (see :meth:`from_dict`).

        The parameters are a list of pairs: JSON serialisers that sort keys (Flask's session
        does) would otherwise change the order the view gave them in.
        """
        return {"name": self.name, "params": list(self.params.items()), "event_id": self.event_id}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        """Rebuild an event saved with :meth:`to_dict` (it was validated then)."""
        return cls(
            name=str(data["name"]), params=dict(data["params"]), event_id=str(data["event_id"])
        )


# Each check below takes a value and the field's name (for its error) and returns the value to
# send. The common case, a value of the right type already, is tested first with ``type() is``:
# these run for every parameter of every tracked event.


def _number(field: str, value: object) -> int | float:
    kind = type(value)
    if kind is int:
        return cast(int, value)
    if kind is float and cast(float, value) - cast(float, value) == 0.0:  # finite
        return cast(float, value)
    if isinstance(value, bool):
        raise InvalidEvent(field, value, "must be a number, not a bool")
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = Decimal(text)
        except InvalidOperation:
            raise InvalidEvent(field, value, "is not a number") from None
        if parsed.is_finite() and _INTEGER.fullmatch(text):
            return int(parsed)
        number = float(parsed)
    elif isinstance(value, float | Decimal):
        number = float(value)
    else:
        raise InvalidEvent(field, value, f"must be a number, not {type(value).__name__}")
    if not math.isfinite(number):
        raise InvalidEvent(field, value, "must be a finite number")
    return number


def _amount(field: str, value: object) -> int | float:
    number = _number(field, value)
    if number < 0:
        raise InvalidEvent(field, value, "must not be negative")
    return number


def _quantity(field: str, value: object) -> int:
    number = _number(field, value)
    if number != int(number) or number < 1:
        raise InvalidEvent(field, value, "must be a whole number of at least 1")
    return int(number)


def _text(field: str, value: object) -> str:
    if type(value) is str and value and not value.isspace():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise InvalidEvent(field, value, f"must be a string, not {type(value).__name__}")
    if not value.strip():
        raise InvalidEvent(field, value, "is empty")
    return value


def _currency(field: str, value: object) -> str:
    if type(value) is str and value in CURRENCIES:
        return value
    if not isinstance(value, str):
        raise InvalidEvent(field, value, "must be an ISO 4217 code such as 'USD'")
    code = value.strip().upper()
    if code not in CURRENCIES:
        raise InvalidEvent(field, value, "is not an ISO 4217 currency code such as 'USD'")
    return code


def _content_type(field: str, value: object) -> str:
    if value not in CONTENT_TYPES:
        raise InvalidEvent(field, value, "must be 'product' or 'product_group'")
    return str(value)


_JSON_SCALARS = frozenset({str, int, bool})


def _json_value(field: str, value: object) -> Any:
    if type(value) in _JSON_SCALARS:
        return value
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise InvalidEvent(field, value, "is not JSON-serialisable") from None
    return value


_ITEM_FIELDS: dict[str, Callable[[str, object], Any]] = {
    "content_id": _text,
    "content_type": _content_type,
    "content_name": _text,
    "content_category": _text,
    "brand": _text,
    "price": _amount,
    "quantity": _quantity,
}


def _nested(error: InvalidEvent, path: str) -> InvalidEvent:
    """``error`` about a field inside ``path`` (``price`` in ``contents[1]``), named in full.

    Checks name only the key they see; the path is written here, on the rare error, rather
    than for every field of every item."""
    return InvalidEvent(f"{path}.{error.field}", error.value, error.problem)


def _item(path: str, value: object, on_error: OnError) -> dict[str, Any] | None:
    if type(value) is not dict and not isinstance(value, Mapping):
        on_error(InvalidEvent(path, value, "must be a mapping with at least 'content_id'"))
        return None
    if value.get("content_id") in (None, ""):
        on_error(InvalidEvent(f"{path}.content_id", value.get("content_id"), "is required"))
        return None
    item: dict[str, Any] = {}
    for key, raw in value.items():
        try:
            item[key] = _ITEM_FIELDS.get(key, _json_value)(key, raw)
        except InvalidEvent as exc:
            on_error(_nested(exc, path))
    return item if "content_id" in item else None


def _contents(field: str, value: object, on_error: OnError) -> list[dict[str, Any]]:
    if type(value) is not list and (
        isinstance(value, Mapping) or not isinstance(value, Sequence) or isinstance(value, str)
    ):
        raise InvalidEvent(field, value, "must be a list of items (mappings with 'content_id')")
    items = []
    for i, raw in enumerate(value):
        item = _item(f"{field}[{i}]", raw, on_error)
        if item is not None:
            items.append(item)
    return items


def _content_ids(field: str, value: object) -> list[str]:
    if isinstance(value, str | int) and not isinstance(value, bool):
        return [_text(field, value)]
    if isinstance(value, Mapping) or not isinstance(value, Sequence):
        raise InvalidEvent(field, value, "must be a list of content ids")
    return [_text(f"{field}[{i}]", item) for i, item in enumerate(value)]


_PARAMS: dict[str, Callable[[str, object], Any]] = {
    "value": _amount,
    "content_ids": _content_ids,
    "num_items": _quantity,
    "search_string": _text,
    "currency": _currency,
    "content_type": _content_type,
    "content_id": _text,
    **dict.fromkeys(_TEXT_PARAMS, _text),
}


def validate_event(
    name: str,
    params: Mapping[str, Any] | None = None,
    *,
    event_id: str | None = None,
    on_error: OnError = raise_error,
) -> Event:
    """Check an event's name and parameters and return the :class:`Event` to render.

    Known parameters are checked and normalised (``currency`` upper-cased, numeric strings
    turned into numbers); other parameters are kept when they are JSON-serialisable.

    :param on_error: called with each problem; the bad field is then left out. The default
        raises. An invalid event name or event id always raises: there is no event without one.
    :raises InvalidEvent: the name or event id is invalid, or ``on_error`` raised.
    """
    if type(name) is not str or name not in STANDARD_EVENTS:
        if not isinstance(name, str) or not _EVENT_NAME.fullmatch(name):
            raise InvalidEvent(
                "event",
                name,
                "is not an event name (a letter, then up to 99 letters, digits or _ .:-)",
            )
        if (guess := near_miss(name)) is not None:
            log.warning("event %r is not a standard TikTok event; did you mean %r?", name, guess)
    if event_id is None:
        event_id = new_event_id()
    elif not isinstance(event_id, str) or not event_id.strip() or len(event_id) > 128:
        raise InvalidEvent("event_id", event_id, "must be a non-empty string of at most 128 chars")
    clean: dict[str, Any] = {}
    for key, raw in (params or {}).items():
        if raw is None:
            continue
        try:
            if key == "contents":
                clean[key] = _contents(key, raw, on_error)
            else:
                clean[key] = _PARAMS.get(key, _json_value)(key, raw)
        except InvalidEvent as exc:
            on_error(exc)
    if "value" in clean and "currency" not in clean:
        on_error(InvalidEvent("currency", None, f"is required with value in {name}"))
    return Event(name=name, params=clean, event_id=event_id)
