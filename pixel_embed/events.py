"""TikTok's web event vocabulary, and validation of the events a view queues.

Validation is framework-free. Each problem is an :class:`~pixel_embed.errors.InvalidEvent` naming
the field; the caller decides (through ``on_error``) whether it raises or whether the bad field
is dropped and the rest of the event kept.
"""

from __future__ import annotations

import difflib
import itertools
import logging
import math
import os
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from .currencies import CURRENCIES
from .errors import InvalidEvent, PersonalDataInText
from .screening import (
    KNOWN_CLEAN,
    UNENCODABLE,
    find_personal_data,
    holds_personal_data,
    is_encodable,
    mask_personal_data,
)

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

#: The event names TikTok's SDK sends in place of the name a page tracks (pixel.js 2.2.1, the
#: table its ``getEventType`` reads; ../shared/tiktok-sdk): every other name goes out unchanged.
#: ``tests/test_qa_kit_wire.py`` checks it against the SDK copy, as written in the bundle and by
#: sending each name through the SDK in Chromium.
#: TikTok renamed CompletePayment to Purchase and SubmitForm to Lead in May 2025 ("How to adopt
#: TikTok's updated standard events"); the others are its "reserved events". The server sends
#: the same name as the browser's beacon, so the pair is deduplicated for certain.
WIRE_EVENT_NAMES: Mapping[str, str] = {
    "CompletePayment": "Purchase",
    "SubmitForm": "Lead",
    "ViewForm": "ViewContent",
    "ViewConsultationPage": "ViewContent",
    "ViewDownloadPage": "ViewContent",
    "Checkout": "PlaceAnOrder",
    "Registration": "CompleteRegistration",
    "AddBilling": "AddPaymentInfo",
    "StartCheckout": "InitiateCheckout",
    "ClickInDownloadPage": "ClickButton",
    "ClickInConsultationPage": "ClickButton",
    "ClickForm": "ClickButton",
    "ClickToDownload": "Download",
    "Consult": "Contact",
    "ConsultByPhone": "Contact",
}


def wire_event_name(name: str) -> str:
    """The name TikTok's SDK sends for an event a page tracks as ``name``."""
    return WIRE_EVENT_NAMES.get(name, name)


#: The namespace of :func:`order_event_id`'s UUIDs (``uuid5(NAMESPACE_URL,
#: "https://pixel-embed.readthedocs.io/order-event-id")``): a constant, so that every process,
#: every version and any other implementation derives the same ids.
ORDER_EVENT_NAMESPACE = uuid.UUID("16beeb40-a3b1-5355-8558-81c5a7277d2b")


def order_event_id(event: str, order_id: str | int) -> str:
    """The ``event_id`` of purchase event ``event`` (one of :data:`PURCHASE_EVENTS`) for order
    ``order_id``: the same on every render of the page, in every browser, for every pixel,
    and in a server copy or a webhook sent later, so TikTok counts the order once.

    It is ``str(uuid.uuid5(ORDER_EVENT_NAMESPACE, f"{wire_event_name(event)}:{order_id}"))``:
    the name on the wire, so ``CompletePayment`` and ``Purchase`` of one order (both
    ``Purchase`` at TikTok) share it, and ``PlaceAnOrder`` has its own.

    :raises InvalidEvent: ``order_id`` is empty, or not a string or an integer.
    """
    if isinstance(order_id, bool) or not isinstance(order_id, str | int):
        raise InvalidEvent("order_id", order_id, "must be a string or an integer")
    text = str(order_id)
    if not text.strip():
        raise InvalidEvent("order_id", order_id, "is empty")
    return str(uuid.uuid5(ORDER_EVENT_NAMESPACE, f"{wire_event_name(event)}:{text}"))


_EVENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_ .:-]{0,99}")
_FOLD = re.compile(r"[^a-z0-9]")
_INTEGER = re.compile(r"[+-]?\d+")
_FOLDED_STANDARD = {_FOLD.sub("", name.lower()): name for name in STANDARD_EVENTS}
_TEXT_PARAMS = ("query", "description", "order_id", "shop_id", "content_name", "content_category")
_ITEM_TEXT = ("content_id", "content_name", "content_category", "brand")

OnError = Callable[[InvalidEvent], None]

# Limits on what one event may carry. Beyond them a value is refused in microseconds, before
# any parsing or screening: a 500 kB form field costs no more than a short one.
#: The longest text parameter, in characters (a query, a description, an id, a nested string).
MAX_TEXT_LENGTH = 1000
#: The most characters of text in all of one event's parameters together.
MAX_EVENT_TEXT = 10_000
#: The most parameters of one event.
MAX_PARAMS = 100
#: The most items in ``contents``, ``content_ids``, or a list or mapping parameter.
MAX_ITEMS = 500
#: How deeply a parameter's lists and mappings may nest.
MAX_DEPTH = 8
#: The longest parameter name.
MAX_KEY_LENGTH = 100
#: The longest numeric string read as a number ("19.99", "1e3"): longer is not a price.
MAX_NUMBER_LENGTH = 32
#: The largest number accepted: JavaScript's ``Number.MAX_SAFE_INTEGER`` (2**53 - 1).
MAX_NUMBER = 2**53 - 1
#: Parameter names refused anywhere: in the browser they change an object's prototype
#: (``__proto__``) or shadow what every object inherits.
RESERVED_KEYS: frozenset[str] = frozenset({"__proto__", "constructor", "prototype"})


#: The most problems of one event reported one by one; the rest are counted in one more.
MAX_REPORTED = 20


class _Check:
    """One event's validation: where problems go, and how much text it may still carry."""

    __slots__ = ("on_error", "reported", "text_left", "unreported")

    def __init__(self, on_error: OnError) -> None:
        self.on_error = on_error
        self.text_left = MAX_EVENT_TEXT
        self.reported = 0
        self.unreported = 0

    def report(self, error: InvalidEvent) -> None:
        """Hand ``error`` to ``on_error``, unless :data:`MAX_REPORTED` were already: a hostile
        event must not write hundreds of log lines."""
        if self.reported < MAX_REPORTED:
            self.reported += 1
            self.on_error(error)
        else:
            self.unreported += 1

    def done(self) -> None:
        if self.unreported:
            self.on_error(
                InvalidEvent(
                    "params",
                    f"{self.unreported} more problems",
                    "were found in this event; each bad field was left out",
                )
            )


def _kinds(text: str) -> str:
    kinds = {kind for kind, _ in find_personal_data(text)}
    if kinds == {"email"}:
        return "an e-mail address"
    if kinds == {"phone"}:
        return "a phone number"
    return "an e-mail address or a phone number"


def _screen(field: str, text: str, check: _Check) -> str:
    """Free text as it may be sent: at most :data:`MAX_TEXT_LENGTH` characters (and within
    the event's budget), encodable, without an e-mail address or phone number.

    :raises PersonalDataInText: the text holds one; ``.masked`` is the text to send instead.
    """
    size = len(text)
    if size > MAX_TEXT_LENGTH:
        raise InvalidEvent(field, text, f"is longer than {MAX_TEXT_LENGTH} characters")
    if size > check.text_left:
        check.text_left = -1  # spent: the lists and mappings being read stop here
        raise InvalidEvent(
            field,
            text,
            f"takes the event's text beyond {MAX_EVENT_TEXT} characters in all; it and the "
            "rest of the lists and mappings it is in are left out",
        )
    check.text_left -= size
    if not text.isascii() and not is_encodable(text):
        raise InvalidEvent(field, text, UNENCODABLE)
    if text in KNOWN_CLEAN:  # mask_personal_data's own first test, without the call
        return text
    masked = mask_personal_data(text)
    if masked != text:
        raise PersonalDataInText(field, text, f"holds what looks like {_kinds(text)}", masked)
    return text


def _spend(field: str, key: str, check: _Check) -> None:
    """Count a parameter's name in the event's text budget (a name is sent as text is)."""
    check.text_left -= len(key)
    if check.text_left < 0:
        raise InvalidEvent(
            field,
            key,
            f"takes the event's text beyond {MAX_EVENT_TEXT} characters in all (names count); "
            "it and the rest of the lists and mappings it is in are left out",
        )


def _key(field: str, key: object) -> str:
    """A parameter name that is safe to send (``field`` is the name with its path)."""
    if type(key) is not str:
        raise InvalidEvent(field, key, f"is not a string but a {type(key).__name__}")
    if key in RESERVED_KEYS:
        raise InvalidEvent(
            field, key, "is a name JavaScript objects treat specially; use another name"
        )
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidEvent(field, key, f"is longer than {MAX_KEY_LENGTH} characters")
    if not is_encodable(key):
        raise InvalidEvent(field, key, UNENCODABLE)
    if holds_personal_data(key):
        raise InvalidEvent(
            field,
            key,
            "is a name that looks like personal data; it cannot be masked",
            sensitive=True,
        )
    return key


def unreadable(exc: BaseException) -> str:
    """The problem of a value that raised when it was read: an object whose ``__eq__``,
    ``__hash__``, ``__str__``, ``__iter__``… raises."""
    return f"could not be read (reading it raised {type(exc).__name__})"


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


def _too_large(field: str, value: object) -> InvalidEvent:
    return InvalidEvent(field, value, f"is beyond {MAX_NUMBER} (2**53 - 1), not an amount")


def _number(field: str, value: object) -> int | float:
    kind = type(value)
    if kind is int:
        if -MAX_NUMBER <= cast(int, value) <= MAX_NUMBER:
            return cast(int, value)
        raise _too_large(field, value)
    if kind is float and -MAX_NUMBER <= cast(float, value) <= MAX_NUMBER:  # finite, too
        return cast(float, value)
    if isinstance(value, bool):
        raise InvalidEvent(field, value, "must be a number, not a bool")
    if isinstance(value, int):
        number: int | float = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_NUMBER_LENGTH:
            raise InvalidEvent(
                field, value, f"is too long to be a number (over {MAX_NUMBER_LENGTH} characters)"
            )
        try:
            parsed = Decimal(text)
        except InvalidOperation:
            raise InvalidEvent(field, value, "is not a number") from None
        if not parsed.is_finite():  # NaN, sNaN, Infinity: float() even raises on sNaN
            raise InvalidEvent(field, value, "must be a finite number")
        number = int(parsed) if _INTEGER.fullmatch(text) else float(parsed)
    elif isinstance(value, float):
        number = float(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidEvent(field, value, "must be a finite number")
        number = float(value)
    else:
        raise InvalidEvent(field, value, f"must be a number, not {type(value).__name__}")
    if not math.isfinite(number):
        raise InvalidEvent(field, value, "must be a finite number")
    if not -MAX_NUMBER <= number <= MAX_NUMBER:
        raise _too_large(field, value)
    return number


def _amount(field: str, value: object, check: _Check | None = None) -> int | float:
    # The common case first: what the checks below would return as it is (NaN fails both).
    # (No typing.cast in these: it is a function call, and this runs for every amount.)
    if (type(value) is float or type(value) is int) and 0 <= value <= MAX_NUMBER:
        return value
    number = _number(field, value)
    if number < 0:
        raise InvalidEvent(field, value, "must not be negative")
    return number


def _quantity(field: str, value: object, check: _Check | None = None) -> int:
    if type(value) is int and 1 <= value <= MAX_NUMBER:  # the common case first
        return value
    number = _number(field, value)
    if number != int(number) or number < 1:
        raise InvalidEvent(field, value, "must be a whole number of at least 1")
    return int(number)


def _text(field: str, value: object, check: _Check) -> str:
    if type(value) is str and value and not value.isspace():
        return _screen(field, value, check)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(_number(field, value))
    if not isinstance(value, str):
        raise InvalidEvent(field, value, f"must be a string, not {type(value).__name__}")
    if not str.strip(value):
        raise InvalidEvent(field, value, "is empty")
    return _screen(field, str.__str__(value), check)


def _currency(field: str, value: object, check: _Check | None = None) -> str:
    if type(value) is str and value in CURRENCIES:
        return value
    if not isinstance(value, str) or len(value) > 8:
        raise InvalidEvent(field, value, "must be an ISO 4217 code such as 'USD'")
    code = value.strip().upper()
    if code not in CURRENCIES:
        raise InvalidEvent(field, value, "is not an ISO 4217 currency code such as 'USD'")
    return code


def _content_type(field: str, value: object, check: _Check | None = None) -> str:
    if type(value) is not str or value not in CONTENT_TYPES:
        raise InvalidEvent(field, value, "must be 'product' or 'product_group'")
    return value


def _json_value(field: str, value: object, check: _Check, depth: int = 0) -> Any:
    """Any other parameter: JSON-serialisable, its text screened, its size and depth bounded.

    A bad entry inside a list or mapping is reported (with its path) and left out; the rest
    is kept.
    """
    kind = type(value)
    if kind is str:
        return _screen(field, cast(str, value), check)
    if kind is bool or value is None:
        return value
    if kind is int or kind is float or isinstance(value, int | float):
        if isinstance(value, bool):
            return bool(value)
        return _number(field, value)
    if isinstance(value, str):
        return _screen(field, str.__str__(value), check)
    if isinstance(value, Mapping):
        entries: Any = value.items()
    elif isinstance(value, list | tuple):
        entries = enumerate(value)
    else:
        raise InvalidEvent(field, value, "is not JSON-serialisable")
    if depth >= MAX_DEPTH:
        raise InvalidEvent(field, value, f"nests lists or mappings more than {MAX_DEPTH} deep")
    if len(value) > MAX_ITEMS:
        raise InvalidEvent(field, value, f"has more than {MAX_ITEMS} items")
    mapping = isinstance(value, Mapping)
    kept: dict[str, Any] = {}
    for key, item in entries:
        if mapping:
            path = f"{field}.{key}" if type(key) is str else f"{field}.(a key)"
        else:
            path = f"{field}[{key}]"
        try:
            if mapping:
                _spend(path, _key(path, key), check)
            kept[key] = _json_value(path, item, check, depth + 1)
        except PersonalDataInText as exc:
            check.report(exc)
            kept[key] = exc.masked
        except InvalidEvent as exc:
            check.report(exc)
        except Exception as exc:  # an object whose methods raise: this entry only
            check.report(InvalidEvent(path, item, unreadable(exc)))
        if check.text_left < 0:
            break
    return kept if mapping else list(kept.values())


Check = Callable[[str, object, _Check], Any]

_ITEM_FIELDS: dict[str, Check] = {
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
    if isinstance(error, PersonalDataInText):
        return PersonalDataInText(f"{path}.{error.field}", error.value, error.problem, error.masked)
    return InvalidEvent(f"{path}.{error.field}", error.value, error.problem)


def _item(field: str, index: int, value: object, check: _Check) -> dict[str, Any] | None:
    """Item ``index`` of the list ``field`` (its path, ``contents[1]``, is written only for an
    error or an unknown key)."""
    if type(value) is not dict and not isinstance(value, Mapping):
        check.report(
            InvalidEvent(f"{field}[{index}]", value, "must be a mapping with at least 'content_id'")
        )
        return None
    if len(value) > MAX_PARAMS:
        check.report(InvalidEvent(f"{field}[{index}]", value, f"has more than {MAX_PARAMS} fields"))
        return None
    if value.get("content_id") in (None, ""):
        check.report(
            InvalidEvent(f"{field}[{index}].content_id", value.get("content_id"), "is required")
        )
        return None
    item: dict[str, Any] = {}
    for key, raw in value.items():
        known = _ITEM_FIELDS.get(key)
        try:
            if known is not None:
                item[key] = known(key, raw, check)
            else:  # rare: names the whole path itself
                path = f"{field}[{index}]"
                name = _key(f"{path}.{key if type(key) is str else '(a key)'}", key)
                _spend(f"{path}.{name}", name, check)
                item[key] = _json_value(f"{path}.{name}", raw, check)
        except PersonalDataInText as exc:
            check.report(_nested(exc, f"{field}[{index}]") if known else exc)
            item[key] = exc.masked
        except InvalidEvent as exc:
            check.report(_nested(exc, f"{field}[{index}]") if known else exc)
    return item if "content_id" in item else None


def _list(field: str, value: object, what: str) -> Sequence[Any]:
    if type(value) is not list and (
        isinstance(value, Mapping) or not isinstance(value, Sequence) or isinstance(value, str)
    ):
        raise InvalidEvent(field, value, f"must be a list of {what}")
    if len(value) > MAX_ITEMS:
        raise InvalidEvent(field, value, f"has more than {MAX_ITEMS} items")
    return value


def _contents(field: str, value: object, check: _Check) -> list[dict[str, Any]]:
    items = []
    if type(value) is not list or len(value) > MAX_ITEMS:  # a short list needs no more checks
        value = _list(field, value, "items (mappings with 'content_id')")
    for i, raw in enumerate(value):
        try:
            item = _item(field, i, raw, check)
        except InvalidEvent:  # strict mode's on_error
            raise
        except Exception as exc:  # an object whose methods raise: this item only
            check.report(InvalidEvent(f"{field}[{i}]", raw, unreadable(exc)))
            continue
        if item is not None:
            items.append(item)
        if check.text_left < 0:
            break
    return items


def _content_ids(field: str, value: object, check: _Check) -> list[str]:
    if isinstance(value, str | int) and not isinstance(value, bool):
        value = [value]
    ids = []
    for i, item in enumerate(_list(field, value, "content ids")):
        try:
            ids.append(_text(f"{field}[{i}]", item, check))
        except PersonalDataInText as exc:
            check.report(exc)
            ids.append(exc.masked)
        if check.text_left < 0:
            break
    return ids


_PARAMS: dict[str, Check] = {
    "value": _amount,
    "content_ids": _content_ids,
    "num_items": _quantity,
    "search_string": _text,
    "contents": _contents,
    "currency": _currency,
    "content_type": _content_type,
    "content_id": _text,
    **dict.fromkeys(_TEXT_PARAMS, _text),
}


def _param_items(params: object, on_error: OnError) -> Iterable[tuple[Any, Any]]:
    """The (name, value) pairs of ``params``, at most :data:`MAX_PARAMS`."""
    if type(params) is dict and len(params) <= MAX_PARAMS:
        return params.items()  # the usual case: a plain dict cannot raise
    if params is None:
        return []
    if type(params) is not dict and not isinstance(params, Mapping):
        on_error(InvalidEvent("params", params, "must be a mapping of names to values"))
        return []
    try:
        count = len(params)
        items = list(itertools.islice(params.items(), MAX_PARAMS))
    except Exception as exc:  # a mapping whose methods raise
        on_error(InvalidEvent("params", params, unreadable(exc)))
        return []
    if count > MAX_PARAMS:
        on_error(
            InvalidEvent(
                "params",
                f"{count} parameters",
                f"are more than {MAX_PARAMS}; the rest left out",
            )
        )
    return items


def validate_event(
    name: str,
    params: Mapping[str, Any] | None = None,
    *,
    event_id: str | None = None,
    on_error: OnError = raise_error,
) -> Event:
    """Check an event's name and parameters and return the :class:`Event` to render.

    Known parameters are checked and normalised (``currency`` upper-cased, numeric strings
    turned into numbers); other parameters are kept when they are JSON-serialisable. Every
    string is screened (:mod:`pixel_embed.screening`): what looks like an e-mail address or a
    phone number is reported as :class:`~pixel_embed.errors.PersonalDataInText` and, when
    ``on_error`` returns, sent masked (``[email]``, ``[phone]``). Sizes are bounded: see
    :data:`MAX_TEXT_LENGTH` and the other limits.

    :param on_error: called with each problem; the bad field is then left out (or masked).
        The default raises. An invalid event name always raises: there is no event without
        one; an invalid event id is replaced by a new one when ``on_error`` returns.
    :raises InvalidEvent: the name is invalid, or ``on_error`` raised.
    """
    if type(name) is not str or name not in STANDARD_EVENTS:
        if not isinstance(name, str) or not _EVENT_NAME.fullmatch(name):
            raise InvalidEvent(
                "event",
                name,
                "is not an event name (a letter, then up to 99 letters, digits or _ .:-)",
            )
        if holds_personal_data(name):
            raise InvalidEvent(
                "event",
                name,
                "looks like it holds a phone number; it cannot be masked",
                sensitive=True,
            )
        if (guess := near_miss(name)) is not None:
            log.warning("event %r is not a standard TikTok event; did you mean %r?", name, guess)
    derive = event_id is None and name in PURCHASE_EVENTS
    if event_id is None:
        event_id = new_event_id()
    elif (
        not isinstance(event_id, str)
        or not event_id.strip()
        or len(event_id) > 128
        or not event_id.isprintable()
        or holds_personal_data(event_id)
    ):
        on_error(
            InvalidEvent(
                "event_id",
                event_id,
                "must be a non-empty string of at most 128 printable characters, without "
                "personal data; a new id is used",
            )
        )
        event_id = new_event_id()
    check = _Check(on_error)
    clean: dict[str, Any] = {}
    for key, raw in _param_items(params, on_error):
        if raw is None:
            continue
        try:
            # A key that is not a str but equals one (its __eq__ and __hash__ say so) is
            # refused by _key, never taken for a known parameter.
            known = _PARAMS.get(key) if type(key) is str else None
            if known is not None:
                clean[key] = known(key, raw, check)
            else:
                # The name first: the value's own errors must not store a refused name.
                param = _key(key if type(key) is str else "params", key)
                _spend(param, param, check)
                clean[param] = _json_value(param, raw, check)
        except PersonalDataInText as exc:
            check.report(exc)
            clean[key] = exc.masked
        except InvalidEvent as exc:
            check.report(exc)
        except Exception as exc:  # an object whose methods raise: this parameter only
            field = key if type(key) is str else "params"
            check.report(InvalidEvent(field, raw, unreadable(exc)))
    if check.unreported:
        check.done()
    if "value" in clean and "currency" not in clean:
        on_error(InvalidEvent("currency", None, f"is required with value in {name}"))
    if derive and "order_id" in clean and params is not None:
        order_id = params.get("order_id")
        # Only from the order id as given: a masked one ("[email]") is no order's.
        if isinstance(order_id, str | int) and str(order_id) == clean["order_id"]:
            event_id = order_event_id(name, order_id)
    return Event(name, clean, event_id)
