"""The FastAPI demo's journey in Chromium, from ``async def`` and from ``def`` endpoints: consent
held then granted, a hashed identify, ViewContent, an htmx add to cart, a deferred purchase
after a redirect and its server copy with the same event_id, under a strict nonce-based CSP;
with the recorder and with TikTok's own SDK. Each event once."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from events_api_support import TOKEN, fake_api
from playwright.sync_api import Page, expect

from demo_fastapi import DEMO_PIXEL_CODE, create_app
from pixel_embed import order_event_id
from pixel_embed.matching import hash_email, hash_phone
from pixel_embed.testing import expect_pixel, pixel_calls, recorder_for, wire_events
from pixel_embed.testing.asgi_server import serve_asgi
from pixel_embed.testing.events_api import FakeEventsApi

EMAIL = "jane@example.com"
PHONE = "+12133734253"
MUG = {"content_id": "PX-2001", "content_type": "product", "price": 14.5, "quantity": 1}
JOURNEY = ("ViewContent", "AddToCart", "InitiateCheckout", "CompletePayment")


@pytest.fixture(autouse=True)
def _fail_fast(pixel_page: Page) -> None:
    """A missing button fails in 5 s, not Playwright's 30: the shop answers in milliseconds."""
    pixel_page.set_default_timeout(5000)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeEventsApi]:
    with fake_api() as api:
        yield api


@pytest.fixture(scope="module", params=["async", "sync"])
def shop(request: pytest.FixtureRequest, fake: FakeEventsApi) -> Iterator[str]:
    """The demo, its views run as ``async def`` or as ``def``, under its strict CSP, with its
    server events going to the fake Events API."""
    app = create_app(
        {
            "DEMO_ENDPOINTS": request.param,
            "DEMO_STRICT_CSP": True,
            "TIKTOK_PIXEL_ACCESS_TOKEN": TOKEN,
            "TIKTOK_PIXEL_EVENTS_API_URL": fake.url,
            "TIKTOK_PIXEL_EVENTS_API_BACKOFF": 0.01,
            "TIKTOK_PIXEL_EVENTS_QUEUE": "memory",
        }
    )
    with serve_asgi(app) as url:
        yield url


def banner(page: Page, button: str) -> None:
    page.get_by_role("dialog", name="Cookie consent").get_by_role("button", name=button).click()


def walk(page: Page, shop: str) -> str:
    """Log in, grant consent, view the mug, add it to the cart with htmx, check out and pay;
    returns the order's id."""
    page.goto(shop + "/login")
    page.get_by_label("E-mail address").fill(EMAIL)
    page.get_by_label("Password").fill("pixel-demo")
    with page.expect_navigation(url="**/account"):
        page.get_by_role("button", name="Log in").click()
    banner(page, "Accept")

    page.goto(shop + "/product/pixel-mug")
    expect_pixel(page).to_have_tracked("ViewContent", times=1, contents=[MUG], value=14.5)
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_text("Added 1 x Pixel mug to your cart.")).to_be_visible()
    expect(page.get_by_test_id("cart-link")).to_have_text("Cart (1)")  # out of band
    expect_pixel(page).to_have_tracked("AddToCart", times=1, contents=[MUG], value=14.5)

    page.get_by_role("link", name="Cart (1)").click()
    page.get_by_role("link", name="Checkout").click()
    page.wait_for_url("**/checkout")
    expect_pixel(page).to_have_tracked("InitiateCheckout", times=1, value=14.5)
    with page.expect_navigation(url="**/orders/*"):
        page.get_by_role("button", name="Place order and pay").click()
    return page.get_by_test_id("order-id").inner_text()


def server_copies(fake: FakeEventsApi, event_id: str) -> list[dict[str, Any]]:
    """The server events with ``event_id`` the fake Events API received, once one came (the
    fake serves both kinds of shop: other orders' events are there too)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [e for e in fake.events if e["event_id"] == event_id]
        if found:
            time.sleep(0.3)  # a duplicate would come with the same batch or just after
            return [e for e in fake.events if e["event_id"] == event_id]
        time.sleep(0.05)
    return []


def tracked(page: Page) -> Counter[str]:
    """How often each event was tracked on every page of the journey."""
    return Counter(c.event for c in pixel_calls(page, all_pages=True) if c.event)


def test_the_journey_with_the_recorder(pixel_page: Page, shop: str, fake: FakeEventsApi) -> None:
    page = pixel_page
    page.goto(shop + "/")
    # Consent hold: the SDK loads and every event waits for the visitor's choice.
    expect_pixel(page).to_have_made("load", "holdConsent", "page")

    order_id = walk(page, shop)
    event_id = order_event_id("CompletePayment", order_id)
    expect_pixel(page).to_have_tracked(
        "CompletePayment", times=1, event_id=event_id, order_id=order_id, value=14.5
    )
    identify = [c for c in pixel_calls(page) if c.method == "identify"]
    assert identify
    assert identify[0].params["email"] == hash_email(EMAIL)
    assert identify[0].params["phone_number"] == hash_phone(PHONE)

    # The page's script carries the nonce the policy allows.
    response = page.goto(shop + f"/orders/{order_id}")
    assert response is not None
    nonce = response.headers["content-security-policy"].split("'nonce-")[1].split("'")[0]
    # (Chromium hides nonces from the DOM: the HTML as it came.)
    assert f'<script nonce="{nonce}">' in response.text()
    assert "CompletePayment" not in [c.event for c in pixel_calls(page)]  # once

    assert all(tracked(page)[event] == 1 for event in JOURNEY), tracked(page)
    server = server_copies(fake, event_id)
    assert len(server) == 1, fake.events
    assert server[0]["event"] == "Purchase"
    assert server[0]["properties"]["order_id"] == order_id
    assert server[0]["user"]["email"] == hash_email(EMAIL)


@pytest.mark.pixel_sdk("real")
# The login form's e-mail address is the visitor's own: TikTok's automatic advanced matching
# reading it is expected here (the kit warns because on other forms it would not be).
@pytest.mark.filterwarnings("ignore:beacon .* collected an e-mail address")
def test_the_journey_on_the_wire(pixel_page: Page, shop: str, fake: FakeEventsApi) -> None:
    page = pixel_page
    page.goto(shop + "/product/tote-bag")
    page.wait_for_load_state("load")
    # Held: the SDK is there, and sends nothing before the choice.
    assert recorder_for(page).sdk_loads() == [DEMO_PIXEL_CODE]
    expect_pixel(page).not_to_have_sent()

    order_id = walk(page, shop)
    wire = expect_pixel(page)
    event_id = order_event_id("CompletePayment", order_id)
    wire.to_have_sent("CompletePayment", times=1, event_id=event_id, value=14.5, currency="USD")
    for event in ("ViewContent", "AddToCart", "InitiateCheckout"):
        wire.to_have_sent(event, times=1, value=14.5)
    # The tote bag viewed before the choice was held, then sent once consent came.
    wire.to_have_sent("ViewContent", times=1, contents=[{"content_id": "PX-3001"}])
    wire.to_have_sent_user(email=EMAIL, phone_number=PHONE)
    signed_in = [b for b in wire_events(page) if b.is_event and b.user.get("email")]
    assert signed_in
    assert all(b.identity.get("email") == "hashed" for b in signed_in)

    server = server_copies(fake, event_id)
    assert len(server) == 1
    assert server[0]["event"] == "Purchase"
