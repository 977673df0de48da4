"""Browse, search, add to cart, check out and pay: the calls of every page on the way."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page

from pixel_embed import order_event_id
from pixel_embed.testing import expect_pixel

from .shop import HELD, press, running_shop

MUG = {
    "content_id": "PX-2001",
    "content_type": "product",
    "content_name": "Enamel camp mug",
    "content_category": "kitchen",
    "price": 14.5,
}


@pytest.fixture(scope="module")
def shop() -> Iterator[str]:
    with running_shop() as url:
        yield url


def test_browse_search_add_to_cart_check_out_and_pay(pixel_page: Page, shop: str) -> None:
    page = pixel_page
    page.goto(shop + "/")
    expect_pixel(page).to_have_made(*HELD)

    page.get_by_role("link", name="Kitchen").click()
    page.wait_for_url("**/category/kitchen")
    expect_pixel(page).to_have_made(*HELD)

    page.get_by_role("searchbox").fill("camp mug")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search?q=camp+mug")
    expect_pixel(page).to_have_tracked("Search", times=1, query="camp mug")
    expect_pixel(page).to_have_made(*HELD, "Search")

    page.get_by_role("link", name="Enamel camp mug").click()
    page.wait_for_url("**/product/enamel-mug")
    expect_pixel(page).to_have_tracked(
        "ViewContent", times=1, contents=[{**MUG, "quantity": 1}], value=14.5, currency="USD"
    )
    expect_pixel(page).to_have_made(*HELD, "ViewContent")

    page.get_by_label("Quantity").fill("2")
    press(page, "Add to cart", "**/cart")
    two_mugs: dict[str, Any] = {
        "contents": [{**MUG, "quantity": 2}],
        "value": 29,
        "currency": "USD",
    }
    expect_pixel(page).to_have_tracked("AddToCart", times=1, **two_mugs)
    expect_pixel(page).to_have_made(*HELD, "AddToCart")

    page.get_by_role("link", name="Checkout").click()
    page.wait_for_url("**/checkout")
    expect_pixel(page).to_have_tracked("InitiateCheckout", times=1, **two_mugs)
    expect_pixel(page).to_have_made(*HELD, "InitiateCheckout")

    page.get_by_label("PayPal").check()
    press(page, "Continue to review", "**/checkout/review")
    expect_pixel(page).to_have_tracked("AddPaymentInfo", times=1, **two_mugs)
    expect_pixel(page).to_have_made(*HELD, "AddPaymentInfo")

    press(page, "Place order", "**/orders/*")
    order_id = page.get_by_test_id("order-id").inner_text()
    expect_pixel(page).to_have_tracked("PlaceAnOrder", times=1, order_id=order_id, **two_mugs)
    expect_pixel(page).to_have_made(*HELD, "PlaceAnOrder")

    press(page, "Pay $29.00 now", f"**/orders/{order_id}")
    expect_pixel(page).to_have_tracked(
        "CompletePayment",
        times=1,
        order_id=order_id,
        event_id=order_event_id("CompletePayment", order_id),
        **two_mugs,
    )
    expect_pixel(page).to_have_made(*HELD, "CompletePayment")
    assert "Paid" in page.get_by_test_id("order-status").inner_text()

    # The purchase fired on the page after the redirect; a refresh must not count it again.
    page.reload()
    expect_pixel(page).not_to_have_tracked("CompletePayment")
    expect_pixel(page).to_have_made(*HELD)
