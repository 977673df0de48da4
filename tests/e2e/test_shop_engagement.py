"""Contact, newsletter, download, wishlist, the notify-me button and the custom event: each a
form POST that redirects, each firing once on the page the visitor lands on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from pixel_embed.testing import expect_pixel

from .shop import HELD, press, running_shop


@pytest.fixture(scope="module")
def shop() -> Iterator[str]:
    with running_shop() as url:
        yield url


def test_contact_form_fires_contact_and_submit_form(pixel_page: Page, shop: str) -> None:
    page = pixel_page
    page.goto(shop + "/contact")
    page.get_by_label("Name").fill("Grace")
    page.get_by_label("E-mail address").fill("grace@example.com")
    page.get_by_label("Message").fill("Do you ship to Lisbon?")
    press(page, "Send", "**/contact")
    expect(page.get_by_role("status")).to_contain_text("Thanks for your message")
    expect_pixel(page).to_have_tracked("Contact", times=1, description="Contact form")
    expect_pixel(page).to_have_tracked("SubmitForm", times=1, description="Contact form")
    expect_pixel(page).to_have_made(*HELD, "Contact", "SubmitForm")

    page.reload()
    expect_pixel(page).to_have_made(*HELD)


def test_newsletter_fires_subscribe_back_on_the_same_page(pixel_page: Page, shop: str) -> None:
    page = pixel_page
    page.goto(shop + "/product/white-tee")
    page.get_by_placeholder("you@example.com").fill("news@example.com")
    press(page, "Subscribe", "**/product/white-tee")
    expect_pixel(page).to_have_tracked("Subscribe", times=1, description="Newsletter")
    expect_pixel(page).to_have_made(*HELD, "Subscribe", "ViewContent")


def test_download_fires_download_then_serves_the_file(pixel_page: Page, shop: str) -> None:
    page = pixel_page
    page.goto(shop + "/downloads")
    press(page, "Download", "**/downloads/size-guide")
    expect_pixel(page).to_have_tracked(
        "Download", times=1, description="Size guide", content_id="size-guide"
    )
    expect_pixel(page).to_have_made(*HELD, "Download")
    with page.expect_download() as download:
        page.get_by_role("link", name="Save pixel-and-co-size-guide.txt").click()
    assert download.value.suggested_filename == "pixel-and-co-size-guide.txt"


def test_wishlist_fires_add_to_wishlist(pixel_page: Page, shop: str) -> None:
    page = pixel_page
    page.goto(shop + "/product/grey-hoodie")
    press(page, "Save to wishlist", "**/product/grey-hoodie")
    expect_pixel(page).to_have_tracked(
        "AddToWishlist",
        times=1,
        value=54,
        currency="USD",
        contents=[
            {
                "content_id": "PX-1003",
                "content_type": "product",
                "content_name": "Grey zip hoodie",
                "content_category": "apparel",
                "price": 54,
                "quantity": 1,
            }
        ],
    )
    expect_pixel(page).to_have_made(*HELD, "AddToWishlist", "ViewContent")
    page.get_by_role("link", name="Wishlist").click()
    expect(page.get_by_role("link", name="Grey zip hoodie")).to_be_visible()


def test_notify_me_button_fires_click_button(pixel_page: Page, shop: str) -> None:
    page = pixel_page
    page.goto(shop + "/product/navy-cap")
    expect(page.get_by_role("button", name="Add to cart")).to_have_count(0)
    press(page, "Notify me when it is back", "**/product/navy-cap")
    expect_pixel(page).to_have_tracked(
        "ClickButton", times=1, description="Notify me when back in stock", content_id="PX-3002"
    )
    expect_pixel(page).to_have_made(*HELD, "ClickButton", "ViewContent")


def test_gift_wrap_fires_the_custom_event(pixel_page: Page, shop: str) -> None:
    page = pixel_page
    page.goto(shop + "/product/stoneware-mug")
    press(page, "Add to cart", "**/cart")
    press(page, "Add free gift wrap", "**/cart")
    expect_pixel(page).to_have_tracked(
        "tiktok_custom_event", times=1, description="Gift wrap added", value=18, currency="USD"
    )
    expect_pixel(page).to_have_made(*HELD, "tiktok_custom_event")
    # Taking it off again is not an event.
    press(page, "No gift wrap", "**/cart")
    expect_pixel(page).to_have_made(*HELD)
