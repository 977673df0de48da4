"""Two people, one browser, TikTok's real SDK (a local copy) in Chromium.

Alice logs in, logs out, Bob logs in on the same browser: TikTok receives only Bob's hashes on
Bob's pages and none of Alice's after her logout, through full page loads and through hx-boost
(where the document, and TikTok's SDK with the identity it holds, stays). And when Alice's
deferred events never reached a page (a closed tab, a payment hop) before she logged out,
nothing of hers is sent afterwards. The site uses Flask-Login and nothing else: its
``logout_user()`` makes the extension forget.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import make_app
from flask import Flask, redirect, render_template_string, send_file
from flask_login import (  # type: ignore[import-untyped]
    LoginManager,
    UserMixin,
    current_user,
    login_user,
    logout_user,
)
from partial_support import HTMX, beacons
from playwright.sync_api import Browser, Page, expect
from sdk_support import real_sdk_page
from werkzeug.wrappers import Response

from pixel_embed import TikTokPixel
from pixel_embed.matching import hash_email, hash_phone
from pixel_embed.testing import WireEvent, serve_app, wire_events

PEOPLE = {
    "alice": {"email": "alice@example.com", "phone_number": "+14155550100"},
    "bob": {"email": "bob@example.com"},
}
ALICE_HASHES = {hash_email("alice@example.com"), hash_phone("+14155550100")}
BOB_EMAIL = hash_email("bob@example.com")

LAYOUT = """<!doctype html><html><head><title>{{ title }}</title>{{ tiktok_pixel() }}
<script src="/htmx.min.js"></script></head>
<body {{ 'hx-boost="true"' if boost else '' }}><h1>{{ title }}</h1>
<a id="login-alice" href="/login/alice">Alice</a> <a id="login-bob" href="/login/bob">Bob</a>
<a id="logout" href="/logout">log out</a> <a id="to-a" href="/a">A</a>
</body></html>"""


class User(UserMixin):  # type: ignore[misc]
    def __init__(self, name: str) -> None:
        self.id = name


def two_user_shop(*, boost: bool) -> Flask:
    app = make_app(TIKTOK_PIXEL_PARTIAL=True, TIKTOK_PIXEL_STRICT=False)
    pixel = TikTokPixel(app)
    LoginManager(app).user_loader(lambda name: User(name) if name in PEOPLE else None)

    def page(title: str) -> str:
        return render_template_string(LAYOUT, title=title, boost=boost)

    @app.before_request
    def identify_who_is_logged_in() -> None:
        # As many sites do: the signed-in visitor on every request, carried to the next page.
        if current_user.is_authenticated:
            pixel.identify(**PEOPLE[current_user.id], defer=True)

    @app.get("/htmx.min.js")
    def htmx() -> Response:
        return send_file(HTMX, mimetype="text/javascript")

    @app.get("/")
    def home() -> str:
        return page("home")

    @app.get("/login/<name>")
    def login(name: str) -> Response:
        login_user(User(name))
        pixel.identify(**PEOPLE[name], defer=True)
        return redirect("/account")

    @app.get("/account")
    def account() -> str:
        return page(f"account of {current_user.id}")

    @app.get("/pay")
    def pay() -> Response:
        pixel.track("CompletePayment", value=5, currency="USD", defer=True)
        return redirect("https://payments.example/checkout")

    @app.get("/logout")
    def logout() -> Response:
        logout_user()
        return redirect("/bye")

    @app.get("/bye")
    def bye() -> str:
        return page("bye")

    @app.get("/a")
    def a() -> str:
        pixel.track("ViewContent", content_id="a")
        return page("a")

    return app


@pytest.fixture
def tab(pixel_browser: Browser, sdk_dir: Path) -> Iterator[Page]:
    with real_sdk_page(pixel_browser, sdk_dir) as page:
        yield page


def hashes(events: list[WireEvent]) -> set[str]:
    return {value for event in events for value in event.user.values() if isinstance(value, str)}


def go(tab: Page, url: str, path: str, link: str, title: str, *, boost: bool) -> None:
    if boost:
        tab.click(link)
    else:
        tab.goto(url + path)
    expect(tab).to_have_title(title)


@pytest.mark.parametrize("boost", [False, True], ids=["full-page", "hx-boost"])
@pytest.mark.parametrize("pay_first", [False, True], ids=["", "deferred-payment"])
def test_after_alices_logout_tiktok_gets_nothing_of_hers_and_only_bobs_hashes(
    tab: Page, boost: bool, pay_first: bool
) -> None:
    with serve_app(two_user_shop(boost=boost)) as url:
        tab.goto(url + "/")
        go(tab, url, "/login/alice", "#login-alice", "account of alice", boost=boost)
        beacons(tab, "Pageview", 2)
        assert hash_email("alice@example.com") in hashes(wire_events(tab))
        if pay_first:
            # Alice's payment hop: the deferred event waits in the session for a page that
            # never comes (the browser went to the payment provider and was closed).
            response = tab.context.request.get(url + "/pay", max_redirects=0)
            assert response.status == 302
        go(tab, url, "/logout", "#logout", "bye", boost=boost)
        beacons(tab, "Pageview", 3)
        go(tab, url, "/login/bob", "#login-bob", "account of bob", boost=boost)
        go(tab, url, "/a", "#to-a", "a", boost=boost)
        beacons(tab, "ViewContent")
        beacons(tab, "Pageview", 5)
        # From the page the logout lands on (the SDK's own Click on the logout link, sent
        # before it, is Alice's while she is logged in).
        sent = wire_events(tab)
        bye = next(n for n, event in enumerate(sent) if event.page_url == url + "/bye")
        later = sent[bye:]
        assert later
        assert hashes(later).isdisjoint(ALICE_HASHES)
        assert not [
            event for event in wire_events(tab) if event.event in ("Purchase", "CompletePayment")
        ]
        [view] = [event for event in later if event.event == "ViewContent"]
        assert view.user.get("email") == BOB_EMAIL
        assert "phone_number" not in view.user or not view.user["phone_number"]
