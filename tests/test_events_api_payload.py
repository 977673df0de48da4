"""The Events API body, built from the same Event the browser fires (no Flask, no network)."""

from __future__ import annotations

import email.utils

import pytest

from pixel_embed import Identity, validate_event
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
        "event": "CompletePayment",
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
