"""The demo shop's whole journey passes the audit: consent, product, cart, checkout, payment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

import demo_site
from pixel_embed.audit import Step, audit
from pixel_embed.testing import serve_app

JOURNEY = [
    Step("accept-consent", "#consent-banner [data-consent=grant]"),
    Step("click", ".product-card:not(:has(.badge)) a"),
    Step("click", "form.buy button"),
    # With htmx (DEMO_HTMX) adding to the cart stays on the product page: go to the cart.
    Step("click", "[data-testid=cart-link]"),
    Step("click", "a.button.primary"),
    Step("click", "form.stacked button"),
    Step("click", "form[action$='/checkout/place'] button"),
    Step("click", "form[action$='/pay'] button"),
]


@pytest.fixture(scope="module")
def shop_url() -> Iterator[str]:
    with serve_app(demo_site.create_app({"TESTING": True})) as url:
        yield url


def test_the_demo_journey_has_no_error(pixel_browser: Browser, shop_url: str) -> None:
    result = audit(pixel_browser, f"{shop_url}/", JOURNEY)
    assert result.failure is None, result.failure
    assert result.evidence is not None
    tracked = [call.event for call in result.evidence.calls if call.method == "track"]
    for event in (
        "ViewContent",
        "AddToCart",
        "InitiateCheckout",
        "AddPaymentInfo",
        "PlaceAnOrder",
        "CompletePayment",
    ):
        assert event in tracked, tracked
    # The demo is right: no error, and no warning either (the rules stay precise).
    problems = [finding for finding in result.findings if finding.severity != "info"]
    assert problems == [], problems
    [consent] = [f.message for f in result.findings if f.code == "consent-mode"]
    assert consent.startswith("consent mode: the SDK loads, ttq.holdConsent() holds events")
