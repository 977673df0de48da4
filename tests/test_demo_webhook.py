"""The demo shop's payment webhook through Flask's test client: the provider's signed call sends
the server Purchase with the context stored at checkout, once; anything else is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from flask import Flask

from demo_site import create_app
from demo_site.payments import SIGNATURE_HEADER, sign
from pixel_embed import order_event_id
from pixel_embed.testing.events_api import FakeEventsApi

SECRET = "webhook-test-secret"
UA = "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"


@pytest.fixture
def shop(fake: FakeEventsApi) -> Iterator[Flask]:
    app = create_app(
        {
            "TESTING": True,
            "DEMO_SEED_CUSTOMER": False,
            "DEMO_PAYMENT_WEBHOOKS": False,  # the test plays the provider
            "DEMO_PAYMENT_SECRET": SECRET,
            "TIKTOK_PIXEL_EVENTS_QUEUE": "memory",
            **fake.config,
        }
    )
    yield app
    app.extensions["tiktok_pixel_events_api"].sender.close(timeout=2)


def placed_order(app: Flask) -> str:
    visitor = app.test_client()
    visitor.get("/?ttclid=E.C.P.webhook-test", headers={"User-Agent": UA})
    visitor.post("/cart/add", data={"product": "enamel-mug", "quantity": "1"})
    visitor.post("/checkout/payment", data={"payment_method": "card"})
    placed = visitor.post(
        "/checkout/place", headers={"User-Agent": UA}, environ_base={"REMOTE_ADDR": "203.0.113.9"}
    )
    order_id: str = placed.location.rsplit("/", 1)[1]
    return order_id


def webhook(app: Flask, body: bytes, signature: str | None = None) -> int:
    headers = {SIGNATURE_HEADER: sign(SECRET, body) if signature is None else signature}
    return app.test_client().post("/webhooks/payments", data=body, headers=headers).status_code


def paid(order_id: str) -> bytes:
    return json.dumps({"type": "payment.succeeded", "order_id": order_id}).encode()


def test_the_providers_call_sends_the_purchase_with_the_stored_context_once(
    shop: Flask, fake: FakeEventsApi
) -> None:
    order_id = placed_order(shop)

    assert webhook(shop, paid(order_id)) == 204
    assert webhook(shop, paid(order_id)) == 204  # the provider unsure it was received

    sender = shop.extensions["tiktok_pixel_events_api"].sender
    assert sender.flush(timeout=10)
    event = fake.to_have_received(
        "Purchase",
        event_id=order_event_id("CompletePayment", order_id),
        user={"ttclid": "E.C.P.webhook-test", "ip": "203.0.113.9", "user_agent": UA},
        properties={"order_id": order_id, "value": 14.5, "currency": "USD"},
    )
    assert event["page"]["url"] == "http://localhost/checkout/place"
    assert len(fake.events) == 1
    assert shop.extensions["demo_shop"].orders.get(order_id).paid


@pytest.mark.parametrize(
    ("body", "signature", "status"),
    [
        (b'{"type": "payment.succeeded", "order_id": "PX-00000000"}', None, 404),
        (b'{"type": "refund", "order_id": "ORDER"}', None, 404),
        (b'{"type": "payment.succeeded", "order_id": ["ORDER"]}', None, 404),
        (b"not json", None, 400),
        (b'{"type": "payment.succeeded"}', None, 400),
        (b'{"type": "payment.succeeded", "order_id": "ORDER"}', "0" * 64, 403),
        (b'{"type": "payment.succeeded", "order_id": "ORDER"}', "", 403),
        (b'{"order_id": "ORDER", "pad": "' + b"x" * 5000 + b'"}', None, 403),
    ],
)
def test_anything_but_a_signed_payment_of_a_known_order_is_refused(
    shop: Flask, fake: FakeEventsApi, body: bytes, signature: str | None, status: int
) -> None:
    order_id = placed_order(shop)
    body = body.replace(b"ORDER", order_id.encode())
    assert webhook(shop, body, signature) == status
    assert shop.extensions["tiktok_pixel_events_api"].sender.flush(timeout=10)
    assert fake.events == []
    assert not shop.extensions["demo_shop"].orders.get(order_id).paid
