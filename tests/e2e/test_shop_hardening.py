"""The shop under a strict CSP, with the SDK blocked, and with hostile search strings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Dialog, Page, expect

from demo_site import DEMO_PIXEL_CODE
from pixel_embed.testing import expect_pixel, install_recorder, recorder_for

from .shop import HELD, press, running_shop

WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.effectiveDirective + " " + e.blockedURI);
});
"""
CSP_VIOLATIONS = "window.__cspViolations"
FORBIDDEN_OBJECT = """() => new Promise(resolve => {
  document.addEventListener("securitypolicyviolation", () => resolve(window.__cspViolations),
                            {once: true});
  document.body.append(Object.assign(document.createElement("object"), {data: "/static/shop.css"}));
})"""


@pytest.fixture(scope="module")
def csp_shop() -> Iterator[str]:
    with running_shop(DEMO_STRICT_CSP=True, TIKTOK_PIXEL_DEBUG=True) as url:
        yield url


@pytest.fixture(scope="module")
def shop() -> Iterator[str]:
    with running_shop(TIKTOK_PIXEL_DEBUG=True) as url:
        yield url


def test_strict_csp_reports_no_violation_and_the_pixel_still_loads(
    pixel_page: Page, csp_shop: str
) -> None:
    page = pixel_page
    page.add_init_script(WATCH_CSP)
    response = page.goto(csp_shop + "/product/enamel-mug")
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "'strict-dynamic'" in policy
    assert "'unsafe-inline'" not in policy
    expect_pixel(page).to_have_loaded(DEMO_PIXEL_CODE)
    expect_pixel(page).to_have_tracked("ViewContent", times=1)

    press(page, "Add to cart", "**/cart")
    expect_pixel(page).to_have_tracked("AddToCart", times=1)
    # The demo's own script (the consent banner) runs under the policy too.
    page.get_by_role("button", name="Accept").click()
    expect_pixel(page).to_have_called("grantConsent")
    assert page.evaluate(CSP_VIOLATIONS) == []
    assert recorder_for(page).errors == []

    # The listener does hear a violation when there is one: an <object> under object-src 'none'.
    # (wait_for_function would need eval, which this very policy forbids: await the event.)
    violations = page.evaluate(FORBIDDEN_OBJECT)
    assert violations[0].startswith("object-src")


def test_blocked_sdk_breaks_nothing(pixel_page: Page, shop: str) -> None:
    page = pixel_page
    recorder = install_recorder(page.context, sdk="abort")
    page.goto(shop + "/product/enamel-mug")
    press(page, "Add to cart", "**/cart")
    expect(page.get_by_test_id("cart-total")).to_have_text("$14.50")
    page.get_by_role("button", name="Accept").click()
    assert page.evaluate("window.pixelEmbed.consent()") == "granted"

    assert recorder.errors == []
    assert recorder.sdk_loads() == [DEMO_PIXEL_CODE, DEMO_PIXEL_CODE]
    # TikTok's stub kept the calls in its queue, for an SDK that never came; the kit reads them.
    queued = page.evaluate("() => Array.from(window.ttq, call => call[0])")
    assert queued == ["holdConsent", "page", "track", "grantConsent"]
    expect_pixel(page).to_have_made("load", "holdConsent", "page", "AddToCart", "grantConsent")
    assert len(recorder.blocked) == 2


HOSTILE = [
    "</script><script>alert(1)</script>",
    "<!--<script>alert(1)//",
    "\"'`;alert(1);//",
    "<img src=x onerror=alert(1)>",
    "line\u2028separator\u2029paragraph",
]


def test_hostile_search_strings_run_no_script_and_reach_ttq_unchanged(
    pixel_page: Page, shop: str
) -> None:
    page = pixel_page
    dialogs: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.goto(shop + "/")
    for query in HOSTILE:
        page.get_by_role("searchbox").fill(query)
        with page.expect_navigation(url="**/search?q=*"):
            page.keyboard.press("Enter")
        expect_pixel(page).to_have_tracked("Search", times=1, query=query)
        expect_pixel(page).to_have_made(*HELD, "Search")
        # The page shows it as text: in the search box, the summary and the inspector.
        assert page.get_by_role("searchbox").input_value() == query
        assert page.get_by_test_id("query").inner_text() == query
        expect(page.locator("#pixel-inspector [data-event=Search]")).to_have_count(1)
    assert dialogs == []
    assert recorder_for(page).errors == []
