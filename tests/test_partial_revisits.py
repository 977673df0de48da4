"""Exactly once, on every path a visitor takes back to a page (issue 24): track(..., once=KEY),
the order's derived event id, and the back-forward cache, on the server and in Chromium with
TikTok's real SDK."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import make_app, page
from events_api_support import closing_sender, events_app, fake_api, sent_after
from flask import Flask, redirect
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from playwright.sync_api import Browser, Page
from werkzeug.wrappers import Response

from pixel_embed import ConfigurationError, InvalidEvent, TikTokPixel
from pixel_embed.core.deferred import MAX_ONCE_KEYS, SESSION_KEY, SIBLING_SESSION_BYTES
from pixel_embed.events import order_event_id, validate_event
from pixel_embed.testing import expect_pixel, find_chromium, install_recorder, serve_app
from pixel_embed.testing.events_api import FakeEventsApi


def thanks_app(app: Flask) -> TikTokPixel:
    """The order-confirmation page of many shops: it tracks the purchase itself."""
    pixel = TikTokPixel(app)

    @app.get("/thanks/<order>")
    def thanks(order: str) -> str:
        pixel.identify(email="jane@example.com")
        pixel.track(
            "CompletePayment", value=42.5, currency="USD", order_id=order, once=order, server=True
        )
        return page('<a id="home" href="/">home</a>')

    @app.get("/")
    def home() -> str:
        return page("home")

    return pixel


def purchases(client: FlaskClient, path: str) -> list[str]:
    """The event ids of the Purchase calls on the page at ``path``."""
    html = client.get(path).get_data(as_text=True)
    return [part.split('"', 1)[0] for part in html.split('"event_id":"')[1:]]


# -- order_event_id ----------------------------------------------------------------------------


def test_the_order_event_id_is_derived_from_the_wire_name_and_the_order() -> None:
    derived = order_event_id("CompletePayment", "A-1001")
    # The documented derivation, which a webhook elsewhere can repeat.
    import uuid

    namespace = uuid.uuid5(uuid.NAMESPACE_URL, "https://pixel-embed.readthedocs.io/order-event-id")
    assert derived == str(uuid.uuid5(namespace, "Purchase:A-1001"))
    assert order_event_id("Purchase", "A-1001") == derived  # one event at TikTok
    assert order_event_id("PlaceAnOrder", "A-1001") != derived
    assert order_event_id("CompletePayment", 1001) == order_event_id("CompletePayment", "1001")
    for bad in ("", "  ", None, True, 1.5):
        with pytest.raises(InvalidEvent, match="order_id"):
            order_event_id("CompletePayment", bad)  # type: ignore[arg-type]


def test_a_purchase_with_an_order_id_gets_the_derived_id_unless_the_view_gives_one() -> None:
    params = {"value": 5, "currency": "USD", "order_id": "A-1"}
    assert validate_event("CompletePayment", params).event_id == order_event_id("Purchase", "A-1")
    assert validate_event("CompletePayment", params, event_id="mine").event_id == "mine"
    # Not a purchase, or no order: a fresh id each time.
    assert (
        validate_event("AddToCart", params).event_id != validate_event("AddToCart", params).event_id
    )
    del params["order_id"]
    assert (
        validate_event("Purchase", params).event_id != validate_event("Purchase", params).event_id
    )


def test_a_masked_order_id_is_no_orders_id() -> None:
    params = {"value": 5, "currency": "USD", "order_id": "jane@example.com"}
    first = validate_event("Purchase", params, on_error=lambda error: None)
    again = validate_event("Purchase", params, on_error=lambda error: None)
    assert first.params["order_id"] == "[email]"
    assert first.event_id != again.event_id


# -- track(..., once=KEY) ----------------------------------------------------------------------


def test_the_thank_you_page_rendered_again_tracks_the_purchase_once() -> None:
    app = make_app()
    thanks_app(app)
    client = app.test_client()
    assert purchases(client, "/thanks/A-1") == [order_event_id("Purchase", "A-1")]
    assert purchases(client, "/thanks/A-1") == []  # a refresh, back, a revisit
    assert purchases(client, "/thanks/A-2") == [order_event_id("Purchase", "A-2")]
    assert purchases(client, "/thanks/A-1") == []
    # Another browser (no session) sends it again, with the same id: TikTok keeps one.
    assert purchases(app.test_client(), "/thanks/A-1") == [order_event_id("Purchase", "A-1")]


def test_the_page_that_sends_it_is_not_stored_and_the_session_keeps_no_order_number() -> None:
    app = make_app()
    thanks_app(app)
    client = app.test_client()
    first = client.get("/thanks/ORDER-SECRET-77")
    assert first.headers["Cache-Control"] == "no-store"
    with client.session_transaction() as session:
        [key] = session[SESSION_KEY]["once"]
    assert "ORDER-SECRET-77" not in key
    again = client.get("/thanks/ORDER-SECRET-77")
    assert "no-store" not in again.headers.get("Cache-Control", "")


def test_the_keys_are_bounded_in_count_and_bytes() -> None:
    app = make_app()
    thanks_app(app)
    client = app.test_client()
    for number in range(MAX_ONCE_KEYS + 5):
        client.get(f"/thanks/{'x' * 500}-{number}")  # long keys take no more room
    with client.session_transaction() as session:
        keys = session[SESSION_KEY]["once"]
        size = len(json.dumps({"once": keys}, separators=(",", ":")))
    assert len(keys) == MAX_ONCE_KEYS
    assert size <= SIBLING_SESSION_BYTES, (
        size
    )  # 393 bytes of JSON for 20 keys: within the siblings' budget
    # The oldest were forgotten, the newest kept.
    assert purchases(client, f"/thanks/{'x' * 500}-0") != []
    assert purchases(client, f"/thanks/{'x' * 500}-{MAX_ONCE_KEYS + 4}") == []


def test_once_needs_a_secret_key() -> None:
    app = make_app(SECRET_KEY=None)
    thanks_app(app)
    app.config["PROPAGATE_EXCEPTIONS"] = True
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        app.test_client().get("/thanks/A-1")


@pytest.mark.parametrize("bad", ["", "   ", True, 1.5, ["A-1"]])
def test_a_bad_key_is_named_and_the_event_still_fires(
    bad: object, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(TIKTOK_PIXEL_STRICT=False)
    pixel = TikTokPixel(app)

    @app.get("/")
    def home() -> str:
        pixel.track("CompletePayment", value=1, currency="USD", once=bad)  # type: ignore[arg-type]
        return page()

    with caplog.at_level(logging.WARNING, "pixel_embed"):
        html = app.test_client().get("/").get_data(as_text=True)
    assert "CompletePayment" in html
    assert "once" in caplog.text
    strict = make_app()
    strict_pixel = TikTokPixel(strict)
    with strict.test_request_context("/"), pytest.raises(InvalidEvent, match="once"):
        strict_pixel.track("CompletePayment", value=1, currency="USD", once=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "headers",
    [{"Sec-Purpose": "prefetch"}, {"HX-History-Restore-Request": "true", "HX-Request": "true"}],
    ids=["prefetch", "history restore"],
)
def test_a_page_the_visitor_may_never_see_does_not_use_the_key_up(
    headers: dict[str, str],
) -> None:
    app = make_app()
    thanks_app(app)
    client = app.test_client()
    client.get("/thanks/A-1", headers=headers)
    assert purchases(client, "/thanks/A-1") == [order_event_id("Purchase", "A-1")]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["A-1", "A-2", "B-7", "C-3"]), min_size=1, max_size=12))
def test_any_sequence_of_visits_sends_each_order_once(orders: list[str]) -> None:
    app = make_app()
    thanks_app(app)
    client = app.test_client()
    sent = [event_id for order in orders for event_id in purchases(client, f"/thanks/{order}")]
    assert sent == [order_event_id("Purchase", order) for order in dict.fromkeys(orders)]


# -- in Chromium, with TikTok's SDK and the Events API ---------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeEventsApi]:
    with fake_api() as fake:
        yield fake


@pytest.fixture
def app(fake: FakeEventsApi) -> Iterator[Flask]:
    """This module's app, which the kit's ``pixel_app_url`` serves."""
    app = events_app(fake)
    thanks_app(app)
    with closing_sender(app):
        yield app


@pytest.mark.pixel_sdk("real")
def test_a_thank_you_page_refreshed_revisited_and_gone_back_to_sends_one_purchase(
    pixel_page: Page, pixel_app_url: str, app: Flask, fake: FakeEventsApi
) -> None:
    url = pixel_app_url
    expected = order_event_id("CompletePayment", "A-1001")
    pixel_page.goto(url + "/thanks/A-1001")
    expect_pixel(pixel_page).to_have_sent("Purchase", times=1, event_id=expected)
    pixel_page.reload()
    pixel_page.click("#home")
    pixel_page.wait_for_url(url + "/")
    pixel_page.go_back()
    pixel_page.wait_for_url(url + "/thanks/A-1001")
    pixel_page.goto(url + "/thanks/A-1001")  # a revisit, from the e-mail's link
    expect_pixel(pixel_page).to_have_sent(
        "CompletePayment", times=1, event_id=expected, page_url="/thanks/A-1001"
    )
    events = sent_after(app, fake)
    assert [(e["event"], e["event_id"]) for e in events] == [("Purchase", expected)]


# -- the back-forward cache ------------------------------------------------------------------

PAGE_SHOWS = (
    '<a id="next" href="/other">next</a><script>addEventListener("pageshow", '
    "(e) => (window.shows = window.shows || []).push(e.persisted))</script>"
)


@pytest.fixture(scope="module")
def bfcache_browser(pixel_browser: Browser) -> Iterator[Browser]:
    """Chromium with its back-forward cache, which Playwright turns off by default."""
    options = find_chromium().launch_options
    options["ignore_default_args"] = ["--disable-back-forward-cache"]
    browser = pixel_browser.browser_type.launch(**options)
    yield browser
    browser.close()


def bfcache_app() -> Flask:
    app = make_app()
    pixel = TikTokPixel(app)

    @app.get("/view")
    def view() -> str:
        pixel.identify(email="jane@example.com")  # a personal page: Cache-Control: private
        pixel.track("ViewContent", content_id="mug")
        return page(PAGE_SHOWS)

    @app.get("/thanks")
    def thanks() -> str:
        pixel.track("CompletePayment", value=5, currency="USD", order_id="B-1", once="B-1")
        return page(PAGE_SHOWS)

    @app.get("/other")
    def other() -> str:
        return page("other")

    return app


@pytest.mark.parametrize(
    ("path", "event", "restored"),
    [("/view", "ViewContent", True), ("/thanks", "Purchase", False)],
    ids=["private page: restored", "no-store page: asked again"],
)
def test_going_back_sends_nothing_new_from_the_bfcache_or_the_server(
    bfcache_browser: Browser, sdk_dir: Path, path: str, event: str, restored: bool
) -> None:
    context = bfcache_browser.new_context()
    install_recorder(context, sdk="real", sdk_dir=sdk_dir)
    try:
        with serve_app(bfcache_app()) as url:
            tab = context.new_page()
            tab.goto(url + path)
            expect_pixel(tab).to_have_sent(event, times=1)
            response = tab.request.get(url + path)
            cache_control = response.headers.get("cache-control", "")
            tab.click("#next")
            tab.wait_for_url(url + "/other")
            expect_pixel(tab).to_have_sent("Pageview", page_url="/other")
            # A page the bfcache restores fires no load event: wait for the URL only.
            tab.go_back(wait_until="commit")
            tab.wait_for_function("() => (window.shows || []).length > 0")
            shows = tab.evaluate("window.shows")
            assert shows[-1] is restored, (cache_control, shows)
            expect_pixel(tab).to_have_sent(event, times=1)
    finally:
        context.close()


def test_the_pages_the_library_marks_private_stay_eligible_for_the_bfcache() -> None:
    client = bfcache_app().test_client()
    assert client.get("/view").headers["Cache-Control"] == "private"
    assert client.get("/thanks").headers["Cache-Control"] == "no-store"


def test_a_redirect_to_the_thank_you_page_with_once_and_defer() -> None:
    # The deferred pattern and once together: the POST defers, the page fires it once.
    app = make_app()
    pixel = TikTokPixel(app)

    @app.post("/pay")
    def pay() -> Response:
        pixel.track(
            "CompletePayment", value=5, currency="USD", order_id="C-1", once="C-1", defer=True
        )
        return redirect("/thanks")

    @app.get("/thanks")
    def thanks() -> str:
        return page()

    client = app.test_client()
    client.post("/pay")
    client.post("/pay")  # a double submit
    assert purchases(client, "/thanks") == [order_event_id("Purchase", "C-1")]
    assert purchases(client, "/thanks") == []


class OnceModel(RuleBasedStateMachine):
    """A visitor's session against a list model of the keys it remembers: any mix of visits,
    prefetches, history restores and a cleared cookie sends each order exactly when the model
    says, forgetting the oldest beyond MAX_ONCE_KEYS."""

    def __init__(self) -> None:
        super().__init__()
        self.app = make_app()
        thanks_app(self.app)
        self.client = self.app.test_client()
        self.remembered: list[str] = []

    orders = st.integers(min_value=0, max_value=MAX_ONCE_KEYS + 10).map(lambda n: f"O-{n}")

    def _expect(self, order: str, headers: dict[str, str] | None = None) -> list[str]:
        html = self.client.get(f"/thanks/{order}", headers=headers or {}).get_data(as_text=True)
        sent = [part.split('"', 1)[0] for part in html.split('"event_id":"')[1:]]
        expected = [] if order in self.remembered else [order_event_id("Purchase", order)]
        assert sent == expected, (order, self.remembered)
        return sent

    @rule(order=orders)
    def visit(self, order: str) -> None:
        if self._expect(order):
            self.remembered = [*self.remembered, order][-MAX_ONCE_KEYS:]

    @rule(order=orders)
    def prefetch(self, order: str) -> None:
        self._expect(order, {"Sec-Purpose": "prefetch"})

    @rule(order=orders)
    def restore(self, order: str) -> None:
        html = self.client.get(
            f"/thanks/{order}", headers={"HX-History-Restore-Request": "true"}
        ).get_data(as_text=True)
        assert '"event_id"' not in html

    @rule()
    def clear_cookies(self) -> None:
        self.client = self.app.test_client()
        self.remembered = []

    @invariant()
    def bounded(self) -> None:
        with self.client.session_transaction() as session:
            keys = session.get(SESSION_KEY, {}).get("once", [])
        assert len(keys) == len(self.remembered) <= MAX_ONCE_KEYS


TestOnceModel = OnceModel.TestCase
TestOnceModel.settings = settings(max_examples=40, stateful_step_count=40, deadline=None)
