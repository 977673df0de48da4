"""Pages that do not reload, on the wire: TikTok's real SDK (a local copy) in Chromium.

The proof of issue 12: an hx-post and a fetch() each send AddToCart exactly once with the event
id the view got from track(); an hx-boost journey sends each page's events once and one Pageview
per visited URL, back and forward included.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from partial_support import (
    assert_back_and_forward_pageviews,
    beacons,
    last_id,
    running_partial_shop,
)
from playwright.sync_api import Browser, BrowserContext, Page, expect

from pixel_embed.matching import hash_email
from pixel_embed.testing import install_recorder, wire_events


@pytest.fixture(scope="module")
def shop() -> Iterator[tuple[str, list[str]]]:
    with running_partial_shop() as running:
        yield running


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
    tab.goto(url + "/")
    beacons(tab, "Pageview")
    before = len(ids)
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
