"""The demo journeys on the wire: TikTok's own SDK runs in the shop's pages, and the tests assert
on the beacons it builds (answered locally, never sent). Skipped, with the reason, when there is
no copy of TikTok's SDK (``PIXEL_EMBED_SDK_DIR``, else ``../shared/tiktok-sdk``)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from demo_site import DEMO_PIXEL_CODE
from pixel_embed import order_event_id
from pixel_embed.matching import hash_email, hash_phone
from pixel_embed.testing import expect_pixel, recorder_for, wire_events

from .shop import press, running_shop
from .test_shop_accounts import PHONE, sign_up
from .test_shop_consent import banner, hold_shop, strict_shop

# The consent journeys' shops, in real-SDK mode here.
__all__ = ["hold_shop", "strict_shop"]

pytestmark = pytest.mark.pixel_sdk("real")

EMAIL = " Grace.Hopper@Example.COM "
OTHER_CODE = "CZYXWV0987654321ZYXW"
MUG = {"content_id": "PX-2001", "quantity": 2, "price": 14.5}


def add_two_mugs(page: Page, shop: str) -> None:
    page.goto(shop + "/product/enamel-mug")
    page.get_by_label("Quantity").fill("2")
    press(page, "Add to cart", "**/cart")


def test_one_purchase_with_the_servers_event_id_and_hashed_identity(
    pixel_page: Page, hold_shop: str
) -> None:
    page = pixel_page
    page.goto(hold_shop + "/")
    banner(page, "Accept")
    sign_up(page, hold_shop, EMAIL)
    customer = page.get_by_test_id("customer-id").inner_text()

    add_two_mugs(page, hold_shop)
    page.get_by_role("link", name="Checkout").click()
    page.wait_for_url("**/checkout")
    page.get_by_label("PayPal").check()
    press(page, "Continue to review", "**/checkout/review")
    press(page, "Place order", "**/orders/*")
    order_id = page.get_by_test_id("order-id").inner_text()
    press(page, "Pay $29.00 now", f"**/orders/{order_id}")

    wire = expect_pixel(page)
    wire.to_have_sent(
        "CompletePayment",
        times=1,
        event_id=order_event_id("CompletePayment", order_id),
        value=29,
        currency="USD",
        contents=[MUG],
    )
    wire.to_have_sent("PlaceAnOrder", times=1, order_id=order_id)
    wire.to_have_sent("CompleteRegistration", times=1)
    wire.to_have_sent_user(email=EMAIL, phone_number=PHONE, region="US", external_id=customer)

    # Hashed once, on the server: TikTok grades every identity value it got as "hashed", and the
    # digest is the one of the normalised value (a double hash would differ).
    signed_in = [b for b in wire_events(page) if b.is_event and b.user.get("email")]
    assert signed_in
    for beacon in signed_in:
        assert beacon.identity == {"email": "hashed", "phone_number": "hashed"}
        assert beacon.user["email"] == hash_email(EMAIL)
        assert beacon.user["phone_number"] == hash_phone(PHONE, "US")
        assert beacon.pixel == DEMO_PIXEL_CODE

    # A refresh of the order page does not send the sale again.
    page.reload()
    wire.to_have_sent("Purchase", times=1)


def test_hold_sends_nothing_before_consent_then_what_was_held(
    pixel_page: Page, hold_shop: str
) -> None:
    page = pixel_page
    add_two_mugs(page, hold_shop)
    # The SDK loaded and holds everything: not even a page view goes out.
    assert recorder_for(page).sdk_loads() == [DEMO_PIXEL_CODE, DEMO_PIXEL_CODE]
    expect_pixel(page).not_to_have_sent()
    assert wire_events(page) == []

    banner(page, "Accept")
    expect_pixel(page).to_have_sent("AddToCart", times=1, value=29, currency="USD")
    # Held on the product page, sent once consent came on the cart page.
    expect_pixel(page).to_have_sent("ViewContent", times=1, contents=[{"content_id": "PX-2001"}])


def test_hold_declined_sends_nothing_also_after_a_reload(pixel_page: Page, hold_shop: str) -> None:
    page = pixel_page
    add_two_mugs(page, hold_shop)
    banner(page, "Decline")
    page.reload()
    expect(page.get_by_role("dialog", name="Cookie consent")).to_have_count(0)
    expect_pixel(page).not_to_have_sent()


def test_strict_sends_nothing_before_consent(pixel_page: Page, strict_shop: str) -> None:
    page = pixel_page
    add_two_mugs(page, strict_shop)
    expect_pixel(page).not_to_have_sent()
    assert recorder_for(page).sdk_requests == []

    banner(page, "Accept")
    expect_pixel(page).to_have_sent("AddToCart", times=1, value=29)
    assert all(b.pixel == DEMO_PIXEL_CODE for b in wire_events(page) if b.is_event)


def test_limited_data_use_is_on_every_beacon(pixel_page: Page) -> None:
    with running_shop(TIKTOK_PIXEL_CONSENT="none", TIKTOK_PIXEL_LDU=True) as shop:
        pixel_page.goto(shop + "/product/enamel-mug")
        expect_pixel(pixel_page).to_have_sent("ViewContent", times=1)
        events = [b for b in wire_events(pixel_page) if b.is_event]
        assert events
        assert {b.limited_data_use for b in events} == {True}


def test_two_pixels_each_get_their_own_beacons(pixel_page: Page) -> None:
    codes = [DEMO_PIXEL_CODE, OTHER_CODE]
    with running_shop(TIKTOK_PIXEL_CONSENT="none", TIKTOK_PIXEL_CODE=codes) as shop:
        pixel_page.goto(shop + "/product/enamel-mug")
        for code in codes:
            expect_pixel(pixel_page).to_have_sent("ViewContent", times=1, pixel=code)
            expect_pixel(pixel_page).to_have_sent("Pageview", times=1, pixel=code)
        events = [b for b in wire_events(pixel_page) if b.is_event]
        assert {b.pixel for b in events} == set(codes)
        assert sorted(recorder_for(pixel_page).sdk_loads()) == sorted(codes)
