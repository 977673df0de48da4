"""Sign-up, log-in and log-out: CompleteRegistration once, and identify on every page while
signed in (only SHA-256 digests reach the page; the pixel_page PII guard checks every script)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from pixel_embed.testing import assert_no_raw_pii, expect_pixel, pixel_calls

from .shop import HELD, press, running_shop

EMAIL = " Ada.Lovelace@Example.COM "
PHONE = "(213) 373-4253"


@pytest.fixture(scope="module")
def shop() -> Iterator[str]:
    with running_shop() as url:
        yield url


def sign_up(page: Page, shop: str, email: str) -> None:
    page.goto(shop + "/signup")
    page.get_by_label("Name").fill("Ada")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Phone (optional)").fill(PHONE)
    page.get_by_label("Password").fill("correct horse")
    press(page, "Sign up", "**/account")


def test_sign_up_fires_complete_registration_once_and_identifies_every_page(
    pixel_page: Page, shop: str
) -> None:
    page = pixel_page
    sign_up(page, shop, EMAIL)
    expect(page.get_by_test_id("signed-in")).to_have_text("Signed in as Ada")
    customer = page.get_by_test_id("customer-id").inner_text()
    expect_pixel(page).to_have_tracked("CompleteRegistration", times=1)
    expect_pixel(page).to_have_identified(
        email=EMAIL, phone_number=PHONE, region="US", external_id=customer
    )
    expect_pixel(page).to_have_made(*HELD, "identify", "CompleteRegistration")

    assert_no_raw_pii(page)

    for path in ("/", "/category/apparel", "/product/black-tee", "/search?q=tee", "/cart"):
        page.goto(shop + path)
        expect_pixel(page).to_have_identified(email=EMAIL, phone_number=PHONE, region="US")
        expect_pixel(page).not_to_have_tracked("CompleteRegistration")
        # pixel_page checks the scripts of the last page only: check each signed-in page.
        assert_no_raw_pii(page)

    page.goto(shop + "/account")
    expect_pixel(page).not_to_have_tracked("CompleteRegistration")

    press(page, "Log out", "**/")
    expect_pixel(page).to_have_made(*HELD)
    assert not any(call.method == "identify" for call in pixel_calls(page))


def test_log_in_identifies_the_customer(pixel_page: Page, shop: str) -> None:
    page = pixel_page
    page.goto(shop + "/login")
    page.get_by_label("E-mail address").fill("jane@example.com")
    page.get_by_label("Password").fill("not her password")
    press(page, "Log in", "**/login")
    expect(page.get_by_role("alert")).to_have_text("That e-mail address and password do not match")
    expect_pixel(page).to_have_made(*HELD)

    page.get_by_label("Password").fill("pixel-demo")
    press(page, "Log in", "**/account")
    expect_pixel(page).to_have_identified(email="jane@example.com", phone_number="+12133734253")
    expect_pixel(page).to_have_made(*HELD, "identify")
