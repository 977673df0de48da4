"""Pages that do not reload, on the wire: TikTok's real SDK (a local copy) in Chromium, on
each supported htmx line (1.8, 1.9, 2.x).

The proof of issue 12: an hx-post and a fetch() each send AddToCart exactly once with the event
id the view got from track(); an hx-boost journey sends each page's events once and one Pageview
per visited URL, back and forward included. Of issue 24: every event reaches TikTok with the URL
of the page it belongs to (htmx 1.x pushes the URL after htmx:afterRequest), and a history
restore that htmx asks the server for sends nothing again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from partial_support import (
    HTMX_VERSIONS,
    assert_back_and_forward_pageviews,
    beacons,
    last_id,
    partial_shop,
    running_partial_shop,
)
from playwright.sync_api import Browser, BrowserContext, Page, expect

from pixel_embed.matching import hash_email
from pixel_embed.testing import expect_pixel, install_recorder, serve_app, wire_events


@pytest.fixture(scope="module", params=list(HTMX_VERSIONS))
def shop(request: pytest.FixtureRequest) -> Iterator[tuple[str, list[str]]]:
    with running_partial_shop(HTMX_VERSIONS[request.param]) as running:
        yield running


def at_home(tab: Page, url: str, ids: list[str]) -> int:
    """Open the shop's home page and wait for its Pageview; how many ids the views gave so far."""
    tab.goto(url + "/")
    beacons(tab, "Pageview")
    return len(ids)


@pytest.fixture
def tab(pixel_browser: Browser, sdk_dir: Path) -> Iterator[Page]:
    context: BrowserContext = pixel_browser.new_context()
    install_recorder(context, sdk="real", sdk_dir=sdk_dir)
    yield context.new_page()
    context.close()


@pytest.mark.parametrize("button", ["#add", "#add-none", "#fetch"])
def test_add_to_cart_goes_out_exactly_once_with_the_views_event_id(
    tab: Page, shop: tuple[str, list[str]], button: str
) -> None:
    url, ids = shop
    before = at_home(tab, url, ids)
    tab.click(button)
    event_id = last_id(ids, tab, before + 1)
    sent = beacons(tab, "AddToCart")
    assert len(sent) == 1
    assert sent[0].event_id == event_id
    assert sent[0].properties["value"] == 12.5
    assert sent[0].user["email"] == hash_email("jane@example.com")
    assert [b.page_url for b in wire_events(tab) if b.event == "Pageview"] == [url + "/"]


def test_hx_boost_sends_each_pages_events_and_one_pageview_per_url(
    tab: Page, shop: tuple[str, list[str]]
) -> None:
    url, ids = shop
    tab.goto(url + "/")
    beacons(tab, "Pageview")
    tab.click("#to-a")
    expect(tab).to_have_title("a")
    a_id = last_id(ids, tab)
    beacons(tab, "ViewContent")
    tab.click("#to-b")
    expect(tab).to_have_title("b")
    b_id = ids[-1]
    views = beacons(tab, "ViewContent", 2)
    assert [(v.event_id, v.properties.get("content_id"), v.page_url) for v in views] == [
        (a_id, "a", url + "/a"),
        (b_id, "b", url + "/b"),
    ]
    assert_back_and_forward_pageviews(tab, url)
    # Back and forward come from htmx's history cache: the events are not sent again.
    assert len(beacons(tab, "ViewContent")) == 2


@pytest.mark.parametrize("mode", ["hold", "strict"])
def test_consent_nothing_goes_out_before_the_choice_then_once(
    pixel_browser: Browser, sdk_dir: Path, mode: str
) -> None:
    context = pixel_browser.new_context()
    install_recorder(context, sdk="real", sdk_dir=sdk_dir)
    try:
        with running_partial_shop(TIKTOK_PIXEL_CONSENT=mode) as (url, ids):
            tab = context.new_page()
            tab.goto(url + "/")
            tab.click("#add-none")
            event_id = last_id(ids, tab, 1)
            tab.wait_for_timeout(1000)
            assert [b.event for b in wire_events(tab) if b.is_event] == []
            tab.evaluate("() => window.pixelEmbed.grantConsent()")
            sent = beacons(tab, "AddToCart")
            assert [b.event_id for b in sent] == [event_id]
    finally:
        context.close()


def test_an_hx_push_url_search_is_sent_once_with_the_pushed_url(
    tab: Page, shop: tuple[str, list[str]]
) -> None:
    url, ids = shop
    before = at_home(tab, url, ids)
    tab.click("#search")
    expect(tab.locator("#out")).to_have_text("results for mug")
    search_id = last_id(ids, tab, before + 1)
    expect_pixel(tab).to_have_sent(
        "Search", times=1, event_id=search_id, page_url=url + "/search?q=mug"
    )


@pytest.mark.parametrize("htmx", list(HTMX_VERSIONS))
def test_a_history_cache_miss_sends_no_second_event(
    pixel_browser: Browser, sdk_dir: Path, htmx: str
) -> None:
    # A shop of its own: the restores it saw are this test's.
    app = partial_shop(HTMX_VERSIONS[htmx])
    context = pixel_browser.new_context()
    install_recorder(context, sdk="real", sdk_dir=sdk_dir)
    try:
        with serve_app(app) as url:
            tab = context.new_page()
            tab.goto(url + "/")
            tab.click("#search")
            expect(tab).to_have_url(url + "/search?q=mug")
            beacons(tab, "Search")
            tab.click("#to-a")
            expect(tab).to_have_title("a")
            beacons(tab, "ViewContent")
            # A cache miss, as when htmx evicted the page: its history cache is in localStorage
            # (1.x) or sessionStorage (2.x).
            tab.evaluate(
                "() => [localStorage, sessionStorage].forEach("
                "s => s.removeItem('htmx-history-cache'))"
            )
            tab.go_back()
            expect(tab).to_have_url(url + "/search?q=mug")
            expect(tab.locator("h1")).to_have_text("search")
            assert app.extensions["restores"] == ["/search?q=mug"]
            expect_pixel(tab).to_have_sent("Search", times=1)
            expect_pixel(tab).to_have_sent("ViewContent", times=1)
    finally:
        context.close()


def test_a_boosted_form_redirect_sends_its_deferred_purchase_with_the_landing_url(
    tab: Page, shop: tuple[str, list[str]]
) -> None:
    url, ids = shop
    before = at_home(tab, url, ids)
    tab.click("#pay")
    expect(tab).to_have_title("a")
    pay_id = ids[before]
    expect_pixel(tab).to_have_sent("CompletePayment", times=1, event_id=pay_id, page_url=url + "/a")
    expect_pixel(tab).to_have_sent("ViewContent", times=1, page_url=url + "/a")


def test_hx_location_sends_the_new_pages_event_with_its_url(
    tab: Page, shop: tuple[str, list[str]]
) -> None:
    url, ids = shop
    before = at_home(tab, url, ids)
    tab.click("#locate")
    expect(tab).to_have_title("b")
    expect(tab).to_have_url(url + "/b")
    last_id(ids, tab, before + 2)
    submit_id, view_id = ids[before : before + 2]
    # The sign-up happened on the page the visitor was on; the view, on the page htmx went to.
    expect_pixel(tab).to_have_sent("SubmitForm", times=1, event_id=submit_id, page_url=url + "/")
    expect_pixel(tab).to_have_sent("ViewContent", times=1, event_id=view_id, page_url=url + "/b")
