"""Dual send, proved in Chromium: the page's ttq.track and the server's Events API call carry
the same event_id, and a hung or blocked TikTok costs the page nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from events_api_support import closing_sender, events_app, sent_after, shop
from playwright.sync_api import Page

from pixel_embed import TikTokPixel
from pixel_embed.testing import expect_pixel, install_recorder, pixel_calls, serve_app
from pixel_embed.testing.events_api import Answer, FakeEventsApi


@pytest.fixture
def site(fake: FakeEventsApi) -> Iterator[tuple[str, TikTokPixel]]:
    app = events_app(fake)
    pixel = TikTokPixel(app)
    shop(app, pixel)
    with closing_sender(app), serve_app(app) as url:
        yield url, pixel
        sent_after(app, fake)


def browser_event_id(page: Page, event: str) -> str:
    expect_pixel(page).to_have_tracked(event, times=1)
    [call] = [c for c in pixel_calls(page) if c.event == event]
    assert call.event_id is not None
    return call.event_id


def test_browser_and_server_send_the_same_event_id(
    pixel_page: Page, site: tuple[str, TikTokPixel], fake: FakeEventsApi
) -> None:
    url, _ = site
    pixel_page.context.add_cookies([{"name": "_ttp", "value": "ttp-from-sdk", "url": url}])

    pixel_page.goto(f"{url}/buy?ttclid=E.C.P.ad-click")

    event_id = browser_event_id(pixel_page, "CompletePayment")
    expect_pixel(pixel_page).to_have_tracked("CompletePayment", value=42.5, currency="USD")
    [event] = fake.wait_for_events(1)
    assert fake.problems == []
    assert event["event_id"] == event_id
    assert event["user"]["user_agent"] == pixel_page.evaluate("navigator.userAgent")
    assert event["user"]["ip"] == "127.0.0.1"
    assert event["user"]["ttp"] == "ttp-from-sdk"
    assert event["user"]["ttclid"] == "E.C.P.ad-click"
    assert event["properties"]["value"] == 42.5


def test_a_deferred_conversion_pairs_with_the_next_page(
    pixel_page: Page, site: tuple[str, TikTokPixel], fake: FakeEventsApi
) -> None:
    url, _ = site
    pixel_page.goto(f"{url}/cart")

    pixel_page.click("button")
    pixel_page.wait_for_url(f"{url}/thanks")

    event_id = browser_event_id(pixel_page, "PlaceAnOrder")
    [event] = fake.wait_for_events(1)
    assert event["event_id"] == event_id
    assert event["page"]["url"] == f"{url}/checkout"


def test_a_hung_endpoint_adds_no_latency_to_pages(
    pixel_page: Page, site: tuple[str, TikTokPixel], fake: FakeEventsApi
) -> None:
    url, _ = site
    fake.answer(Answer(hang=True))

    pixel_page.goto(f"{url}/buy")
    first = browser_event_id(pixel_page, "CompletePayment")
    assert fake.wait_until_hanging()
    # TikTok still holds the first request; pages keep coming regardless.
    pixel_page.goto(f"{url}/buy")
    second = browser_event_id(pixel_page, "CompletePayment")
    assert len(fake.requests) == 1
    fake.release()

    assert {e["event_id"] for e in fake.wait_for_events(2)} == {first, second}


def test_the_server_event_survives_an_ad_blocker(
    pixel_page: Page, site: tuple[str, TikTokPixel], fake: FakeEventsApi
) -> None:
    url, _ = site
    recorder = install_recorder(pixel_page.context, sdk="abort")

    pixel_page.goto(f"{url}/buy")
    pixel_page.wait_for_load_state("load")

    assert recorder.sdk_requests, "the page did not even try to load TikTok's SDK"
    # The browser's purchase stays in the stub's queue, never sent: the server's reaches TikTok.
    assert [c.event for c in pixel_calls(pixel_page) if c.event] == ["CompletePayment"]
    assert recorder.blocked == recorder.sdk_requests
    [event] = fake.wait_for_events(1)
    assert event["event"] == "Purchase"  # as TikTok's SDK names CompletePayment
