"""The demo shop without page loads (DEMO_HTMX): add to cart and wishlist through htmx, the
newsletter through fetch(), hx-boost on category and product links; and the same forms without
JavaScript, which still post and redirect."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from pixel_embed.testing import expect_pixel, install_recorder, pixel_calls, recorder_for

from .shop import HELD, running_shop


@pytest.fixture(scope="module")
def shop() -> Iterator[str]:
    with running_shop(DEMO_HTMX=True) as url:
        yield url


@pytest.fixture(scope="module")
def strict_csp_shop() -> Iterator[str]:
    with running_shop(DEMO_HTMX=True, DEMO_STRICT_CSP=True) as url:
        yield url


def methods(page: Page) -> list[str]:
    return [c.method if c.method != "track" else str(c.event) for c in pixel_calls(page)]


def test_add_to_cart_and_wishlist_without_leaving_the_product_page(
    pixel_page: Page, shop: str
) -> None:
    page = pixel_page
    page.goto(shop + "/product/stoneware-mug")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.locator("#buy-status")).to_contain_text("Added 1 x Stoneware mug")
    expect(page.get_by_test_id("cart-link")).to_have_text("Cart (1)")
    expect_pixel(page).to_have_tracked("AddToCart", times=1, value=18, currency="USD")
    page.get_by_role("button", name="Save to wishlist").click()
    expect(page.locator("#wishlist-status")).to_contain_text("Saved Stoneware mug")
    expect_pixel(page).to_have_tracked("AddToWishlist", times=1, value=18)
    assert page.url == shop + "/product/stoneware-mug"
    assert methods(page) == [*HELD, "ViewContent", "AddToCart", "AddToWishlist"]


def test_the_newsletter_subscribes_through_fetch(pixel_page: Page, shop: str) -> None:
    page = pixel_page
    page.goto(shop + "/downloads")
    page.get_by_placeholder("you@example.com").fill("news@example.com")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.locator(".newsletter-status")).to_have_text("You are subscribed to our newsletter.")
    expect_pixel(page).to_have_tracked("Subscribe", times=1, description="Newsletter")
    assert page.url == shop + "/downloads"
    assert methods(page) == [*HELD, "Subscribe"]


def test_hx_boost_category_and_product_pages_fire_their_events(pixel_page: Page, shop: str) -> None:
    page = pixel_page
    page.goto(shop + "/")
    page.get_by_role("navigation", name="Categories").get_by_role("link", name="Kitchen").click()
    page.wait_for_url("**/category/kitchen")
    page.get_by_role("link", name="Enamel camp mug").click()
    page.wait_for_url("**/product/enamel-mug")
    expect(page).to_have_title("Enamel camp mug · Pixel & Co.")
    expect_pixel(page).to_have_tracked("ViewContent", times=1, value=14.5)
    page.go_back()
    page.wait_for_url("**/category/kitchen")
    page.go_forward()
    page.wait_for_url("**/product/enamel-mug")
    page.wait_for_timeout(200)
    # One document, one bootstrap: the SDK sends the page views of the boosted pages itself.
    assert methods(page) == [*HELD, "ViewContent"]
    assert recorder_for(page).sdk_loads() == [recorder_for(page).sdk_loads()[0]]


def test_strict_csp_no_violation(pixel_page: Page, strict_csp_shop: str) -> None:
    page = pixel_page
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            problems.append(message.text)

    page.on("console", on_console)
    page.goto(strict_csp_shop + "/")
    page.get_by_role("link", name="Kitchen").first.click()
    page.wait_for_url("**/category/kitchen")
    page.get_by_role("link", name="Stoneware mug").click()
    page.wait_for_url("**/product/stoneware-mug")
    page.get_by_role("button", name="Add to cart").click()
    expect_pixel(page).to_have_tracked("AddToCart", times=1)
    page.get_by_placeholder("you@example.com").fill("csp@example.com")
    page.get_by_role("button", name="Subscribe").click()
    expect_pixel(page).to_have_tracked("Subscribe", times=1)
    expect_pixel(page).to_have_tracked("ViewContent", times=1)
    assert problems == []
    assert recorder_for(page).errors == []


def test_without_javascript_the_forms_post_and_redirect(pixel_browser: Browser, shop: str) -> None:
    context = pixel_browser.new_context(java_script_enabled=False)
    install_recorder(context)
    try:
        page = context.new_page()
        page.goto(shop + "/product/stoneware-mug")
        with page.expect_navigation(url="**/cart"):
            page.get_by_role("button", name="Add to cart").click()
        expect(page.get_by_role("status")).to_contain_text("Added 1 x Stoneware mug")
        # The cart page's own script carries the deferred event, as before.
        assert 'ttq.track("AddToCart"' in page.content()
        page.get_by_placeholder("you@example.com").fill("plain@example.com")
        with page.expect_navigation(url="**/cart"):
            page.get_by_role("button", name="Subscribe").click()
        assert 'ttq.track("Subscribe"' in page.content()
    finally:
        context.close()
