"""A purchase confirmed by the payment provider's webhook: the browser's Purchase on the success
page and the webhook's server Purchase (sent with no request of the visitor's) share one
event_id, and the server one carries the visitor's click id, _ttp, address and browser, stored
with the order at checkout. The match-quality report then shows the demo's traffic."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page

from demo_site import create_app
from pixel_embed import order_event_id
from pixel_embed.integrations.flask.cli import flask_cli
from pixel_embed.testing import expect_pixel, pixel_calls, serve_app
from pixel_embed.testing.events_api import FakeEventsApi

from .shop import press
from .test_shop_consent import banner

TTP = "01JDEMO0000000000000000000_.tt.1"
TTCLID = "E.C.P.demo-click-0001"


def test_the_webhooks_purchase_has_the_browsers_event_id_and_the_visitors_keys(
    pixel_page: Page, tiktok_events_api: FakeEventsApi, tmp_path: Path
) -> None:
    fake = tiktok_events_api
    app = create_app(
        {
            "TESTING": True,
            "DEMO_HTMX": False,
            "DEMO_PAYMENT_WEBHOOKS": True,
            "TIKTOK_PIXEL_EVENTS_QUEUE": f"sqlite:///{tmp_path}/events.sqlite3",
            **fake.config,
        }
    )
    page = pixel_page
    with serve_app(app) as shop:
        # TikTok's SDK keeps its browser id in _ttp (the recorder plays the SDK here).
        page.context.add_cookies([{"name": "_ttp", "value": TTP, "url": shop}])
        page.goto(f"{shop}/?ttclid={TTCLID}")  # landed from an ad click
        banner(page, "Accept")
        page.goto(shop + "/product/enamel-mug")
        page.get_by_label("Quantity").fill("2")
        press(page, "Add to cart", "**/cart")
        page.get_by_role("link", name="Checkout").click()
        page.wait_for_url("**/checkout")
        page.get_by_label("PayPal").check()
        press(page, "Continue to review", "**/checkout/review")
        press(page, "Place order", "**/orders/*")  # the matching context is stored here
        order_id = page.get_by_test_id("order-id").inner_text()
        press(page, "Pay $29.00 now", f"**/orders/{order_id}")

        # The browser's Purchase, on the success page.
        [payment] = [call for call in pixel_calls(page) if call.event == "CompletePayment"]
        browser_id = payment.event_id
        assert browser_id == order_event_id("CompletePayment", order_id)
        expect_pixel(page).to_have_tracked("CompletePayment", times=1, order_id=order_id)

        # The webhook's, a moment later, from the provider's thread: no cookie, no session,
        # its own user agent; the visitor's keys come from the order.
        server = fake.to_have_received(
            "Purchase",
            timeout=15,
            event_id=browser_id,
            user={
                "ttclid": TTCLID,
                "ttp": TTP,
                "ip": "127.0.0.1",
                "user_agent": page.evaluate("navigator.userAgent"),
            },
            properties={"order_id": order_id, "value": 29, "currency": "USD"},
        )
        assert "demo-payment-provider" not in server["user"]["user_agent"]
        assert app.extensions["demo_shop"].provider.confirmed == [order_id]
        assert not fake.problems

        # A retried webhook (the provider unsure the shop got it) sends nothing again.
        provider = app.extensions["demo_shop"].provider
        provider.charge(order_id, 2900, "USD", f"{shop}/webhooks/payments").join(10)
        assert provider.confirmed == [order_id, order_id]
        assert len([e for e in fake.events if e["event"] == "Purchase"]) == 1

    # The match-quality report over the demo's traffic.
    result = app.test_cli_runner().invoke(flask_cli, ["events", "quality"])
    assert result.exit_code == 0, result.output
    assert "Purchase  web     1       0%" in result.output
    print(result.output)
