"""``TIKTOK_PIXEL_LOAD``: when the page asks for TikTok's SDK, checked at init_app and proven in
Chromium with the QA kit's recorder: every strategy makes the same calls, in the same order, with
consent modes, CSP nonces and several pixels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CODE, OTHER_CODE, make_app, page
from flask import Flask
from playwright.sync_api import Browser, Page
from test_browser import shop
from werkzeug.wrappers import Response

from pixel_embed import ConfigurationError, PixelSettings, TikTokPixel, render_pixel
from pixel_embed.audit import audit
from pixel_embed.render import LOAD_STRATEGIES
from pixel_embed.testing import (
    expect_pixel,
    install_recorder,
    pixel_calls,
    recorder_for,
    serve_app,
    wire_events,
)

STRATEGIES = pytest.mark.parametrize("load", LOAD_STRATEGIES)
# When the SDK request started and when the page's load event did (ms since navigation).
_TIMES = """() => {
  const sdk = performance.getEntriesByType('resource')
    .find(e => e.name.includes('/i18n/pixel/events.js'));
  const nav = performance.getEntriesByType('navigation')[0];
  return {sdk: sdk ? sdk.startTime : null, load: nav.loadEventStart};
}"""


def test_async_is_the_default_and_renders_tiktoks_snippet_unchanged() -> None:
    app = make_app()
    pixel = TikTokPixel(app)
    assert app.config["TIKTOK_PIXEL_LOAD"] == "async"
    with app.test_request_context("/"):
        html = pixel.render()
    assert html == render_pixel(PixelSettings(codes=(CODE,)))
    assert "requestIdleCallback" not in html


def test_idle_keeps_tiktoks_stub_and_adds_only_the_deferred_load() -> None:
    official = render_pixel(PixelSettings(codes=(CODE,)))
    idle = render_pixel(PixelSettings(codes=(CODE,), load="idle"))
    stub_line = official.splitlines()[2]
    assert stub_line in idle.splitlines()
    added = [line for line in idle.splitlines() if line not in official.splitlines()]
    assert len(added) == 2
    assert "requestIdleCallback" in added[0]
    assert added[1].startswith("  ttq.load=function(e,n)")


@pytest.mark.parametrize("value", ["", "ASYNC", "defer", "idle ", None, True, ["idle"]])
def test_an_unknown_load_strategy_fails_at_init_app_naming_the_key(value: object) -> None:
    with pytest.raises(ConfigurationError, match="TIKTOK_PIXEL_LOAD"):
        TikTokPixel(make_app(TIKTOK_PIXEL_LOAD=value))


def test_idle_with_the_sites_own_snippet_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="TIKTOK_PIXEL_USE_EXISTING"):
        TikTokPixel(make_app(TIKTOK_PIXEL_LOAD="idle", TIKTOK_PIXEL_USE_EXISTING=True))


# The recorder standing in for TikTok's SDK has run for a pixel (for n pixels: loaded.length
# >= n). Until then the kit reads the calls from the stub's queue, which the idle strategy fills
# before the SDK is even requested.
_SDK_ARRIVED = "(n = 1) => (window.__pixelEmbedRecorder || {loaded: []}).loaded.length >= n"


@pytest.fixture(scope="module")
def shops() -> Iterator[dict[str, str]]:
    with serve_app(shop()) as official, serve_app(shop(TIKTOK_PIXEL_LOAD="idle")) as idle:
        yield {"async": official, "idle": idle}


def test_idle_asks_for_the_sdk_only_after_the_load_event(
    pixel_page: Page, shops: dict[str, str]
) -> None:
    pixel_page.goto(f"{shops['async']}/search?q=x")
    expect_pixel(pixel_page).to_have_tracked("Search")
    official = pixel_page.evaluate(_TIMES)
    pixel_page.goto(f"{shops['idle']}/search?q=x")
    expect_pixel(pixel_page).to_have_tracked("Search")  # queued in the stub, SDK or not
    pixel_page.wait_for_function(_SDK_ARRIVED)
    idle = pixel_page.evaluate(_TIMES)

    assert official["sdk"] < official["load"]
    assert idle["sdk"] >= idle["load"]
    assert recorder_for(pixel_page).sdk_loads() == [CODE, CODE]


def test_every_strategy_makes_the_same_calls_in_the_same_order(
    pixel_page: Page, shops: dict[str, str]
) -> None:
    made = {}
    for load, url in shops.items():
        pixel_page.goto(f"{url}/search?q=mugs")
        expect_pixel(pixel_page).to_have_tracked("Search", query="mugs")
        expect_pixel(pixel_page).to_have_identified(email="jane@example.com", external_id="u-42")
        pixel_page.wait_for_function(_SDK_ARRIVED)  # compare what the SDK itself was given
        made[load] = [(c.pixel, c.method, c.args) for c in pixel_calls(pixel_page)]
    assert made["idle"] == made["async"]
    assert [method for _, method, _ in made["idle"]] == ["load", "page", "identify", "track"]


@STRATEGIES
def test_calls_made_after_the_page_loaded_are_recorded_live(
    pixel_page: Page, shops: dict[str, str], load: str
) -> None:
    pixel_page.goto(f"{shops[load]}/")
    pixel_page.click("button")  # before or after the SDK arrived: the stub queues it
    expect_pixel(pixel_page).to_have_tracked("ClickButton")
    assert recorder_for(pixel_page).errors == []


@STRATEGIES
def test_several_pixels_each_get_every_call(pixel_page: Page, load: str) -> None:
    with serve_app(shop(TIKTOK_PIXEL_CODE=[CODE, OTHER_CODE], TIKTOK_PIXEL_LOAD=load)) as url:
        pixel_page.goto(f"{url}/search?q=x")
        expect_pixel(pixel_page).to_have_tracked("Search", pixel=OTHER_CODE, query="x")
        expect_pixel(pixel_page).to_have_tracked("Search", pixel=CODE, query="x")
        expect_pixel(pixel_page).to_have_called("page")
        pixel_page.wait_for_function(_SDK_ARRIVED, arg=2)
    assert sorted(recorder_for(pixel_page).sdk_loads()) == sorted([CODE, OTHER_CODE])
    by_pixel = {
        code: [c.method for c in pixel_calls(pixel_page) if c.pixel == code]
        for code in (CODE, OTHER_CODE)
    }
    assert by_pixel == {code: ["load", "page", "identify", "track"] for code in by_pixel}


@STRATEGIES
def test_hold_consent_holds_then_grants(pixel_page: Page, load: str) -> None:
    with serve_app(shop(TIKTOK_PIXEL_CONSENT="hold", TIKTOK_PIXEL_LOAD=load)) as url:
        pixel_page.goto(f"{url}/search?q=x")
        expect_pixel(pixel_page).to_have_called("holdConsent")
        assert [c.method for c in pixel_calls(pixel_page)][:3] == ["load", "holdConsent", "page"]
        pixel_page.evaluate("pixelEmbed.grantConsent()")
        expect_pixel(pixel_page).to_have_called("grantConsent")
        pixel_page.reload()
        expect_pixel(pixel_page).to_have_tracked("Search")
        methods = [c.method for c in pixel_calls(pixel_page)]
        assert methods[:3] == ["load", "holdConsent", "grantConsent"]


@STRATEGIES
def test_strict_consent_asks_tiktok_for_nothing_before_consent(pixel_page: Page, load: str) -> None:
    recorder = recorder_for(pixel_page)
    with serve_app(shop(TIKTOK_PIXEL_CONSENT="strict", TIKTOK_PIXEL_LOAD=load)) as url:
        pixel_page.goto(f"{url}/search?q=x")
        pixel_page.wait_for_load_state("load")
        pixel_page.wait_for_timeout(1500)  # past the idle strategy's own wait
        assert recorder.sdk_requests == []
        pixel_page.evaluate("pixelEmbed.grantConsent()")
        expect_pixel(pixel_page).to_have_tracked("Search", query="x")
        pixel_page.wait_for_function(_SDK_ARRIVED)
        pixel_page.goto(f"{url}/search?q=y")  # later pages load by themselves
        expect_pixel(pixel_page).to_have_tracked("Search", query="y")
        pixel_page.wait_for_function(_SDK_ARRIVED)
        assert recorder.sdk_loads() == [CODE, CODE]


def _csp_app(load: str, policy: str) -> Flask:
    app = make_app(TIKTOK_PIXEL_LOAD=load)
    TikTokPixel(app, nonce=lambda: "abc123")

    @app.after_request
    def csp(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = policy
        return response

    app.add_url_rule("/", view_func=page)
    return app


@STRATEGIES
@pytest.mark.parametrize(
    "policy",
    [
        "script-src 'nonce-abc123' 'strict-dynamic'; object-src 'none'; base-uri 'none'",
        "script-src 'nonce-abc123' https://analytics.tiktok.com; object-src 'none'",
    ],
    ids=["strict-dynamic", "host-allowlist"],
)
def test_a_strict_csp_with_the_nonce_reports_no_violation(
    pixel_page: Page, load: str, policy: str
) -> None:
    pixel_page.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    with serve_app(_csp_app(load, policy)) as url:
        pixel_page.goto(url)
        expect_pixel(pixel_page).to_have_loaded(CODE)
        expect_pixel(pixel_page).to_have_called("page")
        pixel_page.wait_for_function(_SDK_ARRIVED)  # the SDK's script ran under the policy too
        assert pixel_page.evaluate("window.__violations") == []


@STRATEGIES
def test_an_ad_blocker_breaks_nothing(pixel_page: Page, shops: dict[str, str], load: str) -> None:
    recorder = recorder_for(pixel_page)
    recorder.sdk = "abort"
    pixel_page.goto(f"{shops[load]}/")
    pixel_page.wait_for_load_state("load")
    for _ in range(40):  # the idle strategy asks within about a second of the load event
        if recorder.sdk_requests:
            break
        pixel_page.wait_for_timeout(100)
    pixel_page.wait_for_timeout(200)
    assert recorder.errors == []
    assert recorder.sdk_requests  # it was asked for, and refused


@STRATEGIES
def test_the_audit_sees_the_same_calls_and_finds_nothing(
    pixel_browser: Browser, shops: dict[str, str], load: str
) -> None:
    result = audit(pixel_browser, f"{shops[load]}/search?q=x")

    assert result.failure is None
    assert result.evidence is not None
    [page] = result.evidence.pages
    assert [c.method for c in page.calls] == ["load", "page", "identify", "track"]
    assert page.sdk_codes == [CODE]
    assert result.findings == ()


@STRATEGIES
def test_tiktoks_real_sdk_sends_every_event_of_the_page(
    pixel_browser: Browser, sdk_dir: Path, shops: dict[str, str], load: str
) -> None:
    context = pixel_browser.new_context()
    try:
        install_recorder(context, sdk="real", sdk_dir=sdk_dir)
        tab = context.new_page()
        tab.goto(f"{shops[load]}/search?q=mugs")
        for _ in range(80):  # the idle strategy asks for the SDK after the load event
            sent = {beacon.event for beacon in wire_events(tab)}
            if {"Pageview", "Search"} <= sent:
                break
            tab.wait_for_timeout(100)
        assert {"Pageview", "Search"} <= sent
        [search] = [beacon for beacon in wire_events(tab) if beacon.event == "Search"]
        assert search.event_id == "search-1"
    finally:
        context.close()
