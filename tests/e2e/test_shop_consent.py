"""The consent banner on the page JS API (window.pixelEmbed): accept, decline and revoke, in
"hold" mode (the SDK loads, events are held) and "strict" mode (nothing is requested before
consent)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from demo_site import DEMO_PIXEL_CODE
from pixel_embed.testing import expect_pixel, pixel_calls, recorder_for

from .shop import HELD, press, running_shop


@pytest.fixture(scope="module")
def hold_shop() -> Iterator[str]:
    with running_shop(TIKTOK_PIXEL_CONSENT="hold") as url:
        yield url


@pytest.fixture(scope="module")
def strict_shop() -> Iterator[str]:
    with running_shop(TIKTOK_PIXEL_CONSENT="strict") as url:
        yield url


def banner(page: Page, button: str) -> None:
    page.get_by_role("dialog", name="Cookie consent").get_by_role("button", name=button).click()


def consent_status(page: Page) -> str:
    return page.locator("#consent-status").inner_text()


# -- hold ------------------------------------------------------------------------------------


def test_hold_accept_grants_consent_and_is_remembered(pixel_page: Page, hold_shop: str) -> None:
    page = pixel_page
    page.goto(hold_shop + "/")
    expect_pixel(page).to_have_made(*HELD)
    assert page.evaluate("window.pixelEmbed.consent()") is None
    banner(page, "Accept")
    expect_pixel(page).to_have_called("grantConsent")
    expect(page.get_by_role("dialog", name="Cookie consent")).to_be_hidden()
    assert consent_status(page) == "allowed"
    expect_pixel(page).to_have_made(*HELD, "grantConsent")

    page.goto(hold_shop + "/product/canvas-tote")
    expect(page.get_by_role("dialog", name="Cookie consent")).to_have_count(0)
    expect_pixel(page).to_have_made("load", "holdConsent", "grantConsent", "page", "ViewContent")


def test_hold_decline_revokes_consent_and_is_remembered(pixel_page: Page, hold_shop: str) -> None:
    page = pixel_page
    page.goto(hold_shop + "/")
    banner(page, "Decline")
    expect_pixel(page).to_have_called("revokeConsent")
    assert consent_status(page) == "declined"
    page.reload()
    expect(page.get_by_role("dialog", name="Cookie consent")).to_have_count(0)
    expect_pixel(page).to_have_made("load", "holdConsent", "revokeConsent", "page")


def test_hold_consent_can_be_withdrawn_from_the_footer(pixel_page: Page, hold_shop: str) -> None:
    page = pixel_page
    page.goto(hold_shop + "/")
    banner(page, "Accept")
    page.get_by_role("button", name="Withdraw consent").click()
    expect_pixel(page).to_have_called("revokeConsent")
    expect_pixel(page).to_have_made(*HELD, "grantConsent", "revokeConsent")
    assert page.evaluate("window.pixelEmbed.consent()") == "denied"


# -- strict ----------------------------------------------------------------------------------


def test_strict_requests_nothing_from_tiktok_until_accepted(
    pixel_page: Page, strict_shop: str
) -> None:
    page = pixel_page
    recorder = recorder_for(page)
    page.goto(strict_shop + "/product/enamel-mug")
    press(page, "Add to cart", "**/cart")
    page.wait_for_load_state("load")
    assert recorder.sdk_requests == []
    assert pixel_calls(page) == []

    banner(page, "Accept")
    # The SDK loads now, and the calls this page held back fire.
    expect_pixel(page).to_have_tracked("AddToCart", times=1, value=14.5, currency="USD")
    expect_pixel(page).to_have_made("load", "page", "AddToCart")
    assert recorder.sdk_loads() == [DEMO_PIXEL_CODE]

    page.goto(strict_shop + "/cart")
    expect_pixel(page).to_have_loaded(DEMO_PIXEL_CODE)
    expect_pixel(page).to_have_made("load", "page")
    assert recorder.sdk_loads() == [DEMO_PIXEL_CODE, DEMO_PIXEL_CODE]


def test_strict_decline_keeps_tiktok_out_on_every_page(pixel_page: Page, strict_shop: str) -> None:
    page = pixel_page
    page.goto(strict_shop + "/")
    banner(page, "Decline")
    assert consent_status(page) == "declined"
    page.goto(strict_shop + "/product/black-tee")
    page.wait_for_load_state("load")
    expect(page.get_by_role("dialog", name="Cookie consent")).to_have_count(0)
    assert recorder_for(page).sdk_requests == []
    assert pixel_calls(page) == []


def test_strict_withdrawn_consent_stops_the_next_page(pixel_page: Page, strict_shop: str) -> None:
    page = pixel_page
    recorder = recorder_for(page)
    page.goto(strict_shop + "/")
    banner(page, "Accept")
    expect_pixel(page).to_have_loaded(DEMO_PIXEL_CODE)
    page.get_by_role("button", name="Withdraw consent").click()
    expect_pixel(page).to_have_called("revokeConsent")

    requests = len(recorder.sdk_requests)
    page.goto(strict_shop + "/category/kitchen")
    page.wait_for_load_state("load")
    assert len(recorder.sdk_requests) == requests
    assert pixel_calls(page) == []
