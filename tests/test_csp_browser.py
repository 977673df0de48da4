"""A strict Content Security Policy in Chromium, with TikTok's real SDK: Flask-Talisman's policy
blocks every beacon and the library says so; with pixel.csp_sources() merged in, TikTok
receives the journey's events under the enforced policy; pixel_page sees the difference."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from conftest import make_app, page
from flask import Flask, redirect
from flask_talisman import DEFAULT_CSP_POLICY, Talisman
from playwright.sync_api import Page
from werkzeug.wrappers import Response

from pixel_embed import TikTokPixel, merge_csp
from pixel_embed.browser.violations import tiktok_violations
from pixel_embed.csp import TIKTOK_IPV6_ORIGIN, TIKTOK_ORIGIN
from pixel_embed.testing import (
    assert_no_csp_block,
    expect_pixel,
    recorder_for,
    serve_app,
    wire_events,
)

pytest_plugins = ["pytester"]

#: Flask-Talisman's default policy with its nonce on scripts ('strict-dynamic' lets the SDK the
#: pixel's script inserts run): the pixel runs, and every beacon is blocked.
TALISMAN_NONCE = {**DEFAULT_CSP_POLICY, "script-src": ["'self'", "'strict-dynamic'"]}


def talisman_shop(policy: Mapping[str, object], *, report_only: bool = False) -> Flask:
    """A shop behind Flask-Talisman: a product page, a cart POST that redirects, a purchase."""
    app = make_app(TIKTOK_PIXEL_STRICT=False)
    pixel = TikTokPixel(app)
    Talisman(
        app,
        force_https=False,
        session_cookie_secure=False,
        content_security_policy=policy,
        content_security_policy_nonce_in=["script-src"],
        content_security_policy_report_only=report_only,
        content_security_policy_report_uri="/csp-reports" if report_only else None,
    )
    form = '<form method="post" action="/cart"><button id="add">add</button></form>'

    @app.get("/")
    def product() -> str:
        pixel.identify(email="jane@example.com")
        pixel.track("ViewContent", content_id="sku-1", value=12, currency="USD")
        return page(form)

    @app.post("/cart")
    def cart() -> Response:
        pixel.track("AddToCart", content_id="sku-1", value=12, currency="USD", defer=True)
        return redirect("/thanks")

    @app.get("/thanks")
    def thanks() -> str:
        pixel.track("CompletePayment", value=12, currency="USD")
        return page()

    return app


def journey(tab: Page, url: str) -> None:
    tab.goto(url + "/")
    tab.click("#add")
    tab.wait_for_url("**/thanks")


@pytest.fixture(scope="module")
def blocked_shop() -> Iterator[str]:
    with serve_app(talisman_shop(TALISMAN_NONCE)) as url:
        yield url


@pytest.mark.pixel_sdk("real")
@pytest.mark.pixel_allow_csp_violations  # this test asserts them itself
def test_talismans_policy_blocks_every_beacon_and_the_library_says_so(
    pixel_page: Page, blocked_shop: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "pixel_embed"):
        journey(pixel_page, blocked_shop)
    warnings = [
        r.getMessage() for r in caplog.records if "Content-Security-Policy" in r.getMessage()
    ]
    assert len(warnings) == 2  # one per endpoint with the pixel: product, thanks
    assert (
        f"connect-src is not set, so default-src ('self') applies, and blocks {TIKTOK_ORIGIN}, {TIKTOK_IPV6_ORIGIN}"
        in warnings[0]
    )

    expect = expect_pixel(pixel_page, timeout=2)
    with pytest.raises(AssertionError) as failed:
        expect.to_have_sent("CompletePayment")
    message = str(failed.value)
    assert "TikTok received no event beacon" in message
    assert "the page's Content Security Policy blocked" in message
    assert f"connect-src blocked {TIKTOK_ORIGIN}/api/v2/pixel on {blocked_shop}/" in message
    assert f"connect-src blocked {TIKTOK_IPV6_ORIGIN}/ipv6/enrich_ipv6" in message
    assert wire_events(pixel_page) == []
    with pytest.raises(AssertionError, match="the page's Content Security Policy blocks TikTok"):
        assert_no_csp_block(pixel_page)
    hosts = {v.host for v in tiktok_violations(recorder_for(pixel_page))}
    assert hosts == {"analytics.tiktok.com", "analytics-ipv6.tiktokw.us"}


@pytest.mark.pixel_sdk("real")
def test_with_csp_sources_merged_tiktok_receives_the_journey_under_the_enforced_policy(
    pixel_page: Page, caplog: pytest.LogCaptureFixture
) -> None:
    app = talisman_shop(merge_csp(TALISMAN_NONCE, TikTokPixel().csp_sources()))
    with caplog.at_level(logging.WARNING, "pixel_embed"), serve_app(app) as url:
        journey(pixel_page, url)
        expect = expect_pixel(pixel_page)
        expect.to_have_sent("ViewContent", content_id="sku-1", value=12)
        expect.to_have_sent("AddToCart", content_id="sku-1")
        expect.to_have_sent("CompletePayment", value=12)
        expect.to_have_sent_user(email="jane@example.com")
        response = pixel_page.request.get(url + "/thanks")
    policy = response.headers["content-security-policy"]
    assert "connect-src 'self' https://analytics.tiktok.com" in policy
    assert "report-only" not in str(response.headers).lower()  # enforced
    assert caplog.records == []
    assert recorder_for(pixel_page).violations == []
    # pixel_page's teardown checks the violations again: none may concern TikTok.


def test_the_recorders_probe_sees_a_blocked_connect_src(
    pixel_page: Page, blocked_shop: str
) -> None:
    """Recorder mode sends no real beacon; its probe still meets the policy."""
    recorder = recorder_for(pixel_page)
    pixel_page.goto(blocked_shop + "/")
    expect_pixel(pixel_page).to_have_tracked("ViewContent")
    for _ in range(50):
        if len(tiktok_violations(recorder)) >= 2:
            break
        pixel_page.wait_for_timeout(50)
    blocked = {(v.directive, v.host) for v in tiktok_violations(recorder)}
    assert blocked == {
        ("connect-src", "analytics.tiktok.com"),
        ("connect-src", "analytics-ipv6.tiktokw.us"),
    }
    assert not any("probe" in url for url in recorder.sdk_requests)
    recorder.violations.clear()  # asserted here; the teardown would fail on them


def test_trusted_types_stop_tiktoks_base_code_and_pixel_page_says_so(pixel_page: Page) -> None:
    """Under require-trusted-types-for 'script', the stub's script.src = "…" throws: the SDK is
    never requested. The violation names no URL ('trusted-types-sink'); its sample does."""
    app = make_app(TIKTOK_PIXEL_STRICT=False)
    TikTokPixel(app, nonce=lambda: "n1")
    app.add_url_rule("/", "home", lambda: page())

    @app.after_request
    def policy(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = (
            "script-src 'nonce-n1' 'strict-dynamic'; require-trusted-types-for 'script'"
        )
        return response

    recorder = recorder_for(pixel_page)
    with serve_app(app) as url:
        pixel_page.goto(url + "/")
        pixel_page.wait_for_load_state("load")
        with pytest.raises(AssertionError) as failed:
            assert_no_csp_block(pixel_page)
    assert (
        "require-trusted-types-for blocked a string given to HTMLScriptElement src: "
        "https://analytics.tiktok.com/i18n/pixel/"
    ) in str(failed.value)
    assert recorder.sdk_requests == []
    recorder.violations.clear()  # asserted here; the teardown would fail on them
    recorder.errors.clear()


SHOP = """
from flask_talisman import DEFAULT_CSP_POLICY
from test_csp_browser import TALISMAN_NONCE, talisman_shop
from pixel_embed import merge_csp

blocked = talisman_shop(TALISMAN_NONCE)
fixed = talisman_shop(merge_csp(TALISMAN_NONCE))
report_only = talisman_shop(TALISMAN_NONCE, report_only=True)
"""

TESTS = """
import pytest
from pixel_embed.testing import expect_pixel, serve_app
import shop

MODES = [pytest.param("serve"), pytest.param("real", marks=pytest.mark.pixel_sdk("real"))]

def visit(pixel_page, app):
    with serve_app(app) as url:
        pixel_page.goto(url + "/")
        expect_pixel(pixel_page).to_have_tracked("ViewContent")
        pixel_page.wait_for_timeout(300)

@pytest.mark.parametrize("mode", MODES)
def test_blocked(pixel_page, mode):
    visit(pixel_page, shop.blocked)

@pytest.mark.parametrize("mode", MODES)
def test_report_only(pixel_page, mode):
    visit(pixel_page, shop.report_only)

@pytest.mark.parametrize("mode", MODES)
def test_fixed(pixel_page, mode):
    visit(pixel_page, shop.fixed)

@pytest.mark.pixel_allow_csp_violations
def test_opted_out(pixel_page):
    visit(pixel_page, shop.blocked)
"""


def test_pixel_page_fails_on_the_blocked_policy_and_passes_on_the_fixed_one(
    pytester: pytest.Pytester, sdk_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(shop=SHOP, test_shop=TESTS)
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    monkeypatch.setenv("PIXEL_EMBED_SDK_DIR", str(sdk_dir))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:playwright")
    # Each blocked visit passes its body, then errors at teardown.
    result.assert_outcomes(passed=7, errors=4)
    text = result.stdout.str()
    for name in (
        "test_blocked[serve]",
        "test_blocked[real]",
        "test_report_only[serve]",
        "test_report_only[real]",
    ):
        assert f"ERROR at teardown of {name}" in text
    result.stdout.fnmatch_lines(
        [
            "*the page's Content Security Policy blocks TikTok:",
            f"*connect-src blocked {TIKTOK_ORIGIN}/api/v2/pixel on http://127.0.0.1:*",
        ]
    )
    assert "connect-src would block once enforced" in text
