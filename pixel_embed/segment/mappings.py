"""Mappings from Segment calls to TikTok calls, as the Segment "TikTok Pixel" destination has them.

A :class:`SegmentMapping` is one of the destination's mappings: a name, a subscription (which
Segment calls it takes), an action (``reportWebEvent`` or ``identify``) and the action's fields,
written as Segment's mapping JSON. Fields a mapping leaves out keep the destination's default.
:class:`SegmentMappings` is the validated set a site uses; its :meth:`~SegmentMappings.calls`
is a pure function from a Segment message to the TikTok calls to make.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from ..errors import ConfigurationError, InvalidEvent, safe_repr
from ..events import validate_event
from .paths import MISSING
from .sources import ArraySource, InvalidSource, LiteralSource, Source, compile_source
from .subscriptions import InvalidSubscription, Subscription

log = logging.getLogger("pixel_embed")

Action = Literal["reportWebEvent", "identify"]
ACTIONS: tuple[Action, ...] = ("reportWebEvent", "identify")
#: The destination's "Additional Fields" choices (its ``event_spec_type``).
SPEC_TYPES = ("travel_fields", "vehicle_fields")

#: Advanced-matching fields, in the order ``ttq.identify`` gets them.
IDENTITY_FIELDS = ("email", "phone_number", "external_id", "first_name", "last_name")
ADDRESS_FIELDS = ("city", "state", "country", "zip_code")
# The destination accepts a list for these and uses its first element.
_LIST_PII = ("email", "phone_number", "external_id")
_MATCH_KEYS = ("email", "phone_number", "external_id")
#: Event parameters of Report Web Event, in the order the destination sends them.
PARAM_FIELDS = (
    "content_type",
    "currency",
    "value",
    "query",
    "description",
    "order_id",
    "shop_id",
    "content_ids",
    "num_items",
    "search_string",
)
TRAVEL_FIELDS = (
    "city",
    "region",
    "country",
    "checkin_date",
    "checkout_date",
    "num_adults",
    "num_children",
    "num_infants",
    "suggested_hotels",
    "departing_departure_date",
    "returning_departure_date",
    "origin_airport",
    "destination_airport",
    "destination_ids",
    "departing_arrival_date",
    "returning_arrival_date",
    "travel_class",
    "user_score",
    "preferred_num_stops",
    "travel_start",
    "travel_end",
    "suggested_destinations",
)
VEHICLE_FIELDS = (
    "postal_code",
    "make",
    "model",
    "year",
    "state_of_vehicle",
    "mileage_value",
    "mileage_unit",
    "exterior_color",
    "transmission",
    "body_style",
    "fuel_type",
    "drivetrain",
    "preferred_price_range_min",
    "preferred_price_range_max",
    "trim",
    "vin",
    "interior_color",
    "condition_of_vehicle",
    "viewcontent_type",
    "search_type",
    "registration_type",
)
_GROUPS: dict[str, tuple[str, ...]] = {
    "address": ADDRESS_FIELDS,
    "travel_fields": TRAVEL_FIELDS,
    "vehicle_fields": VEHICLE_FIELDS,
}
_ACTION_FIELDS: dict[Action, frozenset[str]] = {
    "reportWebEvent": frozenset(
        {"event", "event_id", "event_spec_type", "contents", *IDENTITY_FIELDS, *PARAM_FIELDS}
        | set(_GROUPS)
    ),
    "identify": frozenset({*IDENTITY_FIELDS, "address"}),
}


def path(text: str) -> dict[str, str]:
    """``{"@path": text}``: a field read from the message."""
    return {"@path": text}


def first_of(preferred: str, fallback: str) -> dict[str, Any]:
    """The ``@if``/``exists`` directive: ``preferred`` when present, else ``fallback``."""
    return {"@if": {"exists": path(preferred), "then": path(preferred), "else": path(fallback)}}


def _either(name: str) -> dict[str, Any]:
    return first_of(f"$.properties.{name}", f"$.context.traits.{name}")


#: The fields of a product item: ``product_id`` → ``content_id`` and so on.
PRODUCT_ITEM: dict[str, Any] = {
    "price": path("$.price"),
    "quantity": path("$.quantity"),
    "content_category": path("$.category"),
    "content_id": path("$.product_id"),
    "content_name": path("$.name"),
    "brand": path("$.brand"),
}
#: ``contents`` of a single-product event: the properties are the product.
SINGLE_PRODUCT = {"@arrayPath": ["$.properties", PRODUCT_ITEM]}
#: ``contents`` of a multi-product event: ``properties.products[]``.
MULTI_PRODUCT = {"@arrayPath": ["$.properties.products", PRODUCT_ITEM]}

#: Report Web Event's defaults, as the destination has them since April 2024
#: (segmentio/action-destinations #1937): ``content_type`` "product" for every mapping, and no
#: ``description`` default. Every mapping made today, a custom one included, starts from these.
WEB_EVENT_DEFAULTS: dict[str, Any] = {
    "event_id": path("$.messageId"),
    "email": _either("email"),
    "phone_number": _either("phone"),
    "external_id": first_of("$.userId", "$.anonymousId"),
    "first_name": _either("first_name"),
    "last_name": _either("last_name"),
    "address": {
        "city": _either("address.city"),
        "state": _either("address.state"),
        "country": _either("address.country"),
        "zip_code": _either("address.postal_code"),
    },
    "content_type": "product",
    "currency": path("$.properties.currency"),
    "value": first_of("$.properties.value", "$.properties.revenue"),
    **{name: path(f"$.properties.{name}") for name in PARAM_FIELDS[3:] if name != "description"},
    "travel_fields": {name: path(f"$.properties.{name}") for name in TRAVEL_FIELDS},
    "vehicle_fields": {
        name: path(f"$.properties.{'drive_train' if name == 'drivetrain' else name}")
        for name in VEHICLE_FIELDS
    },
}
#: The Identify action's defaults: the identify call's traits.
IDENTIFY_DEFAULTS: dict[str, Any] = {
    "email": path("$.traits.email"),
    "phone_number": path("$.traits.phone"),
    "external_id": first_of("$.userId", "$.anonymousId"),
    "first_name": path("$.traits.first_name"),
    "last_name": path("$.traits.last_name"),
    "address": {
        "city": path("$.traits.address.city"),
        "state": path("$.traits.address.state"),
        "country": path("$.traits.address.country"),
        "zip_code": path("$.traits.address.postal_code"),
    },
}
_DEFAULTS: dict[Action, dict[str, Any]] = {
    "reportWebEvent": WEB_EVENT_DEFAULTS,
    "identify": IDENTIFY_DEFAULTS,
}


class MappingError(ConfigurationError):
    """A mapping is invalid; the message names the mapping and the field.

    :param mapping: the mapping's name.
    :param field: the field (``contents.price``, ``subscribe``), or ``None`` for the whole mapping.
    :param problem: what is wrong, phrased to follow the field.
    :param origin: the file the mapping came from, if any.
    """

    def __init__(
        self, mapping: str, field: str | None, problem: str, *, origin: str | None = None
    ) -> None:
        self.mapping = mapping
        self.field = field
        self.problem = problem
        self.origin = origin
        where = f"{origin}: " if origin else ""
        what = f"mapping {mapping!r}" + (f", field {field!r}" if field else "")
        super().__init__(f"{where}{what} {problem}")


@dataclass(frozen=True)
class MappedCall:
    """What one mapping makes of one Segment call.

    :ivar identity: raw advanced-matching values for ``pixel.identify`` (empty: no identify).
    :ivar event: the TikTok event for ``pixel.track``, or ``None`` (the identify action).
    """

    mapping: str
    identity: dict[str, Any] = field(default_factory=dict)
    event: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    event_id: str | None = None


def _merged(defaults: Mapping[str, Any], mapping: Mapping[str, Any]) -> dict[str, Any]:
    # Fields left out keep the default (groups key by key); None or "" clears one, as an
    # emptied field does in Segment's mapping editor.
    merged: dict[str, Any] = dict(defaults)
    for key, value in mapping.items():
        if key in _GROUPS and isinstance(value, Mapping):
            group = {**merged.get(key, {}), **value}
            merged[key] = {k: v for k, v in group.items() if v is not None and v != ""}
        elif value is None or value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


@dataclass(frozen=True)
class SegmentMapping:
    """One mapping of the destination ("New Mapping" in Segment's editor).

    ::

        SegmentMapping(
            name="Custom event",
            subscribe='event = "segment_event"',
            mapping={"event": "tiktok_custom_event", "value": {"@path": "$.properties.total"}},
        )

    :param name: shown in errors and logs.
    :param subscribe: which Segment calls it takes, in Segment's syntax (``type = "page"``).
    :param mapping: the action's fields as Segment's mapping JSON; fields left out keep the
        destination's default, and ``None`` or ``""`` clears a default.
    :param action: ``reportWebEvent`` (a ``ttq.track``, with ``ttq.identify`` when the call
        carries an e-mail, phone number or user id) or ``identify``.
    :param enabled: a disabled mapping takes no calls.
    :raises MappingError: a field is invalid; the message names the mapping and the field.
    """

    name: str
    subscribe: str
    mapping: Mapping[str, Any] = field(default_factory=dict)
    action: Action = "reportWebEvent"
    enabled: bool = True
    _subscription: Subscription = field(init=False, repr=False, compare=False)
    _sources: dict[str, Source] = field(init=False, repr=False, compare=False)
    _spec_type: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise MappingError(str(self.name), "name", "must be a non-empty string")
        if self.action not in ACTIONS:
            raise self._error("action", f"{self.action!r} is not one of {list(ACTIONS)!r}")
        if not isinstance(self.enabled, bool):
            raise self._error("enabled", f"must be true or false, not {self.enabled!r}")
        try:
            subscription = Subscription(self.subscribe)
        except InvalidSubscription as exc:
            raise self._error("subscribe", f"{self.subscribe!r}: {exc}") from None
        if not isinstance(self.mapping, Mapping):
            raise self._error("mapping", f"must be a table of fields, not {self.mapping!r}")
        fields = _merged(_DEFAULTS[self.action], self.mapping)
        known = _ACTION_FIELDS[self.action]
        for key in fields:
            if key not in known:
                raise self._error(
                    key, f"is not a field of {self.action}; its fields are {sorted(known)!r}"
                )
        object.__setattr__(self, "_subscription", subscription)
        object.__setattr__(self, "_spec_type", self._check_spec_type(fields))
        object.__setattr__(self, "_sources", self._compile(fields))

    def _error(self, field: str | None, problem: str) -> MappingError:
        return MappingError(self.name, field, problem)

    def _check_spec_type(self, fields: dict[str, Any]) -> str | None:
        spec_type = fields.pop("event_spec_type", None)
        if spec_type is not None and spec_type not in SPEC_TYPES:
            raise self._error(
                "event_spec_type", f"{spec_type!r} is not one of {list(SPEC_TYPES)!r}"
            )
        return cast(str | None, spec_type)

    def _compile(self, fields: dict[str, Any]) -> dict[str, Source]:
        if self.action == "reportWebEvent" and "event" not in fields:
            raise self._error("event", "is required: the TikTok event to report")
        sources: dict[str, Source] = {}
        try:
            for key, spec in fields.items():
                if key in _GROUPS:
                    if not isinstance(spec, Mapping):
                        raise InvalidSource(key, f"must be a table of fields, not {spec!r}")
                    for sub, sub_spec in spec.items():
                        if sub not in _GROUPS[key]:
                            raise InvalidSource(
                                f"{key}.{sub}",
                                f"is not a field of {key}; its fields are {list(_GROUPS[key])!r}",
                            )
                        sources[f"{key}.{sub}"] = compile_source(sub_spec, f"{key}.{sub}")
                else:
                    sources[key] = compile_source(spec, key)
        except InvalidSource as exc:
            raise self._error(exc.field, exc.problem) from None
        if "contents" in sources and not isinstance(sources["contents"], ArraySource):
            raise self._error("contents", "must be an @arrayPath: [path, {item field: mapping}]")
        event = sources.get("event")
        if isinstance(event, LiteralSource):
            if not isinstance(event.value, str):
                raise self._error("event", f"{event.value!r} is not an event name")
            try:
                validate_event(event.value)
            except InvalidEvent as exc:
                raise self._error("event", f"{event.value!r} {exc.problem}") from None
        return sources

    def matches(self, message: Mapping[str, Any]) -> bool:
        """Whether this mapping takes the Segment ``message``."""
        return self.enabled and self._subscription.matches(message)

    def _read(self, key: str, message: Mapping[str, Any]) -> Any:
        source = self._sources.get(key)
        return MISSING if source is None else source.read(message)

    def identity(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """The raw advanced-matching values: none unless an e-mail, phone or id is present."""
        found: dict[str, Any] = {}
        for key in (*IDENTITY_FIELDS, *(f"address.{k}" for k in ADDRESS_FIELDS)):
            value = self._read(key, message)
            if key in _LIST_PII and isinstance(value, list):
                value = value[0] if value else MISSING
            if value is not MISSING:
                found[key.removeprefix("address.")] = value
        return found if any(key in found for key in _MATCH_KEYS) else {}

    def params(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """The event parameters (before validation, which the core does)."""
        params: dict[str, Any] = {}
        contents = self._sources.get("contents")
        if isinstance(contents, ArraySource):
            items = contents.read(message)
            if items is not MISSING and not contents.reads_list(message):
                # The properties of a page or a search are not always a product: only one
                # with an id is.
                items = [item for item in items if "content_id" in item]
            if items:
                params["contents"] = items
        for key in PARAM_FIELDS:
            if (value := self._read(key, message)) is not MISSING:
                params[key] = value
        if self._spec_type == "travel_fields":
            params.update(self._group("travel_fields", message))
        elif self._spec_type == "vehicle_fields":
            params.update(_vehicle(self._group("vehicle_fields", message)))
        return params

    def _group(self, group: str, message: Mapping[str, Any]) -> dict[str, Any]:
        found = {key: self._read(f"{group}.{key}", message) for key in _GROUPS[group]}
        return {key: value for key, value in found.items() if value is not MISSING}

    def apply(self, message: Mapping[str, Any]) -> MappedCall | None:
        """The TikTok calls for ``message`` (assumed to match), or ``None`` when the event
        name is mapped from the message and it has none."""
        identity = self.identity(message)
        if self.action == "identify":
            return MappedCall(self.name, identity=identity)
        event = self._read("event", message)
        if not isinstance(event, str):
            log.warning(
                "TikTok pixel: Segment mapping %r found no event name (%s) in the call; ignored",
                self.name,
                safe_repr(event),  # from the call: bounded, escaped, personal data masked
            )
            return None
        event_id = self._read("event_id", message)
        return MappedCall(
            self.name,
            identity=identity,
            event=event,
            params=self.params(message),
            event_id=None if event_id is MISSING else _text(event_id),
        )


def _text(value: object) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _vehicle(fields: dict[str, Any]) -> dict[str, Any]:
    # The destination sends mileage and the price range as one value each, and only whole.
    unit = fields.pop("mileage_unit", MISSING)
    mileage = fields.pop("mileage_value", MISSING)
    low = fields.pop("preferred_price_range_min", MISSING)
    high = fields.pop("preferred_price_range_max", MISSING)
    if unit is not MISSING and _number(mileage):
        fields["mileage"] = {"unit": unit, "value": mileage}
    if _number(low) and _number(high):
        fields["preferred_price_range"] = [low, high]
    return fields
