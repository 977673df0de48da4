"""Rules about each ``ttq.track`` call: its event name, its parameters and ``contents``, its
amounts and currency, and its ``event_id``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ...browser.calls import RecordedCall
from ...currencies import CURRENCIES
from ...events import (
    CONTENT_TYPES,
    PURCHASE_EVENTS,
    STANDARD_EVENTS,
    WIRE_EVENT_NAMES,
    near_miss,
)
from .evidence import Evidence, Finding, PageFacts

#: Parameters of ``ttq.track`` that TikTok reads (TikTok for Business, "Standard events and
#: parameters"): any other key is sent but ignored.
KNOWN_PARAMETERS: frozenset[str] = frozenset(
    {
        "content_category",
        "content_id",
        "content_ids",
        "content_name",
        "content_type",
        "contents",
        "currency",
        "description",
        "num_items",
        "order_id",
        "price",
        "quantity",
        "query",
        "search_string",
        "shop_id",
        "value",
    }
)

#: Fields of one item of ``contents`` that TikTok reads.
KNOWN_ITEM_FIELDS: frozenset[str] = frozenset(
    {"brand", "content_category", "content_id", "content_name", "content_type", "price", "quantity"}
)

#: Event names of older integrations and what TikTok expects instead: ``ttq.page()`` for a page
#: view, else the standard event TikTok's own SDK turns the old name into on the wire (the
#: library's :data:`~pixel_embed.events.WIRE_EVENT_NAMES`, read from the SDK), so the advice and
#: what TikTok does never disagree.
_PAGE_VIEW_NAMES = ("Browse", "Pageview", "PageView", "Page View", "ViewPage", "PageVisit")
LEGACY_EVENTS: dict[str, str] = {
    **dict.fromkeys(_PAGE_VIEW_NAMES, "ttq.page()"),
    **{old: new for old, new in WIRE_EVENT_NAMES.items() if old not in STANDARD_EVENTS},
}

# A plain number as a string ("49.90"): TikTok reads it; "1,049.90" or "$49" it does not.
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _tracks(evidence: Evidence) -> Iterator[tuple[PageFacts, int, RecordedCall, dict[str, Any]]]:
    for page, number, call in evidence.numbered():
        if call.method == "track" and call.event is not None:
            yield page, number, call, call.params


def _items(params: dict[str, Any]) -> Iterator[tuple[int, Any]]:
    items = params.get("contents")
    if isinstance(items, list):
        yield from enumerate(items)


def currency(evidence: Evidence) -> Iterator[Finding]:
    """``value`` needs an ISO 4217 ``currency``."""
    for page, number, call, params in _tracks(evidence):
        code = params.get("currency")
        if "value" in params and code is None:
            yield Finding(
                "value-without-currency",
                "error",
                f"{call.event} has value {params['value']!r} but no currency: TikTok drops the "
                "value",
                number,
                page.url,
            )
        elif code is not None and not (
            isinstance(code, str) and code.strip().upper() in CURRENCIES
        ):
            yield Finding(
                "invalid-currency",
                "error",
                f"{call.event} currency {code!r} is not an ISO 4217 code such as 'USD'",
                number,
                page.url,
            )


def content_ids(evidence: Evidence) -> Iterator[Finding]:
    """Every item of ``contents`` needs a ``content_id`` (an item keyed ``id`` gets the fix)."""
    for page, number, call, params in _tracks(evidence):
        for index, item in _items(params):
            if not isinstance(item, dict) or item.get("content_id") in (None, ""):
                hint = ": TikTok cannot match it to a catalogue item"
                if isinstance(item, dict) and item.get("id") not in (None, ""):
                    hint = f" but has id {item['id']!r}: rename the key to content_id"
                yield Finding(
                    "content-without-id",
                    "error",
                    f"{call.event} contents[{index}] has no content_id{hint}",
                    number,
                    page.url,
                )


def purchase_value(evidence: Evidence) -> Iterator[Finding]:
    """A purchase-type event needs a ``value``."""
    for page, number, call, params in _tracks(evidence):
        if call.event in PURCHASE_EVENTS and "value" not in params:
            yield Finding(
                "purchase-without-value",
                "error",
                f"{call.event} has no value: the sale is counted without its amount",
                number,
                page.url,
            )


def _bad_number(value: Any) -> str | None:
    """Why ``value`` is not an amount TikTok can read (``None``: it is one)."""
    if value is None:
        return "is null"
    if isinstance(value, str):
        return None if _NUMBER.fullmatch(value.strip()) else "is a formatted string, not a number"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "is not a number"
    return None


def amounts(evidence: Evidence) -> Iterator[Finding]:
    """``value`` (and each item's ``price``) is a number: null, ``"1,049.90"`` or ``"$49"`` is
    not summed by TikTok."""
    for page, number, call, params in _tracks(evidence):
        found = [("value", params["value"])] if "value" in params else []
        found += [
            (f"contents[{index}].price", item["price"])
            for index, item in _items(params)
            if isinstance(item, dict) and "price" in item
        ]
        for name, value in found:
            why = _bad_number(value)
            if why is not None:
                yield Finding(
                    "invalid-value",
                    "error",
                    f"{call.event} {name} {value!r} {why}: send a number such as 1049.9",
                    number,
                    page.url,
                )


def content_type(evidence: Evidence) -> Iterator[Finding]:
    """``content_type`` is ``product`` or ``product_group``."""
    allowed = " or ".join(repr(name) for name in sorted(CONTENT_TYPES))
    for page, number, call, params in _tracks(evidence):
        found = [("content_type", params["content_type"])] if "content_type" in params else []
        found += [
            (f"contents[{index}].content_type", item["content_type"])
            for index, item in _items(params)
            if isinstance(item, dict) and "content_type" in item
        ]
        for name, value in found:
            if value not in CONTENT_TYPES:
                yield Finding(
                    "invalid-content-type",
                    "warning",
                    f"{call.event} {name} is {value!r}: TikTok matches {allowed} to your "
                    "catalogue, nothing else",
                    number,
                    page.url,
                )


def double_purchase(evidence: Evidence) -> Iterator[Finding]:
    """One order, one purchase-type event per page load (per pixel): ``PlaceAnOrder`` then
    ``CompletePayment`` for the same order, or ``CompletePayment`` twice, counts it twice."""
    for page in evidence.pages:
        earlier: list[tuple[int, RecordedCall]] = []
        for number, call in page.numbered():
            if call.method != "track" or call.event not in PURCHASE_EVENTS:
                continue
            order = call.params.get("order_id") or None
            # Two different order ids are two orders; a call without one is the same order.
            same = next(
                (
                    (before, other)
                    for before, other in earlier
                    if other.pixel == call.pixel
                    and (order is None or other.params.get("order_id") in (None, "", order))
                ),
                None,
            )
            earlier.append((number, call))
            if same is None:
                continue
            before, other = same
            if call.event == other.event and call.event_id and call.event_id == other.event_id:
                continue  # duplicate-event-id says it
            yield Finding(
                "double-purchase",
                "error",
                f"{call.event} after {other.event} (call {before}) for the same order on one "
                "page load: TikTok counts the sale twice; send only one of them",
                number,
                page.url,
            )


def duplicate_event_ids(evidence: Evidence) -> Iterator[Finding]:
    """One ``event_id`` per event (per pixel): a second use is a second event dropped as a
    duplicate, or the same event fired twice."""
    seen: dict[tuple[str | None, str], int] = {}
    for page, number, call, _ in _tracks(evidence):
        event_id = call.event_id
        if event_id is None:
            continue
        key = (call.pixel, event_id)
        if key in seen:
            yield Finding(
                "duplicate-event-id",
                "error",
                f"{call.event} reuses event_id {event_id!r} of call {seen[key]}: TikTok keeps "
                "only one of them",
                number,
                page.url,
            )
        else:
            seen[key] = number


def event_names(evidence: Evidence) -> Iterator[Finding]:
    """A legacy name (``Browse``, ``StartCheckout``) or a name close to a standard event is a
    mistake (warning); another is a deliberate custom event (info)."""
    for page, number, call, _ in _tracks(evidence):
        name = call.event or ""
        if name in STANDARD_EVENTS:
            continue
        if name in LEGACY_EVENTS:
            instead = LEGACY_EVENTS[name]
            what = "a page view" if instead == "ttq.page()" else "a standard event"
            use = instead if instead == "ttq.page()" else f"ttq.track({instead!r})"
            yield Finding(
                "legacy-event",
                "warning",
                f"{name!r} is an event name of older integrations, not {what} TikTok reports "
                f"or optimises for: use {use}",
                number,
                page.url,
            )
            continue
        guess = near_miss(name)
        if guess is not None:
            yield Finding(
                "event-near-miss",
                "warning",
                f"{name!r} is not a standard TikTok event; did you mean {guess!r}?",
                number,
                page.url,
            )
        else:
            yield Finding("custom-event", "info", f"custom event {name!r}", number, page.url)


def _item_key_fixed(item: dict[str, Any], key: str) -> bool:
    """``id`` of an item without ``content_id``: content-without-id already says to rename it."""
    return key == "id" and item.get("content_id") in (None, "")


def ignored_parameters(evidence: Evidence) -> Iterator[Finding]:
    """Parameters TikTok does not read are sent for nothing."""
    for page, number, call, params in _tracks(evidence):
        unknown = sorted(set(params) - KNOWN_PARAMETERS - {"event_id"})
        for index, item in _items(params):
            if isinstance(item, dict):
                unknown += [
                    f"contents[{index}].{k}"
                    for k in item
                    if k not in KNOWN_ITEM_FIELDS and not _item_key_fixed(item, k)
                ]
        if unknown:
            yield Finding(
                "ignored-parameter",
                "warning",
                f"{call.event}: TikTok ignores {', '.join(unknown)}",
                number,
                page.url,
            )


def event_id_missing(evidence: Evidence) -> Iterator[Finding]:
    """Without ``event_id`` the Events API's copy of an event cannot be deduplicated; one given
    among the parameters is in the wrong place (one finding that says where it belongs)."""
    for page, number, call, params in _tracks(evidence):
        if call.event_id is not None:
            continue
        if "event_id" in params:
            yield Finding(
                "event-id-in-params",
                "warning",
                f"{call.event} passes event_id {params['event_id']!r} among the parameters, "
                f"where TikTok does not read it: pass it as the third argument, "
                f"ttq.track({call.event!r}, {{…}}, {{event_id: …}})",
                number,
                page.url,
            )
        else:
            yield Finding(
                "no-event-id",
                "warning",
                f"{call.event} has no event_id: a server-side copy would be counted twice",
                number,
                page.url,
            )


#: Events that put something in a cart or start paying: TikTok optimises them on value.
_CART_EVENTS = frozenset({"AddToCart", "InitiateCheckout", "AddPaymentInfo"})


def _content_ids(params: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    if "content_id" in params:
        yield "content_id", params["content_id"]
    for index, item in _items(params):
        if isinstance(item, dict) and "content_id" in item:
            yield f"contents[{index}].content_id", item["content_id"]


def content_id_numbers(evidence: Evidence) -> Iterator[Finding]:
    """A ``content_id`` sent as a number: catalogue ids are strings, and ``8011`` does not match
    ``"8011"`` (nor survives as ``0042``)."""
    for page, number, call, params in _tracks(evidence):
        for name, value in _content_ids(params):
            if isinstance(value, int | float) and not isinstance(value, bool):
                yield Finding(
                    "content-id-number",
                    "warning",
                    f"{call.event} {name} is the number {value!r}: send the catalogue id as a "
                    f"string ({str(value)!r}), as your catalogue holds it",
                    number,
                    page.url,
                )


def cart_without_value(evidence: Evidence) -> Iterator[Finding]:
    """AddToCart and InitiateCheckout without value, currency and contents: counted, but
    useless for value optimisation and catalogue ads."""
    for page, number, call, params in _tracks(evidence):
        if call.event not in _CART_EVENTS:
            continue
        missing = [key for key in ("value", "currency", "contents") if key not in params]
        if "value" in missing and "contents" in missing:
            yield Finding(
                "event-without-value",
                "warning",
                f"{call.event} has no {', '.join(missing)}: TikTok counts it but cannot optimise "
                "on its value or match it to your catalogue; send value, currency and contents",
                number,
                page.url,
            )


def unit_price_value(evidence: Evidence) -> Iterator[Finding]:
    """``value`` equal to the unit price of the only item while its ``quantity`` is more than
    one: the total was meant."""
    for page, number, call, params in _tracks(evidence):
        items = [item for _, item in _items(params) if isinstance(item, dict)]
        value = params.get("value", "none")
        if len(items) != 1 or _bad_number(value) is not None:
            continue
        price, quantity = items[0].get("price", "none"), items[0].get("quantity", "none")
        if _bad_number(price) is not None or _bad_number(quantity) is not None:
            continue
        unit, count = float(price), float(quantity)
        if count > 1 and float(value) == unit and unit > 0:
            total = round(unit * count, 2)
            yield Finding(
                "value-is-unit-price",
                "warning",
                f"{call.event} value {value!r} is the unit price of {quantity!r} items: send the "
                f"total ({total:g})",
                number,
                page.url,
            )
