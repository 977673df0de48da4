"""The checks of an event's parameters: each known parameter's type and range (``value``,
``currency``, ``contents``...), free text screened for personal data, any other value kept
as bounded JSON, and the limits that make a hostile event cost no more than a short one.

:func:`pixel_embed.events.validate_event` runs them; each problem is an
:class:`~pixel_embed.errors.InvalidEvent` naming the field, handed to the ``on_error`` of the
:class:`ParamCheck` (strict mode raises, lenient mode drops or masks the field).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
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

#: The values ``content_type`` takes.
CONTENT_TYPES: frozenset[str] = frozenset({"product", "product_group"})

_INTEGER = re.compile(r"[+-]?\d+")
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


class ParamCheck:
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


def _screen(field: str, text: str, check: ParamCheck) -> str:
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


def spend(field: str, key: str, check: ParamCheck) -> None:
    """Count a parameter's name in the event's text budget (a name is sent as text is)."""
    check.text_left -= len(key)
    if check.text_left < 0:
        raise InvalidEvent(
            field,
            key,
            f"takes the event's text beyond {MAX_EVENT_TEXT} characters in all (names count); "
            "it and the rest of the lists and mappings it is in are left out",
        )


def param_key(field: str, key: object) -> str:
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


def _amount(field: str, value: object, check: ParamCheck | None = None) -> int | float:
    # The common case first: what the checks below would return as it is (NaN fails both).
    # (No typing.cast in these: it is a function call, and this runs for every amount.)
    if (type(value) is float or type(value) is int) and 0 <= value <= MAX_NUMBER:
        return value
    number = _number(field, value)
    if number < 0:
        raise InvalidEvent(field, value, "must not be negative")
    return number


def _quantity(field: str, value: object, check: ParamCheck | None = None) -> int:
    if type(value) is int and 1 <= value <= MAX_NUMBER:  # the common case first
        return value
    number = _number(field, value)
    if number != int(number) or number < 1:
        raise InvalidEvent(field, value, "must be a whole number of at least 1")
    return int(number)


def _text(field: str, value: object, check: ParamCheck) -> str:
    if type(value) is str and value and not value.isspace():
        return _screen(field, value, check)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(_number(field, value))
    if not isinstance(value, str):
        raise InvalidEvent(field, value, f"must be a string, not {type(value).__name__}")
    if not str.strip(value):
        raise InvalidEvent(field, value, "is empty")
    return _screen(field, str.__str__(value), check)


def _currency(field: str, value: object, check: ParamCheck | None = None) -> str:
    if type(value) is str and value in CURRENCIES:
        return value
    if not isinstance(value, str) or len(value) > 8:
        raise InvalidEvent(field, value, "must be an ISO 4217 code such as 'USD'")
    code = value.strip().upper()
    if code not in CURRENCIES:
        raise InvalidEvent(field, value, "is not an ISO 4217 currency code such as 'USD'")
    return code


def _content_type(field: str, value: object, check: ParamCheck | None = None) -> str:
    if type(value) is not str or value not in CONTENT_TYPES:
        raise InvalidEvent(field, value, "must be 'product' or 'product_group'")
    return value


def json_value(field: str, value: object, check: ParamCheck, depth: int = 0) -> Any:
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
                spend(path, param_key(path, key), check)
            kept[key] = json_value(path, item, check, depth + 1)
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


Check = Callable[[str, object, ParamCheck], Any]

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


def _item(field: str, index: int, value: object, check: ParamCheck) -> dict[str, Any] | None:
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
                name = param_key(f"{path}.{key if type(key) is str else '(a key)'}", key)
                spend(f"{path}.{name}", name, check)
                item[key] = json_value(f"{path}.{name}", raw, check)
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


def _contents(field: str, value: object, check: ParamCheck) -> list[dict[str, Any]]:
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


def _content_ids(field: str, value: object, check: ParamCheck) -> list[str]:
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


PARAMS: dict[str, Check] = {
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


def param_items(params: object, on_error: OnError) -> Iterable[tuple[Any, Any]]:
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
