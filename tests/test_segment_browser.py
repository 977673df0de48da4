"""Segment journeys in a real Chromium: what the browser's ``ttq`` receives, through the QA kit."""

from __future__ import annotations

from pathlib import Path

from conftest import CODE, make_app, page
from flask import Flask, redirect, render_template_string
from playwright.sync_api import Page
from werkzeug.wrappers import Response

from pixel_embed import TikTokPixel
from pixel_embed.testing import expect_pixel, pixel_calls, serve_app

PRODUCT = {"product_id": "sku-1", "name": "Runner", "category": "Shoes", "price": 59.5}
CUSTOMER = {
    "email": "Jane.Doe@Example.com",
    "phone": "+1 213 373 4253",
    "first_name": "Jane",
    "address": {"city": "Los Angeles", "state": "CA", "country": "US", "postal_code": "90012"},
}


def form_page(action: str, button: str) -> str:
    # conftest.page() cannot take markup: its "ok" placeholder also occurs in "tiktok_pixel".
    return render_template_string(
        "<!doctype html><html><head><title>shop</title>{{ tiktok_pixel() }}</head><body>"
        '<form method="post" action="{{ action }}"><button id="{{ button }}">go</button></form>'
        "</body></html>",
        action=action,
        button=button,
    )


def shop() -> Flask:
    app = make_app()
    pixel = TikTokPixel(app)

    @app.get("/product")
    def product() -> str:
        pixel.segment.page("Runner", {**PRODUCT, "currency": "USD", "value": 59.5})
        return form_page("/cart", "add")

    @app.post("/cart")
    def add_to_cart() -> Response:
        pixel.segment.track("Product Added", {**PRODUCT, "quantity": 1}, defer=True)
        return redirect("/checkout")

    @app.get("/checkout")
    def checkout() -> str:
        return form_page("/pay", "pay")

    @app.post("/pay")
    def pay() -> Response:
        pixel.segment.identify("user-42", CUSTOMER)
        pixel.segment.track(
            "Order Completed",
            {
                "order_id": "o-1",
                "revenue": 119,
                "currency": "USD",
                "products": [{**PRODUCT, "quantity": 2}],
            },
            message_id="msg-order-1",
            user_id="user-42",
            defer=True,
        )
        return redirect("/thanks")

    @app.get("/thanks")
    def thanks() -> str:
        return page()

    return app


def test_a_shop_journey_fires_the_destinations_events(pixel_page: Page) -> None:
    runner = {"content_id": "sku-1", "content_name": "Runner", "content_category": "Shoes"}
    with serve_app(shop()) as base:
        pixel_page.goto(f"{base}/product")
        expect = expect_pixel(pixel_page)
        expect.to_have_loaded(CODE)
        expect.to_have_tracked(
            "ViewContent", value=59.5, currency="USD", contents=[{"price": 59.5, **runner}]
        )

        pixel_page.click("#add")
        pixel_page.wait_for_url(f"{base}/checkout")
        expect.to_have_tracked(
            "AddToCart", times=1, contents=[{"price": 59.5, "quantity": 1, **runner}]
        )

        pixel_page.click("#pay")
        pixel_page.wait_for_url(f"{base}/thanks")
        expect.to_have_identified(
            email="jane.doe@example.com",
            phone_number="+12133734253",
            external_id="user-42",
            first_name="Jane",
            city="Los Angeles",
            state="CA",
            country="US",
            zip_code="90012",
        )
        expect.to_have_tracked(
            "PlaceAnOrder",
            times=1,
            event_id="msg-order-1",
            value=119,
            currency="USD",
            order_id="o-1",
            contents=[{"price": 59.5, "quantity": 2, **runner}],
        )

        pixel_page.reload()
        expect.not_to_have_tracked("PlaceAnOrder")


def test_a_custom_mapping_from_a_toml_file(pixel_page: Page, tmp_path: Path) -> None:
    file = tmp_path / "tiktok.toml"
    file.write_text(
        """\
[[mappings]]
name = "Custom event"
subscribe = 'event = "segment_event"'
[mappings.mapping]
event = "tiktok_custom_event"
value = { "@path" = "$.properties.score" }
currency = "EUR"
""",
        encoding="utf-8",
    )
    app = make_app(TIKTOK_PIXEL_MAPPINGS=str(file))
    pixel = TikTokPixel(app)

    @app.get("/")
    def home() -> str:
        pixel.segment.track("segment_event", {"score": 3}, message_id="m-1")
        pixel.segment.track("Not Mapped", {"score": 4})
        return page()

    with serve_app(app) as base:
        pixel_page.goto(base)
        expect = expect_pixel(pixel_page)
        expect.to_have_tracked(
            "tiktok_custom_event", times=1, event_id="m-1", value=3, currency="EUR"
        )
        assert [call.event for call in pixel_calls(pixel_page) if call.method == "track"] == [
            "tiktok_custom_event"
        ]
