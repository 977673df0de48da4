"""Shared set-up of the Events API tests: a fake endpoint and an app that sends to it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from conftest import make_app, page
from flask import Flask, redirect, render_template_string

from pixel_embed import TikTokPixel
from pixel_embed.events_api import (
    BackgroundSender,
    EventsApiClient,
    Outbox,
    OutboxSender,
    ServerEvents,
)
from pixel_embed.events_api.hooks import EXTENSION_KEY
from pixel_embed.events_api.outbox import MAX_AGE
from pixel_embed.testing.events_api import FAKE_ACCESS_TOKEN, FakeEventsApi

#: The access token the QA kit's fake Events API (the ``tiktok_events_api`` fixture) expects.
TOKEN = FAKE_ACCESS_TOKEN
RAW_EMAIL = "Jane.Doe@Example.com"
RAW_PHONE = "+12133734253"
USER_AGENT = "pixel-embed-test-agent/1.0"
CART = (
    "<!doctype html><html><head>{{ tiktok_pixel() }}</head><body>"
    '<form method="post" action="/checkout"><button>Pay</button></form></body></html>'
)


class Clock:
    """Simulated Unix time: tests move it instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


def manual_sender(outbox: Outbox, fake: FakeEventsApi, max_age: float = MAX_AGE) -> OutboxSender:
    """A sender without its thread: the test calls deliver_due() at simulated times."""
    client = EventsApiClient(access_token=TOKEN, url=fake.url, timeout=5.0)
    return OutboxSender(outbox, client, start=False, max_age=max_age)


def timed_event(event_id: str, clock: Clock, age: float = 0.0) -> dict[str, object]:
    """An Events API entry (``outbox_process.event``) that happened ``age`` seconds ago."""
    from outbox_process import event

    data = event(event_id)
    data["event_time"] = int(clock.now - age)
    return data


def server_events(app: Flask) -> ServerEvents:
    server = app.extensions[EXTENSION_KEY]
    assert isinstance(server, ServerEvents)
    return server


def background_sender(app: Flask) -> BackgroundSender:
    sender = server_events(app).sender
    assert isinstance(sender, BackgroundSender)
    return sender


@contextmanager
def fake_api() -> Iterator[FakeEventsApi]:
    with FakeEventsApi(access_token=TOKEN) as fake:
        yield fake


def events_app(fake: FakeEventsApi, **config: object) -> Flask:
    """A test app (see ``conftest.make_app``) whose server events go to ``fake``, fast."""
    settings: dict[str, object] = {
        "TIKTOK_PIXEL_ACCESS_TOKEN": TOKEN,
        "TIKTOK_PIXEL_EVENTS_API_URL": fake.url,
        "TIKTOK_PIXEL_EVENTS_API_BACKOFF": 0.01,
        "TIKTOK_PIXEL_EVENTS_API_TIMEOUT": 5.0,
        # These tests look at the memory queue; the outbox has its own (test_events_api_outbox).
        "TIKTOK_PIXEL_EVENTS_QUEUE": "memory",
    }
    settings.update(config)
    return make_app(**settings)


@contextmanager
def closing_sender(app: Flask) -> Iterator[None]:
    """Close the app's background sender when the test is done."""
    try:
        yield
    finally:
        server = app.extensions.get(EXTENSION_KEY)
        if server is not None:
            server.sender.close(timeout=2)


def assert_clean_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing secret or personal reached any log record."""
    text = "\n".join(record.getMessage() for record in caplog.records)
    secrets = (TOKEN, RAW_EMAIL, RAW_EMAIL.lower(), RAW_PHONE, "2133734253", USER_AGENT)
    for secret in (*secrets, "203.0.113.9", "198.51.100.7"):
        assert secret not in text, f"{secret!r} leaked into the logs:\n{text}"


def shop(app: Flask, pixel: TikTokPixel) -> Flask:
    """The views every test requests."""

    @app.get("/buy")
    def buy() -> tuple[str, dict[str, str]]:
        event_id = pixel.track(
            "CompletePayment",
            value=42.5,
            currency="USD",
            contents=[{"content_id": "sku-1", "quantity": 1}],
            server=True,
        )
        pixel.identify(email=RAW_EMAIL, phone_number=RAW_PHONE, external_id="u-42")
        return page(), {"X-Event-Id": event_id}

    @app.get("/view")
    def view() -> str:
        pixel.track("ViewContent", content_id="sku-1")
        return page()

    @app.get("/browser-only")
    def browser_only() -> str:
        pixel.track("AddToCart", content_id="sku-1", server=False)
        return page()

    @app.get("/cart")
    def cart() -> str:
        return render_template_string(CART)

    @app.post("/checkout")
    def checkout() -> Any:
        pixel.track("PlaceAnOrder", value=9, currency="EUR", defer=True, server=True)
        return redirect("/thanks")

    @app.get("/thanks")
    def thanks() -> str:
        return page()

    return app


def sent_after(app: Flask, fake: FakeEventsApi) -> list[dict[str, Any]]:
    """The events TikTok got, once the app's sender has delivered what it took."""
    assert background_sender(app).flush(timeout=10)
    return fake.events


#: Values the ``events`` commands (Flask's, Django's, Starlette's) must refuse with a usage
#: error naming the option: out of SQLite's range, below the least, not finite. Each is
#: ``(ACTION, OPTION, VALUE, *more)``.
HOSTILE_OPTIONS = [
    ("retry", "--id", "99999999999999999999999999"),
    ("retry", "--id", "0"),
    ("retry", "--id", "-3"),
    ("status", "--dead", "99999999999999999999999"),
    ("status", "--dead", "-1"),
    ("quality", "--hours", "1e308"),
    ("quality", "--hours", "nan"),
    ("quality", "--hours", "inf"),
    ("quality", "--hours", "0"),
    ("purge", "--older-than", "-5", "--yes"),
    ("purge", "--older-than", "nan", "--yes"),
    ("purge", "--older-than", "1e400", "--yes"),
    ("purge", "--older-than", "inf", "--yes"),
]
