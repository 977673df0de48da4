"""The rendered pixel in a real headless Chromium, with the SDK answered by the local recorder."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from conftest import CODE, OTHER_CODE, make_app, page
from flask import Flask, redirect, request
from playwright.sync_api import Dialog, Page
from werkzeug.wrappers import Response

from pixel_embed import TikTokPixel, hash_email
from pixel_embed.testing import expect_pixel, pixel_calls, recorder_for, serve_app

HOSTILE = "</script><script>alert(1)</script><!-- \"quoted\" 'single' \u2028 end"


def shop(**config: object) -> Flask:
    app = make_app(**config)
    pixel = TikTokPixel(app)

    @app.get("/")
    def home() -> str:
        return page("<button onclick=\"ttq.track('ClickButton')\">b</button>")

    @app.get("/search")
    def search() -> str:
        pixel.identify(email="Jane@Example.com", external_id="u-42")
        pixel.track("Search", query=request.args["q"], event_id="search-1")
        return page()

    @app.post("/pay")
    def pay() -> Response:
        pixel.track("CompletePayment", value=42.5, currency="USD", event_id="pay-1", defer=True)
        return redirect("/thanks")

    app.add_url_rule("/thanks", view_func=page)
    app.add_url_rule(
        "/buy", view_func=lambda: page('<form method="post" action="/pay"><button>Pay</button>')
    )
    return app


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_app(shop()) as url:
        yield url


def calls_of(page: Page) -> list[tuple[str | None, str, tuple[object, ...]]]:
    return [(c.pixel, c.method, c.args) for c in pixel_calls(page)]


def test_the_exact_calls_that_ran(pixel_page: Page, base_url: str) -> None:
    pixel_page.goto(f"{base_url}/search?q=mugs")
    expect_pixel(pixel_page).to_have_tracked("Search", query="mugs")
    assert calls_of(pixel_page) == [
        (CODE, "load", (CODE,)),
        (None, "page", ()),
        (
            None,
            "identify",
            (
                {
                    "email": hash_email("jane@example.com"),
                    "external_id": "16ec525b74b75626eb93ecad8acc749885fcf4e83c95b139342769a4ab1828a3",
                },
            ),
        ),
        (None, "track", ("Search", {"query": "mugs"}, {"event_id": "search-1"})),
    ]
    expect_pixel(pixel_page).to_have_loaded(CODE)
    expect_pixel(pixel_page).to_have_identified(email=" JANE@example.com", external_id="u-42")
    assert recorder_for(pixel_page).sdk_loads() == [CODE]


def test_hostile_search_strings_arrive_unchanged_and_never_run(
    pixel_page: Page, base_url: str
) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    pixel_page.on("dialog", on_dialog)
    pixel_page.goto(f"{base_url}/search?" + urlencode({"q": HOSTILE}))
    expect_pixel(pixel_page).to_have_tracked("Search", query=HOSTILE)
    assert dialogs == []
    assert recorder_for(pixel_page).errors == []


def test_a_deferred_purchase_fires_once_across_redirect_and_refresh(
    pixel_page: Page, base_url: str
) -> None:
    pixel_page.goto(f"{base_url}/buy")
    pixel_page.click("text=Pay")
    pixel_page.wait_for_url("**/thanks")
    expect_pixel(pixel_page).to_have_tracked(
        "CompletePayment", times=1, value=42.5, currency="USD", event_id="pay-1"
    )
    pixel_page.reload()
    expect_pixel(pixel_page).not_to_have_tracked("CompletePayment")
    history = [c.event for c in pixel_calls(pixel_page, all_pages=True) if c.event]
    assert history == ["CompletePayment"]


def test_late_calls_are_recorded_live(pixel_page: Page, base_url: str) -> None:
    pixel_page.goto(f"{base_url}/")
    expect_pixel(pixel_page).to_have_loaded(CODE)
    pixel_page.click("button")
    expect_pixel(pixel_page).to_have_tracked("ClickButton")


def test_several_pixels_are_called_through_their_instances(pixel_page: Page) -> None:
    with serve_app(shop(TIKTOK_PIXEL_CODE=[CODE, OTHER_CODE])) as url:
        pixel_page.goto(f"{url}/search?q=x")
        expect_pixel(pixel_page).to_have_tracked("Search", pixel=OTHER_CODE, query="x")
        expect_pixel(pixel_page).to_have_tracked("Search", pixel=CODE, query="x")
    assert sorted(recorder_for(pixel_page).sdk_loads()) == sorted([CODE, OTHER_CODE])
    assert {c.pixel for c in pixel_calls(pixel_page) if c.method == "track"} == {CODE, OTHER_CODE}


def test_an_ad_blocker_breaks_nothing(pixel_page: Page, base_url: str) -> None:
    recorder_for(pixel_page).sdk = "abort"
    pixel_page.goto(f"{base_url}/buy")
    pixel_page.click("text=Pay")
    pixel_page.wait_for_url("**/thanks")
    # The page still made its calls: they wait in the stub's queue, readable, never sent.
    expect_pixel(pixel_page).to_have_made("load", "page", "CompletePayment")
    expect_pixel(pixel_page).to_have_tracked("CompletePayment", event_id="pay-1", value=42.5)
    recorder = recorder_for(pixel_page)
    assert recorder.errors == []
    sdk_url = f"https://analytics.tiktok.com/i18n/pixel/events.js?sdkid={CODE}&lib=ttq"
    assert sdk_url in recorder.sdk_requests  # it was asked for, and refused
    assert sdk_url in recorder.blocked


def test_hold_consent_until_granted(pixel_page: Page) -> None:
    with serve_app(shop(TIKTOK_PIXEL_CONSENT="hold")) as url:
        pixel_page.goto(f"{url}/search?q=x")
        expect_pixel(pixel_page).to_have_called("holdConsent")
        assert [c.method for c in pixel_calls(pixel_page)][:3] == ["load", "holdConsent", "page"]
        pixel_page.evaluate("pixelEmbed.grantConsent()")
        expect_pixel(pixel_page).to_have_called("grantConsent")
        assert pixel_page.evaluate("pixelEmbed.consent()") == "granted"
        pixel_page.reload()
        expect_pixel(pixel_page).to_have_tracked("Search")
        methods = [c.method for c in pixel_calls(pixel_page)]
        assert methods[:3] == ["load", "holdConsent", "grantConsent"]
        pixel_page.evaluate("pixelEmbed.revokeConsent()")
        expect_pixel(pixel_page).to_have_called("revokeConsent")


def test_strict_consent_requests_nothing_before_consent(pixel_page: Page) -> None:
    recorder = recorder_for(pixel_page)
    with serve_app(shop(TIKTOK_PIXEL_CONSENT="strict")) as url:
        pixel_page.goto(f"{url}/search?q=x")
        expect_pixel(pixel_page).not_to_have_tracked("Search")
        assert recorder.sdk_requests == []
        pixel_page.evaluate("pixelEmbed.revokeConsent()")
        pixel_page.reload()
        expect_pixel(pixel_page).not_to_have_tracked("Search")
        assert recorder.sdk_requests == []
        pixel_page.evaluate("pixelEmbed.grantConsent()")
        expect_pixel(pixel_page).to_have_tracked("Search", query="x")
        pixel_page.goto(f"{url}/search?q=y")  # later pages load at once
        expect_pixel(pixel_page).to_have_tracked("Search", query="y")
        assert recorder.sdk_loads() == [CODE, CODE]


def test_a_strict_csp_with_the_nonce_reports_no_violation(pixel_page: Page) -> None:
    app = make_app()
    TikTokPixel(app, nonce=lambda: "abc123")

    @app.after_request
    def csp(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = (
            "script-src 'nonce-abc123' 'strict-dynamic'; object-src 'none'; base-uri 'none'"
        )
        return response

    app.add_url_rule("/", view_func=page)
    pixel_page.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    with serve_app(app) as url:
        pixel_page.goto(url)
        expect_pixel(pixel_page).to_have_loaded(CODE)
        expect_pixel(pixel_page).to_have_called("page")
        assert pixel_page.evaluate("window.__violations") == []


def test_the_exact_sequence_and_its_failure_message(pixel_page: Page, base_url: str) -> None:
    pixel_page.goto(f"{base_url}/search?q=mugs")
    expect = expect_pixel(pixel_page, timeout=0.5)
    expect.to_have_made("load", "page", "identify", ("track", "Search", {"query": "mugs"}))
    expect.to_have_made(("load", CODE), "page", "identify", "Search")
    with pytest.raises(AssertionError) as caught:
        expect.to_have_made("load", "page", "Search")
    assert str(caught.value).startswith(
        "expected exactly these calls: ttq.load(), ttq.page(), ttq.track('Search') within 0.5 s"
    )
    pixel_page.goto(f"{base_url}/thanks")
    expect_pixel(pixel_page).not_to_have_identified()
    expect_pixel(pixel_page).to_have_made("load", "page")
