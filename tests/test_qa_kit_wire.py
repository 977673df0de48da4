"""The QA kit on the wire: TikTok's own SDK, served from a local copy, in a real Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CODE, page
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page

from pixel_embed import TikTokPixel
from pixel_embed.matching import hash_email
from pixel_embed.testing import (
    WireEvent,
    expect_pixel,
    install_recorder,
    pixel_calls,
    serve_app,
    wire_events,
)
from pixel_embed.testing.sdk import SdkFiles, loader_pixel_code


def wire_shop() -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="s", TIKTOK_PIXEL_CODE=CODE)
    pixel = TikTokPixel(app)

    @app.get("/")
    def home() -> str:
        pixel.identify(email="Jane@Example.com")
        pixel.track("CompletePayment", value=42.5, currency="USD", event_id="order-1")
        return page()

    return app


def sent(tab: Page, event: str) -> list[WireEvent]:
    """The beacons of ``event`` once one has gone out (waiting up to 5 s)."""
    for _ in range(50):
        found = [beacon for beacon in wire_events(tab) if beacon.event == event]
        if found:
            return found
        tab.wait_for_timeout(100)
    return []


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_app(wire_shop()) as url:
        yield url


@pytest.fixture
def real_context(pixel_browser: Browser, sdk_dir: Path) -> Iterator[BrowserContext]:
    context = pixel_browser.new_context()
    install_recorder(context, sdk="real", sdk_dir=sdk_dir)
    yield context
    context.close()


def test_tiktoks_sdk_sends_the_pages_calls_and_the_kit_keeps_every_beacon(
    real_context: BrowserContext, base_url: str
) -> None:
    tab = real_context.new_page()
    tab.goto(base_url)
    # The page's ttq calls are still recorded, the real SDK running unchanged.
    expect_pixel(tab).to_have_tracked("CompletePayment", value=42.5, event_id="order-1")
    recorder = install_recorder(real_context)
    purchases = sent(tab, "Purchase")
    assert len(purchases) == 1
    purchase = purchases[0]
    assert purchase.endpoint == "analytics.tiktok.com/api/v2/pixel"
    assert purchase.pixel == CODE
    assert purchase.event_id == "order-1"
    assert purchase.properties == {"value": 42.5, "currency": "USD"}
    assert purchase.user["email"] == hash_email("jane@example.com")
    assert purchase.identity_params["email_is_hashed"] == ["hashed"]
    assert purchase.signal_labels["hashed_email"] == "valid"
    assert purchase.page_url == base_url + "/"
    assert purchase.body["event"] == "Purchase"
    assert '"Purchase"' in purchase.text
    # The loader was asked for our pixel, the bundles it names came from the copy, and
    # nothing was aborted: every TikTok URL was answered here.
    assert recorder.sdk_loads() == [CODE]
    assert recorder.blocked == []
    assert recorder.errors == []
    assert [c.method for c in pixel_calls(tab)][:2] == ["load", "page"]


def test_the_loader_is_rewritten_to_the_requested_pixel(sdk_dir: Path) -> None:
    files = SdkFiles(sdk_dir)
    original = (sdk_dir / "analytics.tiktok.com/i18n/pixel/events.js").read_text()
    built_for = loader_pixel_code(original)
    assert built_for is not None
    assert built_for != CODE
    served = files.body_for("analytics.tiktok.com", "/i18n/pixel/events.js", CODE)
    assert served is not None
    assert built_for not in served
    assert f'"pixelCode": "{CODE}"' in served
    # Nothing outside the copy is served.
    assert files.body_for("analytics.tiktok.com", "/../../etc/passwd", None) is None
    assert files.body_for("analytics.tiktok.com", "/i18n/pixel/missing.js", None) is None
