"""The Events API body, built from the same Event the browser fires (no Flask, no network)."""

from __future__ import annotations

import email.utils
import re
from pathlib import Path

import pytest

from pixel_embed import Identity, validate_event
from pixel_embed.events import WIRE_EVENT_NAMES
from pixel_embed.events_api import RequestContext, RetryPolicy, request_body, server_event
from pixel_embed.events_api.client import parse_retry_after
from pixel_embed.matching import sha256_hex

CODE = "CABCDE1234567890ABCD"


def test_server_event_carries_the_browser_event_and_hashed_identity() -> None:
    event = validate_event(
        "CompletePayment",
        {
            "value": "42.50",
            "currency": "usd",
            "order_id": "o-1",
            "content_type": "product",
            "contents": [{"content_id": "sku-1", "price": 42.5, "quantity": 1}],
        },
        event_id="6f1c2d3e-order-1",
    )
    identity = Identity.from_raw(
        email=" Jane@Example.com ", phone_number="+1 213 373 4253", external_id=42, country="US"
    )
    context = RequestContext(
        ip="203.0.113.9",
        user_agent="Mozilla/5.0 test",
        url="https://shop.example/checkout",
        referrer="https://shop.example/cart",
        ttp="ttp-cookie-value",
        ttclid="E.C.P.abc",
    )

    data = server_event(event, identity, context, event_time=1_700_000_000.9, limited_data_use=True)

    assert data == {
        "event": "Purchase",
        "event_time": 1_700_000_000,
        "event_id": "6f1c2d3e-order-1",
        "user": {
            "email": sha256_hex("jane@example.com"),
            "phone": sha256_hex("+12133734253"),
            "external_id": sha256_hex("42"),
            "country": "us",
            "ttclid": "E.C.P.abc",
            "ttp": "ttp-cookie-value",
            "ip": "203.0.113.9",
            "user_agent": "Mozilla/5.0 test",
        },
        "page": {"url": "https://shop.example/checkout", "referrer": "https://shop.example/cart"},
        "properties": {
            "value": 42.5,
            "currency": "USD",
            "order_id": "o-1",
            "content_type": "product",
            "contents": [{"content_id": "sku-1", "price": 42.5, "quantity": 1}],
        },
        "limited_data_use": True,
    }


def test_nothing_is_made_up_for_what_the_request_lacks() -> None:
    event = validate_event("ViewContent", event_id="e-1")

    data = server_event(event, Identity(), RequestContext(), event_time=5)

    assert data == {
        "event": "ViewContent",
        "event_time": 5,
        "event_id": "e-1",
        "user": {},
        "properties": {},
        "limited_data_use": False,
    }


def test_the_event_id_stays_the_same_string() -> None:
    event = validate_event("Lead", event_id="0001234")

    assert server_event(event, Identity(), RequestContext())["event_id"] == "0001234"


def test_request_body_names_the_pixel_and_the_test_code() -> None:
    data = [{"event": "Lead", "event_id": "a"}, {"event": "Lead", "event_id": "b"}]

    assert request_body(CODE, data, test_event_code="TEST123") == {
        "event_source": "web",
        "event_source_id": CODE,
        "test_event_code": "TEST123",
        "data": data,
    }
    assert "test_event_code" not in request_body(CODE, data)


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = 1_700_000_000.0
    in_ten = email.utils.formatdate(now + 10, usegmt=True)

    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(in_ten, now=now) == pytest.approx(10.0, abs=1)
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_backoff_doubles_with_jitter_and_respects_retry_after() -> None:
    policy = RetryPolicy(max_tries=6, backoff=1.0, max_delay=8.0)

    for attempt, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0)):
        assert ceiling / 2 <= policy.delay(attempt) <= ceiling
    assert policy.delay(1, retry_after=3.0) == 3.0
    assert policy.delay(1, retry_after=600.0) == 8.0


# -- the browser's name on the wire, and single-product fields (issue 15, items 9 and 12) ------


@pytest.mark.parametrize(
    ("tracked", "sent"),
    [
        ("CompletePayment", "Purchase"),
        ("SubmitForm", "Lead"),
        ("Purchase", "Purchase"),
        ("PlaceAnOrder", "PlaceAnOrder"),
        ("ViewContent", "ViewContent"),
        ("tiktok_custom_event", "tiktok_custom_event"),
    ],
)
def test_the_server_sends_the_event_name_the_sdk_sends(tracked: str, sent: str) -> None:
    # TikTok deduplicates pairs with the identical event and event_id: the server event must
    # carry the name the browser's beacon carries, not the name the page tracked.
    event = validate_event(tracked, event_id="e-1")
    assert server_event(event, Identity(), RequestContext())["event"] == sent


def test_wire_names_are_those_of_tiktoks_sdk(sdk_dir: Path) -> None:
    # The SDK's own table (its getEventType reads it): the same pairs, no more, no fewer.
    bundle = next((sdk_dir / "analytics.tiktok.com/i18n/pixel/static").glob("main.*.js"))
    text = bundle.read_text(encoding="utf-8")
    table = re.search(r"getEventType = function\(t\) \{\s*return (\w+)\[t\] \|\| t", text)
    assert table is not None
    body = re.search(rf"\b{table[1]} = \{{([^}}]*)\}}", text)
    assert body is not None
    assert dict(re.findall(r'(\w+): "(\w+)"', body[1])) == WIRE_EVENT_NAMES


def test_single_product_fields_go_to_the_server_as_contents() -> None:
    event = validate_event(
        "ViewContent",
        {
            "content_id": "sku-1",
            "content_name": "Runner",
            "content_category": "Shoes",
            "content_type": "product",
            "price": 42.5,
            "quantity": 1,
            "brand": "Acme",
            "value": 42.5,
            "currency": "USD",
        },
        event_id="v-1",
    )
    assert server_event(event, Identity(), RequestContext())["properties"] == {
        "content_type": "product",
        "value": 42.5,
        "currency": "USD",
        "contents": [
            {
                "content_id": "sku-1",
                "content_name": "Runner",
                "content_category": "Shoes",
                "price": 42.5,
                "quantity": 1,
                "brand": "Acme",
            }
        ],
    }
    # The page keeps the call it was given.
    assert event.params["content_id"] == "sku-1"


def test_contents_given_are_sent_as_given() -> None:
    contents = [{"content_id": "a"}, {"content_id": "b"}]
    event = validate_event("AddToCart", {"contents": contents, "content_id": "a"}, event_id="c")
    properties = server_event(event, Identity(), RequestContext())["properties"]
    assert properties == {"contents": contents, "content_id": "a"}
    # Without a content_id there is no item to build.
    event = validate_event("Search", {"query": "mug", "content_name": "x"}, event_id="s")
    properties = server_event(event, Identity(), RequestContext())["properties"]
    assert properties == {"query": "mug", "content_name": "x"}
