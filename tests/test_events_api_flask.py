"""Server events from a Flask app: what is sent, when, for whom; the ttclid cookie; settings."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from conftest import CODE, OTHER_CODE
from events_api_support import (
    RAW_EMAIL,
    RAW_PHONE,
    TOKEN,
    USER_AGENT,
    assert_clean_logs,
    closing_sender,
    events_app,
    sent_after,
    shop,
)
from flask import Flask

from pixel_embed import ConfigurationError, Identity, TikTokPixel
from pixel_embed.events_api import TTCLID_COOKIE
from pixel_embed.events_api.hooks import EXTENSION_KEY
from pixel_embed.testing.events_api import FakeEventsApi


@pytest.fixture
def served(fake: FakeEventsApi) -> Iterator[tuple[Flask, TikTokPixel]]:
    app = events_app(fake, TIKTOK_PIXEL_TEST_EVENT_CODE="TEST42")
    pixel = TikTokPixel(app)
    with closing_sender(app):
        yield shop(app, pixel), pixel


def test_a_prefetched_page_sends_no_server_event(
    served: tuple[Flask, TikTokPixel], fake: FakeEventsApi
) -> None:
    # The browser fires the prefetched page's events only if the visitor follows the link; a
    # server copy would count a view that never happened.
    app, _ = served
    client = app.test_client()
    client.get("/buy", headers={"Sec-Purpose": "prefetch"})
    client.get("/buy", headers={"X-Sec-Purpose": "prefetch"})
    shown = client.get("/buy").headers["X-Event-Id"]
    assert [(e["event"], e["event_id"]) for e in sent_after(app, fake)] == [("Purchase", shown)]


def test_a_server_event_mirrors_the_browser_event(
    served: tuple[Flask, TikTokPixel], fake: FakeEventsApi, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = served
    client = app.test_client()
    client.set_cookie("_ttp", "ttp-browser-id")
    caplog.set_level(logging.DEBUG, logger="pixel_embed")

    response = client.get(
        "/buy?ttclid=E.C.P.click-1",
        headers={"User-Agent": USER_AGENT, "Referer": "http://localhost/cart"},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    event_id = response.headers["X-Event-Id"]

    [event] = sent_after(app, fake)
    [request] = fake.requests
    assert fake.problems == []
    assert request.body["event_source_id"] == CODE
    assert request.body["test_event_code"] == "TEST42"
    identity = Identity.from_raw(email=RAW_EMAIL, phone_number=RAW_PHONE, external_id="u-42")
    assert event["event"] == "Purchase"  # the name TikTok's SDK sends for CompletePayment
    assert event["event_id"] == event_id
    assert f'{{"event_id":"{event_id}"}}' in response.text  # the browser's call, same id
    assert event["user"] == {
        "email": identity.email,
        "phone": identity.phone_number,
        "external_id": identity.external_id,
        "ttclid": "E.C.P.click-1",
        "ttp": "ttp-browser-id",
        "ip": "203.0.113.9",
        "user_agent": USER_AGENT,
    }
    assert event["page"] == {
        "url": "http://localhost/buy?ttclid=E.C.P.click-1",
        "referrer": "http://localhost/cart",
    }
    assert event["properties"] == {
        "value": 42.5,
        "currency": "USD",
        "contents": [{"content_id": "sku-1", "quantity": 1}],
    }
    assert event["limited_data_use"] is False
    assert TOKEN not in response.text
    assert_clean_logs(caplog)


def test_only_flagged_events_go_to_the_server_by_default(
    served: tuple[Flask, TikTokPixel], fake: FakeEventsApi
) -> None:
    app, _ = served
    client = app.test_client()

    client.get("/view")
    client.get("/browser-only")

    assert sent_after(app, fake) == []


def test_server_events_setting_sends_every_event_but_server_false(fake: FakeEventsApi) -> None:
    app = events_app(fake, TIKTOK_PIXEL_SERVER_EVENTS=True)
    shop(app, TikTokPixel(app))
    client = app.test_client()

    with closing_sender(app):
        client.get("/view")
        client.get("/browser-only")
        assert [e["event"] for e in sent_after(app, fake)] == ["ViewContent"]


def test_a_deferred_event_is_sent_by_the_request_that_tracked_it(
    served: tuple[Flask, TikTokPixel], fake: FakeEventsApi
) -> None:
    app, _ = served
    client = app.test_client()

    client.post("/checkout")
    [event] = sent_after(app, fake)
    thanks = client.get("/thanks").text

    assert event["event"] == "PlaceAnOrder"
    assert event["page"]["url"] == "http://localhost/checkout"
    assert 'ttq.track("PlaceAnOrder",{"value":9,"currency":"EUR"},' in thanks
    assert f'{{"event_id":"{event["event_id"]}"}}' in thanks
    assert event["properties"] == {"value": 9, "currency": "EUR"}
    assert len(sent_after(app, fake)) == 1


def test_each_pixel_gets_its_own_request_with_the_same_event_id(fake: FakeEventsApi) -> None:
    app = events_app(fake, TIKTOK_PIXEL_CODE=[CODE, OTHER_CODE], TIKTOK_PIXEL_LDU=True)
    shop(app, TikTokPixel(app))

    with closing_sender(app):
        app.test_client().get("/buy")
        events = sent_after(app, fake)

    assert sorted(r.body["event_source_id"] for r in fake.requests) == sorted([CODE, OTHER_CODE])
    assert len(events) == 2
    assert events[0]["event_id"] == events[1]["event_id"]
    assert all(e["limited_data_use"] is True for e in events)


@pytest.mark.parametrize(
    ("mode", "choice", "sent"),
    [
        ("none", None, True),
        ("none", "denied", False),
        ("hold", None, True),
        ("hold", "granted", True),
        ("hold", "denied", False),
        ("strict", None, False),
        ("strict", "granted", True),
        ("strict", "denied", False),
    ],
)
def test_the_consent_gate(fake: FakeEventsApi, mode: str, choice: str | None, sent: bool) -> None:
    app = events_app(fake, TIKTOK_PIXEL_CONSENT=mode)
    shop(app, TikTokPixel(app))
    client = app.test_client()
    if choice is not None:
        client.set_cookie("pixel_embed_consent", choice)

    with closing_sender(app):
        response = client.get("/buy?ttclid=click-1")
        assert len(sent_after(app, fake)) == (1 if sent else 0)
    # No click-id cookie either where the pixel may not fire.
    assert (TTCLID_COOKIE in response.headers.get("Set-Cookie", "")) is sent


def test_internal_addresses_get_no_server_event(fake: FakeEventsApi) -> None:
    app = events_app(fake, TIKTOK_PIXEL_INTERNAL_IPS=["10.0.0.0/8"])
    shop(app, TikTokPixel(app))

    with closing_sender(app):
        app.test_client().get("/buy", environ_base={"REMOTE_ADDR": "10.1.2.3"})
        assert sent_after(app, fake) == []


def test_the_landing_click_id_is_kept_for_a_week(
    served: tuple[Flask, TikTokPixel], fake: FakeEventsApi
) -> None:
    app, _ = served
    client = app.test_client()

    landing = client.get("/thanks?ttclid=E.C.P.landing")
    client.get("/thanks")  # a page without it leaves the cookie alone
    client.get("/buy")

    cookie = landing.headers["Set-Cookie"]
    assert cookie.startswith("ttclid=E.C.P.landing;")
    # 30 days, as TikTok's GTM template and WooCommerce plugin keep it (docs/events-api.md).
    for part in ("Max-Age=2592000", "HttpOnly", "SameSite=Lax", "Path=/"):
        assert part in cookie
    assert "Secure" not in cookie
    [event] = sent_after(app, fake)
    assert event["user"]["ttclid"] == "E.C.P.landing"


def test_the_click_id_cookie_is_secure_over_https(served: tuple[Flask, TikTokPixel]) -> None:
    app, _ = served

    response = app.test_client().get("/thanks?ttclid=abc", base_url="https://shop.example")

    assert "Secure" in response.headers["Set-Cookie"]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?ttclid=",
        "?ttclid=%3Cscript%3E",
        "?other=1",
        # A visitor chooses the URL: a phone number or an address is no click id (issue 29's
        # privacy corpus, put in each field of a stored context, found it).
        "?ttclid=%2B31612345678",
        "?ttclid=jane.doe%40example.com",
    ],
)
def test_no_click_id_is_invented(
    served: tuple[Flask, TikTokPixel], fake: FakeEventsApi, query: str
) -> None:
    app, _ = served

    response = app.test_client().get(f"/buy{query}")

    assert "Set-Cookie" not in response.headers or TTCLID_COOKIE not in response.headers.get(
        "Set-Cookie", ""
    )
    [event] = sent_after(app, fake)
    assert "ttclid" not in event["user"]


class ListSender:
    """A custom sender, as a task-queue one would be: it only takes the events."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.taken: list[tuple[str, str]] = []
        self.closed = False

    def send(self, pixel_code: str, data: Mapping[str, Any]) -> None:
        if self.fail:
            raise ConnectionError(f"broker down for {data['user']}")
        self.taken.append((pixel_code, json.dumps(data)))

    def close(self, timeout: float | None = None) -> None:
        self.closed = True


def test_a_custom_sender_gets_json_ready_events(fake: FakeEventsApi) -> None:
    app = events_app(fake)
    sender = ListSender()
    shop(app, TikTokPixel(app, sender=sender))

    response = app.test_client().get("/buy")

    [(code, text)] = sender.taken
    assert code == CODE
    assert json.loads(text)["event_id"] == response.headers["X-Event-Id"]
    assert app.extensions[EXTENSION_KEY].sender is sender


def test_a_failing_sender_does_not_break_the_page(
    fake: FakeEventsApi, caplog: pytest.LogCaptureFixture
) -> None:
    app = events_app(fake)
    shop(app, TikTokPixel(app, sender=ListSender(fail=True)))

    response = app.test_client().get("/buy", headers={"User-Agent": USER_AGENT})

    assert response.status_code == 200
    assert "the sender failed to take Purchase" in caplog.text
    assert "ConnectionError" in caplog.text
    assert_clean_logs(caplog)


def test_without_a_token_there_are_no_server_events(fake: FakeEventsApi) -> None:
    app = events_app(fake, TIKTOK_PIXEL_ACCESS_TOKEN=None, TIKTOK_PIXEL_SERVER_EVENTS=True)
    shop(app, TikTokPixel(app))

    response = app.test_client().get("/buy?ttclid=abc")

    assert response.status_code == 200
    assert EXTENSION_KEY not in app.extensions
    assert "Set-Cookie" not in response.headers or "ttclid" not in response.headers["Set-Cookie"]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("TIKTOK_PIXEL_ACCESS_TOKEN", "tt secret with spaces", "TIKTOK_PIXEL_ACCESS_TOKEN must be"),
        ("TIKTOK_PIXEL_ACCESS_TOKEN", "", "TIKTOK_PIXEL_ACCESS_TOKEN must be"),
        ("TIKTOK_PIXEL_ACCESS_TOKEN", 12345, "TIKTOK_PIXEL_ACCESS_TOKEN must be"),
        ("TIKTOK_PIXEL_ACCESS_TOKEN", "tt-secret\r\nX-Evil: 1", "TIKTOK_PIXEL_ACCESS_TOKEN must"),
        ("TIKTOK_PIXEL_SERVER_EVENTS", "yes", "TIKTOK_PIXEL_SERVER_EVENTS 'yes' must be a bool"),
        ("TIKTOK_PIXEL_EVENTS_API_URL", "ftp://x", "TIKTOK_PIXEL_EVENTS_API_URL 'ftp://x' is not"),
        ("TIKTOK_PIXEL_EVENTS_API_URL", "http://tiktok.example/", "TIKTOK_PIXEL_EVENTS_API_URL"),
        ("TIKTOK_PIXEL_TEST_EVENT_CODE", 7, "TIKTOK_PIXEL_TEST_EVENT_CODE 7 must be None"),
        ("TIKTOK_PIXEL_EVENTS_API_TIMEOUT", 0, "TIKTOK_PIXEL_EVENTS_API_TIMEOUT 0 must be"),
        ("TIKTOK_PIXEL_EVENTS_API_MAX_TRIES", 0, "TIKTOK_PIXEL_EVENTS_API_MAX_TRIES 0 must be"),
        ("TIKTOK_PIXEL_EVENTS_API_BACKOFF", -1, "TIKTOK_PIXEL_EVENTS_API_BACKOFF -1 must be"),
        ("TIKTOK_PIXEL_EVENTS_API_QUEUE_SIZE", 1.5, "TIKTOK_PIXEL_EVENTS_API_QUEUE_SIZE 1.5"),
    ],
)
def test_settings_are_checked_at_init_app(
    fake: FakeEventsApi, key: str, value: object, message: str
) -> None:
    app = events_app(fake, **{key: value})

    with pytest.raises(ConfigurationError) as raised:
        TikTokPixel(app)

    assert str(raised.value).startswith(message)
    if key == "TIKTOK_PIXEL_ACCESS_TOKEN":
        assert "the value is not repeated here" in str(raised.value)
        assert "secret" not in str(raised.value)


@pytest.mark.parametrize(
    "ttp", ["06-12345678", "0049-30-1234567", "jane@example.com", "+31612345678", "x" * 200]
)
def test_a_ttp_cookie_that_is_not_tiktoks_is_not_forwarded(
    served: tuple[Flask, TikTokPixel], fake: FakeEventsApi, ttp: str
) -> None:
    app, _ = served
    client = app.test_client()
    client.set_cookie("_ttp", ttp)
    client.get("/buy")
    [event] = sent_after(app, fake)
    assert "ttp" not in event["user"]
