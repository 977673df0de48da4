"""The audit runner: a visitor's journey across pages, and pages that cannot be audited."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from conftest import CODE, make_app, refused_url
from flask import Flask, redirect, render_template_string, request
from markupsafe import Markup
from playwright.sync_api import Browser
from werkzeug.wrappers import Response

from pixel_embed import TikTokPixel, hash_email
from pixel_embed.audit import Step, audit
from pixel_embed.testing import PixelRecorder, serve_app

LAYOUT = "<!doctype html><html><head>{{ tiktok_pixel() }}</head><body>{{ body }}</body></html>"
FORM = (
    '<form method="post" action="/buy"><input id="email" name="email">'
    '<button id="buy">Buy</button></form>'
)


def page(body: str = "ok") -> str:
    return render_template_string(LAYOUT, body=Markup(body))


def shop() -> Flask:
    app = make_app()
    pixel = TikTokPixel(app)

    @app.get("/")
    def home() -> str:
        pixel.track("ViewContent", contents=[{"content_id": "mug"}], value=9, currency="USD")
        return page(FORM)

    @app.post("/buy")
    def buy() -> Response:
        pixel.identify(email=request.form["email"])
        pixel.track("CompletePayment", value=9, currency="USD", event_id="order-1", defer=True)
        return redirect("/thanks")

    @app.get("/slow")
    def slow() -> str:
        time.sleep(1.5)
        return page()

    @app.get("/bounce")
    def bounce() -> str:
        pixel.track("Contact", event_id="contact-1")
        return page("<script>ttq.ready(function () { location.replace('/thanks') })</script>")

    app.add_url_rule("/thanks", view_func=page)
    return app


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_app(shop()) as url:
        yield url


def test_a_journey_is_numbered_across_its_pages(pixel_browser: Browser, base_url: str) -> None:
    steps = [Step("fill", "#email", " Jane@Example.com "), Step("click", "#buy")]
    result = audit(pixel_browser, f"{base_url}/", steps)
    assert result.failure is None
    assert result.evidence is not None
    pages = result.evidence.pages
    assert [(p.url, p.first_call, [c.method for c in p.calls]) for p in pages] == [
        (f"{base_url}/", 1, ["load", "page", "track"]),
        (f"{base_url}/thanks", 4, ["load", "page", "identify", "track"]),
    ]
    identify = pages[1].calls[2]
    assert identify.params == {"email": hash_email("jane@example.com")}
    assert (pages[1].calls[3].event, pages[1].calls[3].event_id) == ("CompletePayment", "order-1")
    assert pages[1].calls[3].pixel is None
    assert pages[0].sdk_codes == [CODE]
    assert result.findings == ()


def test_a_page_that_moves_on_by_itself_keeps_its_place(
    pixel_browser: Browser, base_url: str
) -> None:
    result = audit(pixel_browser, f"{base_url}/bounce")
    assert result.failure is None
    assert result.evidence is not None
    assert [(p.url, p.first_call, [c.method for c in p.calls]) for p in result.evidence.pages] == [
        (f"{base_url}/bounce", 1, ["load", "page", "track", "ready"]),
        (f"{base_url}/thanks", 5, ["load", "page"]),
    ]
    assert result.findings == ()


@pytest.mark.parametrize(
    ("path", "steps", "timeout", "reason"),
    [
        ("/missing", [], 10, "it answered HTTP 404 NOT FOUND"),
        ("/slow", [], 0.5, "no answer within 0.5 s"),
        ("/", [Step("click", "#nothing")], 1, "--click #nothing: no such element on"),
    ],
    ids=["http-404", "timeout", "missing-element"],
)
def test_pages_that_cannot_be_audited_say_why(
    pixel_browser: Browser,
    base_url: str,
    path: str,
    steps: list[Step],
    timeout: float,
    reason: str,
) -> None:
    result = audit(pixel_browser, f"{base_url}{path}", steps, timeout=timeout)
    assert result.evidence is None
    assert result.findings == ()
    assert result.failure is not None
    assert reason in result.failure


def test_an_unreachable_or_unusable_url(pixel_browser: Browser) -> None:
    url = refused_url()
    refused = audit(pixel_browser, url)
    assert refused.failure == f"cannot open {url}: connection refused (ERR_CONNECTION_REFUSED)"
    ftp = audit(pixel_browser, "ftp://127.0.0.1/file")
    assert ftp.failure == "'ftp://127.0.0.1/file' is not an http(s) URL"


def test_the_audited_host_loads_and_tiktok_stays_recorded() -> None:
    recorder = PixelRecorder(allowed_hosts=frozenset({"shop.example"}))
    assert recorder.allows("shop.example")
    assert recorder.allows("cdn.shop.example")
    assert recorder.allows("127.0.0.1")
    assert not recorder.allows("shop.example.evil.test")
    assert not recorder.allows("ads.example")
    assert not PixelRecorder(allowed_hosts=frozenset({"tiktok.com"})).allows("analytics.tiktok.com")
