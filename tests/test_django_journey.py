"""The Django demo shop in Chromium: the issue's journey, each call once, with the recorder and
with TikTok's real SDK, and the server copy with the browser event's id."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django_support import JANE, SAM, middleware_with_csp, running_shop, seed_customers
from playwright.sync_api import Page

from pixel_embed import order_event_id
from pixel_embed.testing import expect_pixel
from pixel_embed.testing.events_api import FakeEventsApi

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "django-test-token"
HELD = ("load", "holdConsent", "page")


@pytest.fixture
def events_api() -> Iterator[FakeEventsApi]:
    with FakeEventsApi(access_token=TOKEN) as fake:
        yield fake


@pytest.fixture
def shop(events_api: FakeEventsApi) -> Iterator[str]:
    seed_customers()
    with running_shop(
        TIKTOK_PIXEL_ACCESS_TOKEN=TOKEN,
        TIKTOK_PIXEL_EVENTS_API_URL=events_api.url,
        MIDDLEWARE=middleware_with_csp(),
    ) as url:
        yield url


def log_in(page: Page, shop: str, who: tuple[str, str, str, str]) -> None:
    page.goto(shop + "/login")
    page.get_by_label("Name").fill(who[0])
    page.get_by_label("Password").fill(who[3])
    with page.expect_navigation(url=shop + "/"):
        page.get_by_role("button", name="Log in").click()


def journey(page: Page, shop: str, events_api: FakeEventsApi, *, real: bool) -> None:
    # Strict CSP (django-csp): the pixel's script carries the nonce of the policy's header,
    # and pixel_page fails the test on any violation that concerns TikTok.
    answer = page.goto(shop + "/product/enamel-mug")
    assert answer is not None
    policy = answer.headers["content-security-policy"]
    assert "'unsafe-inline'" not in policy
    nonce = policy.split("'nonce-")[1].split("'")[0]
    # (Browsers hide a nonce from the DOM: the HTML as sent.)
    assert f'<script nonce="{nonce}">' in answer.text()

    # Consent "hold": the SDK loads, the page's events wait for the visitor's choice.
    expect_pixel(page).to_have_made(*HELD, "ViewContent")
    if real:
        expect_pixel(page).not_to_have_sent("ViewContent")
    page.get_by_role("button", name="Accept").click()
    expect_pixel(page).to_have_called("grantConsent")
    if real:
        expect_pixel(page).to_have_sent("ViewContent", times=1)

    # A signed-in customer is identified on every page, hashed on the server.
    log_in(page, shop, JANE)
    expect_pixel(page).to_have_identified(email=JANE[1], phone_number=JANE[2])

    page.get_by_role("link", name="Enamel camp mug").click()
    page.wait_for_url("**/product/enamel-mug")
    expect_pixel(page).to_have_tracked("ViewContent", times=1, value=14.5, currency="USD")
    if real:  # the hashes reached TikTok with the event, none of them graded plain or invalid
        expect_pixel(page).to_have_sent_user(email=JANE[1], phone_number=JANE[2])

    # htmx: the page does not reload, the AddToCart comes in the response's header.
    url = page.url
    page.get_by_role("button", name="Add to cart").click()
    page.get_by_test_id("added").wait_for()
    assert page.url == url
    expect_pixel(page).to_have_tracked("AddToCart", times=1, value=14.5)

    # The purchase: tracked by the POST, fired once on the page after the redirect.
    page.get_by_role("link", name="Cart (1)").click()
    page.wait_for_url("**/cart")
    with page.expect_navigation(url="**/orders/*"):
        page.get_by_role("button", name="Pay now").click()
    order_id = page.get_by_test_id("order-id").inner_text()
    event_id = order_event_id("CompletePayment", order_id)
    expect_pixel(page).to_have_tracked(
        "CompletePayment", times=1, order_id=order_id, value=14.5, event_id=event_id
    )
    if real:
        expect_pixel(page).to_have_sent("CompletePayment", times=1, event_id=event_id)
    page.reload()
    expect_pixel(page).not_to_have_tracked("CompletePayment")

    # The server copy: the same event_id, so TikTok counts the sale once.
    (server,) = [e for e in events_api.wait_for_events(1) if e["event"] == "Purchase"]
    assert server["event_id"] == event_id

    # Logout, then another person on the same browser: only Sam's identity, none of Jane's.
    with page.expect_navigation(url=shop + "/"):
        page.get_by_role("button", name="Log out").click()
    expect_pixel(page).not_to_have_identified()
    log_in(page, shop, SAM)
    expect_pixel(page).to_have_identified(email=SAM[1], phone_number=SAM[2])
    expect_pixel(page).not_to_have_tracked("CompletePayment")


def test_the_journey_with_the_recorder(
    pixel_page: Page, shop: str, events_api: FakeEventsApi
) -> None:
    journey(pixel_page, shop, events_api, real=False)


@pytest.mark.pixel_sdk("real")
def test_the_journey_with_tiktoks_sdk(
    pixel_page: Page, shop: str, events_api: FakeEventsApi
) -> None:
    journey(pixel_page, shop, events_api, real=True)
