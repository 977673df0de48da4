"""The mapping logic, framework-free: Segment messages in, the TikTok calls the destination makes.

The inputs are those of the destination's own tests and field defaults
(segmentio/action-destinations, browser-destinations/destinations/tiktok-pixel).
"""

from __future__ import annotations

from typing import Any

import pytest

from pixel_embed.segment import (
    MISSING,
    SINGLE_PRODUCT,
    MappedCall,
    SegmentMapping,
    SegmentMappings,
    first_of,
    path,
    read_path,
)
from pixel_embed.segment.paths import InvalidPath, parse_path
from pixel_embed.segment.subscriptions import InvalidSubscription, Subscription

PRESETS = SegmentMappings.presets()
CONTEXT = {
    "traits": {
        "last_name": "lastName",
        "first_name": "firstName",
        "address": {"city": "city", "state": "state", "country": "US"},
    }
}
PRODUCTS = [
    {"product_id": "123", "category": "category1", "quantity": 1, "price": 1},
    {"product_id": "456", "category": "category1", "quantity": 2, "price": 2},
]
ITEMS = [
    {"price": 1, "quantity": 1, "content_category": "category1", "content_id": "123"},
    {"price": 2, "quantity": 2, "content_category": "category1", "content_id": "456"},
]


def track(event: str, properties: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"type": "track", "event": event, "properties": properties, **fields}


def only(calls: list[MappedCall]) -> MappedCall:
    assert len(calls) == 1, calls
    return calls[0]


# -- the destination's documented inputs ------------------------------------------------------


def test_order_completed_as_in_the_destination_tests() -> None:
    message = track(
        "Order Completed",
        {
            "products": PRODUCTS,
            "query": "test-query",
            "value": 10,
            "currency": "USD",
            "phone": ["+12345678900"],
            "email": ["aaa@aaa.com"],
            "description": "test-description",
        },
        messageId="ajs-71f386523ee5dfa90c7d0fda28b6b5c6",
        anonymousId="anonymousId",
        userId="userId",
        context=CONTEXT,
    )
    assert only(PRESETS.calls(message)) == MappedCall(
        mapping="Place an Order",
        identity={
            "email": "aaa@aaa.com",
            "phone_number": "+12345678900",
            "external_id": "userId",
            "first_name": "firstName",
            "last_name": "lastName",
            "city": "city",
            "state": "state",
            "country": "US",
        },
        event="PlaceAnOrder",
        params={
            "contents": ITEMS,
            "currency": "USD",
            "value": 10,
            "query": "test-query",
            "description": "test-description",
        },
        event_id="ajs-71f386523ee5dfa90c7d0fda28b6b5c6",
    )


SINGLE = {"product_id": "123", "category": "category1", "quantity": 1, "price": 1}
SINGLE_ITEM = [ITEMS[0]]


@pytest.mark.parametrize(
    ("message", "event", "contents"),
    [
        ({"type": "page", "properties": SINGLE}, "ViewContent", SINGLE_ITEM),
        (track("Products Searched", SINGLE), "Search", SINGLE_ITEM),
        (track("Product Added to Wishlist", SINGLE), "AddToWishlist", SINGLE_ITEM),
        (track("Product Added", SINGLE), "AddToCart", SINGLE_ITEM),
        (track("Checkout Started", {"products": PRODUCTS}), "InitiateCheckout", ITEMS),
        (track("Payment Info Entered", {"products": PRODUCTS}), "AddPaymentInfo", ITEMS),
        (track("Order Completed", {"products": PRODUCTS}), "PlaceAnOrder", ITEMS),
    ],
)
def test_each_preset(message: dict[str, Any], event: str, contents: list[dict[str, Any]]) -> None:
    call = only(PRESETS.calls(message))
    assert (call.event, call.params) == (event, {"contents": contents})


def test_product_fields_map_by_name() -> None:
    product = {
        "product_id": "sku-1",
        "sku": "ignored",
        "price": "19.99",
        "quantity": 3,
        "category": "Shoes",
        "name": "Runner",
        "brand": "Acme",
        "url": "https://shop.example/runner",
    }
    call = only(PRESETS.calls(track("Product Added", product)))
    assert call.params["contents"] == [
        {
            "price": "19.99",
            "quantity": 3,
            "content_category": "Shoes",
            "content_id": "sku-1",
            "content_name": "Runner",
            "brand": "Acme",
        }
    ]


def test_arrays_of_products_keep_their_order_and_skip_empty_items() -> None:
    products = [{"product_id": "a", "price": 1}, {"colour": "red"}, {"product_id": "b"}]
    call = only(PRESETS.calls(track("Checkout Started", {"products": products})))
    assert call.params["contents"] == [{"price": 1, "content_id": "a"}, {"content_id": "b"}]


def test_a_product_without_its_id_is_handed_on_for_validation() -> None:
    call = only(PRESETS.calls(track("Order Completed", {"products": [{"price": 5}]})))
    assert call.params["contents"] == [{"price": 5}]


def test_a_page_that_is_not_a_product_has_no_contents() -> None:
    message = {"type": "page", "name": "Home", "properties": {"title": "Home", "name": "Home"}}
    assert only(PRESETS.calls(message)).params == {}


# -- field defaults ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (track("Product Added", {"email": "p@example.com"}), {"email": "p@example.com"}),
        (
            track("Product Added", {}, context={"traits": {"email": "t@example.com"}}),
            {"email": "t@example.com"},
        ),
        (
            track(
                "Product Added",
                {"email": "p@example.com"},
                context={"traits": {"email": "t@example.com"}},
            ),
            {"email": "p@example.com"},
        ),
        (track("Product Added", {"phone": "+12133734253"}), {"phone_number": "+12133734253"}),
        (
            track("Product Added", {}, context={"traits": {"phone": "+12133734253"}}),
            {"phone_number": "+12133734253"},
        ),
        (track("Product Added", {}, userId="u-1", anonymousId="a-1"), {"external_id": "u-1"}),
        (track("Product Added", {}, anonymousId="a-1"), {"external_id": "a-1"}),
        (
            track(
                "Product Added",
                {"first_name": "Ann", "address": {"postal_code": "94107", "city": "SF"}},
                userId="u-1",
                context={"traits": {"first_name": "X", "last_name": "Lee"}},
            ),
            {
                "external_id": "u-1",
                "first_name": "Ann",
                "last_name": "Lee",
                "city": "SF",
                "zip_code": "94107",
            },
        ),
    ],
)
def test_identity_defaults(message: dict[str, Any], expected: dict[str, Any]) -> None:
    assert only(PRESETS.calls(message)).identity == expected


def test_no_identify_without_email_phone_or_user_id() -> None:
    message = track("Product Added", {}, context={"traits": {"first_name": "Ann"}})
    assert only(PRESETS.calls(message)).identity == {}


def test_list_valued_pii_uses_the_first_element() -> None:
    message = track("Product Added", {"email": ["a@example.com", "b@example.com"], "phone": []})
    assert only(PRESETS.calls(message)).identity == {"email": "a@example.com"}


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        ({"value": 10, "revenue": 99, "currency": "EUR"}, {"value": 10, "currency": "EUR"}),
        ({"revenue": 99, "currency": "EUR"}, {"value": 99, "currency": "EUR"}),
        ({"value": None, "revenue": 99}, {"value": 99}),
        ({"total": 99}, {}),
    ],
)
def test_value_falls_back_to_revenue(properties: dict[str, Any], expected: dict[str, Any]) -> None:
    assert only(PRESETS.calls(track("Order Completed", properties))).params == expected


def test_every_parameter_default() -> None:
    properties = {
        "currency": "usd",
        "value": 3,
        "query": "red shoes",
        "description": "d",
        "order_id": "o-1",
        "shop_id": "s-1",
        "content_ids": ["a", "b"],
        "num_items": 2,
        "search_string": "red",
    }
    call = only(PRESETS.calls(track("Products Searched", properties, messageId="m-1")))
    assert call.params == properties
    assert list(call.params) == list(properties)
    assert call.event_id == "m-1"


def test_missing_optional_fields_are_left_out() -> None:
    call = only(PRESETS.calls(track("Order Completed", {})))
    assert call == MappedCall(mapping="Place an Order", event="PlaceAnOrder")


def test_identify_maps_the_traits() -> None:
    message = {
        "type": "identify",
        "userId": "u-42",
        "traits": {
            "email": "jane@example.com",
            "phone": "+12133734253",
            "first_name": "Jane",
            "last_name": "Doe",
            "address": {"city": "Paris", "state": "IDF", "country": "FR", "postal_code": "75001"},
        },
    }
    assert only(PRESETS.calls(message)) == MappedCall(
        mapping="Identify",
        identity={
            "email": "jane@example.com",
            "phone_number": "+12133734253",
            "external_id": "u-42",
            "first_name": "Jane",
            "last_name": "Doe",
            "city": "Paris",
            "state": "IDF",
            "country": "FR",
            "zip_code": "75001",
        },
    )


def test_unmapped_events_make_no_calls() -> None:
    assert PRESETS.calls(track("Coupon Applied", {"coupon": "X"})) == []
    assert PRESETS.calls({"type": "group", "groupId": "g"}) == []


# -- additional fields ------------------------------------------------------------------------

TRAVEL = {
    "city": "test_city",
    "region": "test_region",
    "country": "test_country",
    "checkin_date": "test_checkin_date",
    "checkout_date": "test_checkout_date",
    "num_adults": 1,
    "num_children": 1,
    "num_infants": 1,
    "suggested_hotels": ["test_suggested_hotels_1", "test_suggested_hotels_2"],
    "departing_departure_date": "20250901",
    "returning_departure_date": "20250901",
    "origin_airport": "test_origin_airport",
    "destination_airport": "test_destination_airport",
    "destination_ids": ["destination_ids_1", "destination_ids_2"],
    "departing_arrival_date": "20250901",
    "returning_arrival_date": "20250901",
    "travel_class": "eco",
    "user_score": 1,
    "preferred_num_stops": 0,
    "travel_start": "20250901",
    "travel_end": "20250901",
    "suggested_destinations": ["suggested_destinations_1", "suggested_destinations_2"],
}


def view_content(spec_type: str) -> SegmentMappings:
    return SegmentMappings(
        [
            SegmentMapping(
                name="View Content",
                subscribe='type = "page"',
                mapping={
                    "event": "ViewContent",
                    "contents": SINGLE_PRODUCT,
                    "event_spec_type": spec_type,
                },
            )
        ]
    )


def test_travel_fields_pass_through() -> None:
    message = {"type": "page", "properties": {**SINGLE, "value": 10, "currency": "USD", **TRAVEL}}
    call = only(view_content("travel_fields").calls(message))
    assert call.params == {
        "contents": SINGLE_ITEM,
        "content_type": "product",
        "currency": "USD",
        "value": 10,
        **TRAVEL,
    }
    # Without the choice, the same properties are not sent (city, country are not params then).
    assert only(PRESETS.calls(message)).params == {
        "contents": SINGLE_ITEM,
        "currency": "USD",
        "value": 10,
    }


def test_vehicle_fields_pass_through_with_mileage_and_price_range_combined() -> None:
    vehicle = {
        "postal_code": "test_postal_code",
        "make": "test_make",
        "model": "test_model",
        "year": 2020,
        "state_of_vehicle": "New",
        "mileage_value": 12345,
        "mileage_unit": "MI",
        "exterior_color": "test_exterior_color",
        "transmission": "Automatic",
        "body_style": "Coupe",
        "fuel_type": "Diesel",
        "drive_train": "AWD",
        "preferred_price_range_min": 1000,
        "preferred_price_range_max": 2000,
        "trim": "test_trim",
        "vin": "test_vin",
        "interior_color": "test_interior_color",
        "condition_of_vehicle": "Good",
    }
    call = only(view_content("vehicle_fields").calls({"type": "page", "properties": vehicle}))
    assert call.params == {
        "content_type": "product",
        "postal_code": "test_postal_code",
        "make": "test_make",
        "model": "test_model",
        "year": 2020,
        "state_of_vehicle": "New",
        "exterior_color": "test_exterior_color",
        "transmission": "Automatic",
        "body_style": "Coupe",
        "fuel_type": "Diesel",
        "drivetrain": "AWD",
        "trim": "test_trim",
        "vin": "test_vin",
        "interior_color": "test_interior_color",
        "condition_of_vehicle": "Good",
        "mileage": {"unit": "MI", "value": 12345},
        "preferred_price_range": [1000, 2000],
    }


def test_half_a_mileage_or_price_range_is_not_sent() -> None:
    properties = {"mileage_value": 10, "preferred_price_range_min": 1000, "make": "m"}
    call = only(view_content("vehicle_fields").calls({"type": "page", "properties": properties}))
    assert call.params == {"content_type": "product", "make": "m"}


# -- custom mappings ---------------------------------------------------------------------------


def test_the_custom_event_example_of_the_destination_doc() -> None:
    custom = SegmentMapping(
        name="Custom event",
        subscribe='event = "segment_event"',
        mapping={
            "event": "tiktok_custom_event",
            "value": {"@path": "$.properties.total"},
            "order_id": {"@path": "$.properties.checkout.id"},
            "contents": {"@arrayPath": ["$.properties.items", {"content_id": {"@path": "$.sku"}}]},
        },
    )
    mappings = SegmentMappings.presets(custom)
    message = track(
        "segment_event",
        {
            "total": 12,
            "revenue": 99,
            "currency": "EUR",
            "checkout": {"id": "c-9"},
            "items": [{"sku": "s1"}],
        },
        messageId="m-9",
    )
    assert only(mappings.calls(message)) == MappedCall(
        mapping="Custom event",
        event="tiktok_custom_event",
        params={
            "contents": [{"content_id": "s1"}],
            "content_type": "product",
            "currency": "EUR",
            "value": 12,
            "order_id": "c-9",
        },
        event_id="m-9",
    )


def test_a_cleared_default_is_not_sent() -> None:
    custom = SegmentMapping(
        name="No PII",
        subscribe='event = "Lead"',
        mapping={"event": "Lead", "email": None, "external_id": "", "address": {"city": ""}},
    )
    message = track("Lead", {"email": "x@example.com", "phone": "+12133734253"}, userId="u")
    assert only(SegmentMappings([custom]).calls(message)).identity == {
        "phone_number": "+12133734253"
    }


def test_the_event_name_can_come_from_the_message() -> None:
    custom = SegmentMapping(
        name="Any event", subscribe='type = "track"', mapping={"event": path("$.properties.tt")}
    )
    mappings = SegmentMappings([custom])
    assert only(mappings.calls(track("X", {"tt": "Contact"}))).event == "Contact"
    assert mappings.calls(track("X", {})) == []


def test_every_matching_mapping_makes_its_call_in_order() -> None:
    extra = SegmentMapping(
        name="Also a purchase", subscribe='event = "Order Completed"', mapping={"event": "Purchase"}
    )
    calls = SegmentMappings.presets(extra).calls(track("Order Completed", {}, messageId="m"))
    assert [(c.event, c.event_id) for c in calls] == [("PlaceAnOrder", "m"), ("Purchase", "m")]


def test_a_disabled_mapping_takes_nothing() -> None:
    off = SegmentMapping(
        name="Off", subscribe='type = "track"', mapping={"event": "Lead"}, enabled=False
    )
    assert SegmentMappings([off]).calls(track("Anything", {})) == []


def test_latest_presets() -> None:
    latest = SegmentMappings.latest_presets()
    order = track(
        "Order Completed",
        {"products": PRODUCTS, "revenue": 3, "currency": "USD", "description": "d"},
    )
    assert only(latest.calls(order)).event == "CompletePayment"
    # No description: the destination's field has had no default since April 2024.
    assert only(latest.calls(order)).params == {
        "contents": ITEMS,
        "content_type": "product",
        "currency": "USD",
        "value": 3,
    }
    assert only(latest.calls(track("Order Placed", {}))).event == "PlaceAnOrder"
    assert only(latest.calls(track("Signed Up", {}))).event == "CompleteRegistration"


def test_latest_presets_track_a_pageview_for_each_page_call() -> None:
    # Segment's "Page View" preset (September 2024) maps the event name and nothing else.
    page = {
        "type": "page",
        "messageId": "m-p",
        "userId": "u-1",
        "properties": {**SINGLE, "email": "a@b.co", "currency": "USD", "value": 1},
    }
    assert only(SegmentMappings.latest_presets().calls(page)) == MappedCall(
        mapping="Page View", event="Pageview", event_id="m-p"
    )


def test_custom_mappings_default_content_type_to_product() -> None:
    # The destination's Content Type field defaults to "product" for any mapping; "" clears it.
    checkout = SegmentMapping(
        name="Checkout",
        subscribe='event = "Checkout Started"',
        mapping={"event": "InitiateCheckout", "contents": SINGLE_PRODUCT},
    )
    cleared = SegmentMapping(
        name="Checkout, no type",
        subscribe='event = "Checkout Started"',
        mapping={"event": "InitiateCheckout", "content_type": ""},
    )
    group = SegmentMapping(
        name="Checkout, groups",
        subscribe='event = "Checkout Started"',
        mapping={"event": "InitiateCheckout", "content_type": "product_group"},
    )
    message = track("Checkout Started", {"description": "d"})
    calls = SegmentMappings([checkout, cleared, group]).calls(message)
    assert [call.params for call in calls] == [
        {"content_type": "product"},
        {},
        {"content_type": "product_group"},
    ]


def test_the_first_presets_keep_their_own_defaults() -> None:
    # The 2023 presets were saved with a description default and no content_type.
    call = only(PRESETS.calls(track("Checkout Started", {"description": "d"})))
    assert call.params == {"description": "d"}


# -- subscriptions and paths -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message", "expected"),
    [
        ('type = "page"', {"type": "page"}, True),
        ('type="page"', {"type": "track"}, False),
        ('event = "Order Completed"', {"type": "track", "event": "Order Completed"}, True),
        ('event = "A" or event = "B"', {"event": "B"}, True),
        ('type = "track" and event != "A"', {"type": "track", "event": "A"}, False),
        (
            'type = "page" and (name = "Home" or name = "Shop")',
            {"type": "page", "name": "Shop"},
            True,
        ),
        ('event = "Say \\"hi\\""', {"event": 'Say "hi"'}, True),
        ('event = "A" OR event = "B" AND type = "x"', {"event": "A"}, True),
    ],
)
def test_subscriptions(text: str, message: dict[str, Any], expected: bool) -> None:
    assert Subscription(text).matches(message) is expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "is empty"),
        ('event == "A"', "expected a double-quoted value"),
        ('userId = "u"', "'userId' is not a field"),
        ('event = "A" event = "B"', "expected 'and', 'or' or the end, found 'event'"),
        ('(event = "A"', "expected ')', found the end"),
        ("event = 'A'", "cannot read"),
    ],
)
def test_bad_subscriptions(text: str, problem: str) -> None:
    with pytest.raises(InvalidSubscription, match=problem.replace("(", r"\(").replace(")", r"\)")):
        Subscription(text)


def test_paths() -> None:
    data = {"properties": {"products": [{"price": 1}], "a key": 2, "nothing": None}}
    assert parse_path("$.properties.products[0].price") == ("properties", "products", 0, "price")
    assert read_path(data, "$.properties.products[0].price") == 1
    assert read_path(data, "$.properties.products[-1].price") == 1
    assert read_path(data, '$.properties["a key"]') == 2
    assert read_path(data, "$") == data
    for missing in ("$.properties.products[3]", "$.properties.nothing", "$.x.y", "$.properties[0]"):
        assert read_path(data, missing) is MISSING
    with pytest.raises(InvalidPath, match="starts with '\\$'"):
        parse_path("properties.x")
    with pytest.raises(InvalidPath, match="cannot read '\\.\\.x'"):
        parse_path("$..x")


def test_directive_helpers_write_segment_json() -> None:
    assert path("$.a") == {"@path": "$.a"}
    assert first_of("$.a", "$.b") == {
        "@if": {"exists": {"@path": "$.a"}, "then": {"@path": "$.a"}, "else": {"@path": "$.b"}}
    }
