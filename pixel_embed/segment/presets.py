"""The Segment destination's presets, and :class:`SegmentMappings`: the mappings a site uses
(the presets, its own, or a ``.toml`` / ``.json`` file), in order.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from .mappings import (
    MULTI_PRODUCT,
    SINGLE_PRODUCT,
    WEB_EVENT_DEFAULTS,
    MappedCall,
    MappingError,
    SegmentMapping,
    path,
)

# (name, Segment event or call, TikTok event, contents): the destination's presets.
PresetRow = tuple[str, str, str, dict[str, Any] | None]
_PRESET_ROWS: tuple[PresetRow, ...] = (
    ("View Content", 'type = "page"', "ViewContent", SINGLE_PRODUCT),
    ("Search", "Products Searched", "Search", SINGLE_PRODUCT),
    ("Add to Wishlist", "Product Added to Wishlist", "AddToWishlist", SINGLE_PRODUCT),
    ("Add to Cart", "Product Added", "AddToCart", SINGLE_PRODUCT),
    ("Initiate Checkout", "Checkout Started", "InitiateCheckout", MULTI_PRODUCT),
    ("Add Payment Info", "Payment Info Entered", "AddPaymentInfo", MULTI_PRODUCT),
    ("Place an Order", "Order Completed", "PlaceAnOrder", MULTI_PRODUCT),
)
# The destination's current set (April 2024; "Page View" since September 2024, #2377).
_LATEST_ROWS: tuple[PresetRow, ...] = (
    ("Complete Payment", "Order Completed", "CompletePayment", MULTI_PRODUCT),
    ("Contact", "Callback Started", "Contact", None),
    ("Subscribe", "Subscription Created", "Subscribe", None),
    ("Submit Form", "Form Submitted", "SubmitForm", None),
    ("View Content", "Product Viewed", "ViewContent", SINGLE_PRODUCT),
    ("Click Button", "Product Clicked", "ClickButton", SINGLE_PRODUCT),
    *_PRESET_ROWS[1:6],
    ("Place an Order", "Order Placed", "PlaceAnOrder", MULTI_PRODUCT),
    ("Download", "Download Link Clicked", "Download", None),
    ("Complete Registration", "Signed Up", "CompleteRegistration", None),
)


def _presets(rows: Iterable[PresetRow], **fields: Any) -> tuple[SegmentMapping, ...]:
    mappings = [
        SegmentMapping(
            name=name,
            subscribe=call if call.startswith("type") else f"event = {json.dumps(call)}",
            mapping={"event": event, **({"contents": contents} if contents else {}), **fields},
        )
        for name, call, event, contents in rows
    ]
    identify = SegmentMapping(name="Identify", subscribe='type = "identify"', action="identify")
    return (*mappings, identify)


# The first presets (2023) were saved with that version's field defaults: a description from
# the properties and no content_type. A preset keeps the defaults it was made with.
_FIRST_DEFAULTS = {"description": path("$.properties.description"), "content_type": None}
# "Page View" maps the event name and nothing else: no identity, no parameters; the event id
# stays messageId, so the page view deduplicates with a server copy.
PAGE_VIEW = SegmentMapping(
    name="Page View",
    subscribe='type = "page"',
    mapping={
        **{key: None for key in WEB_EVENT_DEFAULTS if key != "event_id"},
        "event": "Pageview",
    },
)
_PRESETS = _presets(_PRESET_ROWS, **_FIRST_DEFAULTS)
_LATEST_PRESETS = (PAGE_VIEW, *_presets(_LATEST_ROWS))
_PRESET_SETS = {"default": _PRESETS, "latest": _LATEST_PRESETS, "none": ()}
_ENTRY_KEYS = {"name", "subscribe", "partnerAction", "mapping", "enabled"}


class SegmentMappings:
    """The mappings a site uses, in order; every matching mapping makes its calls.

    ::

        SegmentMappings.presets()                     # the destination's presets
        SegmentMappings.presets(SegmentMapping(...))  # the presets and a custom mapping
        SegmentMappings.load("tiktok_mappings.toml")  # from a file

    :raises MappingError: two mappings share a name.
    """

    def __init__(self, mappings: Iterable[SegmentMapping] = ()) -> None:
        self.mappings: tuple[SegmentMapping, ...] = tuple(mappings)
        seen: set[str] = set()
        for mapping in self.mappings:
            if not isinstance(mapping, SegmentMapping):
                raise ConfigurationError(f"{mapping!r} is not a SegmentMapping")
            if mapping.name in seen:
                raise MappingError(
                    mapping.name, None, "is defined twice: give each mapping its own name"
                )
            seen.add(mapping.name)

    @classmethod
    def presets(cls, *extra: SegmentMapping) -> SegmentMappings:
        """The destination's first presets (2023: page → ViewContent, ``Order Completed`` →
        PlaceAnOrder, …, with that version's ``description`` default and no ``content_type``)
        and Identify, followed by ``extra``."""
        return cls((*_PRESETS, *extra))

    @classmethod
    def latest_presets(cls, *extra: SegmentMapping) -> SegmentMappings:
        """The destination's current presets (``page`` → ``Pageview``, ``Order Completed`` →
        CompletePayment, ``Order Placed`` → PlaceAnOrder, ``Signed Up`` →
        CompleteRegistration, …), Identify, then ``extra``."""
        return cls((*_LATEST_PRESETS, *extra))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, origin: str | None = None) -> SegmentMappings:
        """Build from the file form: ``{"presets": "default", "mappings": [{name, subscribe,
        partnerAction, mapping, enabled}, …]}`` (``presets``: ``default``, ``latest`` or
        ``none``).

        :param origin: where ``data`` came from, for error messages.
        :raises MappingError: an entry is invalid.
        """
        where = f"{origin}: " if origin else ""
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"{where}mappings must be a table, not {data!r}")
        unknown = set(data) - {"presets", "mappings"}
        if unknown:
            raise ConfigurationError(
                f"{where}unknown keys {sorted(unknown)!r}: the keys are 'presets' and 'mappings'"
            )
        preset = data.get("presets", "default")
        if preset not in _PRESET_SETS:
            raise ConfigurationError(
                f"{where}presets {preset!r} is not one of {list(_PRESET_SETS)!r}"
            )
        entries = data.get("mappings", [])
        if not isinstance(entries, list):
            raise ConfigurationError(f"{where}mappings must be a list of mappings, not {entries!r}")
        loaded = [_entry(number, entry, origin) for number, entry in enumerate(entries, 1)]
        try:
            return cls((*_PRESET_SETS[preset], *loaded))
        except MappingError as exc:
            raise MappingError(exc.mapping, exc.field, exc.problem, origin=origin) from None

    @classmethod
    def load(cls, file: str | os.PathLike[str]) -> SegmentMappings:
        """Read mappings from a ``.toml`` or ``.json`` file (see :meth:`from_dict`).

        :raises ConfigurationError: the file is missing, unreadable or invalid.
        """
        location = Path(file)
        if location.suffix not in (".toml", ".json"):
            raise ConfigurationError(
                f"TIKTOK_PIXEL_MAPPINGS {str(file)!r} is not a .toml or .json file"
            )
        try:
            text = location.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"TIKTOK_PIXEL_MAPPINGS {str(file)!r} cannot be read: {exc.strerror}"
            ) from None
        try:
            data = tomllib.loads(text) if location.suffix == ".toml" else json.loads(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise ConfigurationError(f"{file}: is not valid {location.suffix[1:]}: {exc}") from None
        return cls.from_dict(data, origin=str(file))

    def __iter__(self) -> Iterator[SegmentMapping]:
        return iter(self.mappings)

    def __len__(self) -> int:
        return len(self.mappings)

    def calls(self, message: Mapping[str, Any]) -> list[MappedCall]:
        """What each matching mapping makes of a Segment message (``type``, ``event``,
        ``properties``, ``traits``, ``context``, ``userId``, ``anonymousId``, ``messageId``)."""
        found = []
        for mapping in self.mappings:
            if mapping.matches(message) and (call := mapping.apply(message)) is not None:
                found.append(call)
        return found


def _entry(number: int, entry: object, origin: str | None) -> SegmentMapping:
    name = entry.get("name") if isinstance(entry, Mapping) else None
    label = name if isinstance(name, str) and name.strip() else f"#{number}"
    if not isinstance(entry, Mapping):
        raise MappingError(label, None, f"must be a table, not {entry!r}", origin=origin)
    for key in sorted(set(entry) - _ENTRY_KEYS):
        raise MappingError(
            label,
            key,
            f"is not a key of a mapping; they are {sorted(_ENTRY_KEYS)!r}",
            origin=origin,
        )
    for key in ("name", "subscribe"):
        if key not in entry:
            raise MappingError(label, key, "is required", origin=origin)
    try:
        return SegmentMapping(
            name=entry["name"],
            subscribe=entry["subscribe"],
            mapping=entry.get("mapping", {}),
            action=entry.get("partnerAction", "reportWebEvent"),
            enabled=entry.get("enabled", True),
        )
    except MappingError as exc:
        field = "partnerAction" if exc.field == "action" else exc.field
        raise MappingError(exc.mapping, field, exc.problem, origin=origin) from None
