"""TikTok's web event vocabulary, and validation of the events a view queues.

Validation is framework-free. Each problem is an :class:`~pixel_embed.errors.InvalidEvent` naming
the field; the caller decides (through ``on_error``) whether it raises or whether the bad field
is dropped and the rest of the event kept.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import IdentityInEvent, InvalidEvent, PersonalDataInText
from .event_params import CONTENT_TYPES as CONTENT_TYPES
from .event_params import MAX_DEPTH as MAX_DEPTH
from .event_params import MAX_EVENT_TEXT as MAX_EVENT_TEXT
from .event_params import MAX_ITEMS as MAX_ITEMS
from .event_params import MAX_KEY_LENGTH as MAX_KEY_LENGTH
from .event_params import MAX_NUMBER as MAX_NUMBER
from .event_params import MAX_NUMBER_LENGTH as MAX_NUMBER_LENGTH
from .event_params import MAX_PARAMS as MAX_PARAMS
from .event_params import MAX_REPORTED as MAX_REPORTED
from .event_params import MAX_TEXT_LENGTH as MAX_TEXT_LENGTH
from .event_params import PARAMS, ParamCheck, json_value, param_items, param_key, spend
from .event_params import RESERVED_KEYS as RESERVED_KEYS
from .event_params import OnError as OnError
from .event_params import unreadable as unreadable
from .matching import CLEAR_FIELDS, HASHED_FIELDS
from .screening import (
    holds_personal_data,
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
_FOLDED_STANDARD = {_FOLD.sub("", name.lower()): name for name in STANDARD_EVENTS}


#: identify()'s fields: as an event's parameter each would be rendered raw, not hashed.
IDENTITY_PARAMS: frozenset[str] = frozenset(HASHED_FIELDS + CLEAR_FIELDS)


def _identity_param(key: str, value: object) -> IdentityInEvent:
    return IdentityInEvent(
        key,
        value,
        "is an advanced-matching field: as an event parameter it would be sent unhashed; "
        f"pass it to identify({key}=...) instead",
    )


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
    check = ParamCheck(on_error)
    clean: dict[str, Any] = {}
    for key, raw in param_items(params, on_error):
        if raw is None:
            continue
        try:
            # A key that is not a str but equals one (its __eq__ and __hash__ say so) is
            # refused by param_key, never taken for a known parameter.
            known = PARAMS.get(key) if type(key) is str else None
            if known is not None:
                clean[key] = known(key, raw, check)
            elif type(key) is str and key in IDENTITY_PARAMS:
                raise _identity_param(key, raw)
            else:
                # The name first: the value's own errors must not store a refused name.
                param = param_key(key if type(key) is str else "params", key)
                spend(param, param, check)
                clean[param] = json_value(param, raw, check)
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
