"""``pixel.segment`` in a Flask app: Segment calls in a view, the ``ttq`` calls in the HTML."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from conftest import make_app, page
from flask import Flask, redirect
from werkzeug.wrappers import Response

from pixel_embed import InvalidEvent, TikTokPixel
from pixel_embed.matching import Identity
from pixel_embed.segment import SegmentMapping, SegmentMappings

_CALL = re.compile(r"^\s*ttq\.(\w+)\((.*)\);$", re.MULTILINE)
ORDER = {
    "products": [
        {"product_id": "123", "category": "category1", "quantity": 1, "price": 1},
        {"product_id": "456", "category": "category1", "quantity": 2, "price": 2},
    ],
    "query": "test-query",
    "value": 10,
    "currency": "USD",
    "phone": ["+12133734253"],
    "email": ["aaa@aaa.com"],
    "description": "test-description",
}
CONTEXT = {
    "traits": {
        "last_name": "lastName",
        "first_name": "firstName",
        "address": {"city": "city", "state": "state", "country": "US"},
    }
}


def ttq_calls(html: str) -> list[tuple[str, list[Any]]]:
    """The page's calls after ``ttq.load``: ``[("track", ["AddToCart", {…}, {…}]), …]``."""
    return [
        (match[1], json.loads(f"[{match[2]}]"))
        for match in _CALL.finditer(html)
        if match[1] != "load"
    ]


def tracked(html: str) -> list[list[Any]]:
    return [args for method, args in ttq_calls(html) if method == "track"]


def test_order_completed_renders_the_destinations_calls_hashed(app: Flask) -> None:
    pixel = TikTokPixel(app)

    @app.get("/")
    def view() -> str:
        pixel.segment.track(
            "Order Completed",
            ORDER,
            message_id="ajs-71f386523ee5dfa90c7d0fda28b6b5c6",
            user_id="userId",
            anonymous_id="anonymousId",
            context=CONTEXT,
        )
        return page()

    html = app.test_client().get("/").text
    identity = Identity.from_raw(
        email="aaa@aaa.com",
        phone_number="+12133734253",
        external_id="userId",
        first_name="firstName",
        last_name="lastName",
        city="city",
        state="state",
        country="US",
    )
    assert ttq_calls(html) == [
        ("page", []),
        ("identify", [identity.as_params()]),
        (
            "track",
            [
                "PlaceAnOrder",
                {
                    "contents": [
                        {
                            "price": 1,
                            "quantity": 1,
                            "content_category": "category1",
                            "content_id": "123",
                        },
                        {
                            "price": 2,
                            "quantity": 2,
                            "content_category": "category1",
                            "content_id": "456",
                        },
                    ],
                    "currency": "USD",
                    "value": 10,
                    "query": "test-query",
                    "description": "test-description",
                },
                {"event_id": "ajs-71f386523ee5dfa90c7d0fda28b6b5c6"},
            ],
        ),
    ]
    assert (
        '  ttq.track("PlaceAnOrder",{"contents":[{"price":1,"quantity":1,'
        '"content_category":"category1","content_id":"123"},{"price":2,"quantity":2,'
        '"content_category":"category1","content_id":"456"}],"currency":"USD","value":10,'
        '"query":"test-query","description":"test-description"},'
        '{"event_id":"ajs-71f386523ee5dfa90c7d0fda28b6b5c6"});'
    ) in html.splitlines()
    assert "aaa@aaa.com" not in html
    assert "2133734253" not in html


def test_page_identify_and_track_return_the_event_ids_rendered(app: Flask) -> None:
    pixel = TikTokPixel(app)
    returned: list[str] = []

    @app.get("/")
    def view() -> str:
        pixel.segment.identify("u-42", {"email": "Jane@Example.com", "first_name": "Jane"})
        returned.extend(pixel.segment.page("Runner", {"product_id": "sku-1", "price": 20}))
        returned.extend(pixel.segment.track("Product Added", {"product_id": "sku-1"}))
        return page()

    html = app.test_client().get("/").text
    calls = ttq_calls(html)
    assert calls[1] == (
        "identify",
        [
            Identity.from_raw(
                email="jane@example.com", external_id="u-42", first_name="jane"
            ).as_params()
        ],
    )
    assert [args[0] for args in tracked(html)] == ["ViewContent", "AddToCart"]
    assert [args[1]["contents"] for args in tracked(html)] == [
        [{"price": 20, "content_id": "sku-1"}],
        [{"content_id": "sku-1"}],
    ]
    assert [args[2]["event_id"] for args in tracked(html)] == returned
    assert len(set(returned)) == 2


def test_an_unmapped_event_is_ignored_with_a_debug_log(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    pixel = TikTokPixel(app)

    @app.get("/")
    def view() -> str:
        assert pixel.segment.track("Coupon Applied", {"coupon": "SPRING"}) == []
        return page()

    with caplog.at_level(logging.DEBUG, logger="pixel_embed"):
        html = app.test_client().get("/").text
    assert tracked(html) == []
    assert "Segment track 'Coupon Applied' matches no mapping; ignored" in caplog.text


def test_bad_segment_input_raises_in_strict_mode(app: Flask) -> None:
    pixel = TikTokPixel(app)

    @app.get("/")
    def view() -> str:
        pixel.segment.track("Product Added", {"product_id": "sku-1", "price": "ten"})
        return page()

    with pytest.raises(InvalidEvent, match=r"contents\[0\]\.price 'ten' is not a number"):
        app.test_client().get("/")


def test_bad_segment_input_drops_the_field_in_lenient_mode(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app(TIKTOK_PIXEL_STRICT=False)
    pixel = TikTokPixel(app)

    @app.get("/")
    def view() -> str:
        pixel.segment.track(
            "Checkout Started",
            {
                "products": [{"product_id": "a", "price": "ten", "quantity": 1}],
                "revenue": 5,
                "currency": "USD",
                "email": "not an address",
            },
            user_id="u-1",
        )
        return page()

    html = app.test_client().get("/").text
    assert tracked(html)[0][:2] == [
        "InitiateCheckout",
        {"contents": [{"quantity": 1, "content_id": "a"}], "currency": "USD", "value": 5},
    ]
    assert ttq_calls(html)[1] == (
        "identify",
        [Identity.from_raw(external_id="u-1").as_params()],
    )
    assert "dropped contents[0].price 'ten' is not a number" in caplog.text
    assert "dropped email (value withheld) is not an e-mail address" in caplog.text


def test_a_value_without_currency_is_the_cores_problem(app: Flask) -> None:
    # The destination assumes USD; we do not guess a currency.
    pixel = TikTokPixel(app)

    @app.get("/")
    def view() -> str:
        pixel.segment.track("Order Completed", {"revenue": 5})
        return page()

    with pytest.raises(InvalidEvent, match="currency None is required with value in PlaceAnOrder"):
        app.test_client().get("/")


def test_defer_fires_on_the_next_page(app: Flask) -> None:
    pixel = TikTokPixel(app)

    @app.post("/checkout")
    def checkout() -> Response:
        pixel.segment.track(
            "Order Completed",
            {"order_id": "o-1", "revenue": 42.5, "currency": "USD"},
            message_id="m-1",
            user_id="u-1",
            defer=True,
        )
        return redirect("/thanks")

    @app.get("/thanks")
    def thanks() -> str:
        return page()

    with app.test_client() as client:
        first = client.post("/checkout", follow_redirects=True).text
        again = client.get("/thanks").text
    assert tracked(first) == [
        ["PlaceAnOrder", {"value": 42.5, "currency": "USD", "order_id": "o-1"}, {"event_id": "m-1"}]
    ]
    assert ("identify", [Identity.from_raw(external_id="u-1").as_params()]) in ttq_calls(first)
    assert tracked(again) == []


def test_custom_mappings_declared_in_python() -> None:
    custom = SegmentMapping(
        name="Custom event",
        subscribe='event = "segment_event"',
        mapping={"event": "tiktok_custom_event", "value": {"@path": "$.properties.total"}},
    )
    app = make_app(TIKTOK_PIXEL_MAPPINGS=SegmentMappings.presets(custom))
    pixel = TikTokPixel(app)

    @app.get("/")
    def view() -> str:
        pixel.segment.track("segment_event", {"total": 7, "currency": "EUR"}, message_id="m-7")
        pixel.segment.track("Product Added", {"product_id": "p"}, message_id="m-8")
        return page()

    html = app.test_client().get("/").text
    assert tracked(html) == [
        [
            "tiktok_custom_event",
            {"content_type": "product", "currency": "EUR", "value": 7},
            {"event_id": "m-7"},
        ],
        ["AddToCart", {"contents": [{"content_id": "p"}]}, {"event_id": "m-8"}],
    ]
    with app.test_request_context():
        assert pixel.segment.mappings.mappings[-1] is custom


def test_a_page_that_is_no_product_is_a_plain_view_content(app: Flask) -> None:
    pixel = TikTokPixel(app)

    @app.get("/")
    def view() -> str:
        pixel.segment.page("Home", {"title": "Home", "url": "https://shop.example/"})
        pixel.segment.identify(traits={"first_name": "Ann"})  # nothing to match on: no identify
        return page()

    calls = ttq_calls(app.test_client().get("/").text)
    assert [method for method, _ in calls] == ["page", "track"]
    assert calls[1][1][:2] == ["ViewContent", {}]


def test_segment_calls_need_a_request_and_a_registered_app(app: Flask) -> None:
    pixel = TikTokPixel(app)
    with app.app_context(), pytest.raises(RuntimeError, match=r"pixel\.segment\.track\(\) needs"):
        pixel.segment.track("Product Added", {})
    other = make_app()
    with other.test_request_context(), pytest.raises(RuntimeError, match="not registered"):
        pixel.segment.page()


def test_additional_fields_render_through_the_core() -> None:
    vehicle = SegmentMapping(
        name="Vehicle view",
        subscribe='event = "Vehicle Viewed"',
        mapping={"event": "ViewContent", "event_spec_type": "vehicle_fields"},
    )
    app = make_app(TIKTOK_PIXEL_MAPPINGS=SegmentMappings([vehicle]))
    pixel = TikTokPixel(app)

    @app.get("/")
    def view() -> str:
        pixel.segment.track(
            "Vehicle Viewed",
            {
                "make": "Volvo",
                "year": 2020,
                "mileage_value": 12,
                "mileage_unit": "KM",
                "preferred_price_range_min": 1,
                "preferred_price_range_max": 2,
                "drive_train": "AWD",
            },
            message_id="v-1",
        )
        return page()

    assert tracked(app.test_client().get("/").text) == [
        [
            "ViewContent",
            {
                "content_type": "product",
                "make": "Volvo",
                "year": 2020,
                "drivetrain": "AWD",
                "mileage": {"unit": "KM", "value": 12},
                "preferred_price_range": [1, 2],
            },
            {"event_id": "v-1"},
        ]
    ]
