"""Pages that do not reload, with Hotwire Turbo 8 in Chromium: a Turbo Frame, a Turbo Stream and
Turbo Drive visits (back included) each fire their view's events exactly once, with no second
bootstrap, under a strict CSP too; and TikTok's real SDK sends one Pageview per URL.

Turbo's own file is served from ``tests/assets`` (see ``turbo.LICENSE.txt``), never a CDN.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import CODE, make_app
from flask import Flask, render_template_string, request, send_file
from markupsafe import Markup
from partial_support import (
    assert_back_and_forward_pageviews,
    beacons,
    last_id,
    nonce,
    strict_csp_when_asked,
)
from playwright.sync_api import Page, expect
from werkzeug.wrappers import Response

from pixel_embed import TikTokPixel
from pixel_embed.testing import expect_pixel, pixel_calls, recorder_for
from pixel_embed.testing.server import serve_app

TURBO = Path(__file__).resolve().parent / "assets" / "turbo.es2017-umd.js"
STREAM = "text/vnd.turbo-stream.html"

# The layout of every page. tiktok_pixel() in <head>; tiktok_pixel_calls() at the end of <body>,
# as docs/partial-pages.md says for Turbo Drive. Turbo merges a visited page's <head> into the
# current one (new scripts in it would run) and swaps the <body>.
LAYOUT = """<!doctype html><html><head><title>{{ title }}</title>{{ tiktok_pixel() }}
<script src="/turbo.js" nonce="{{ nonce() }}"></script>
<script nonce="{{ nonce() }}">
window.addEventListener("securitypolicyviolation", function (e) {
  (window.violations = window.violations || []).push(e.violatedDirective + " " + e.blockedURI);
});
</script></head>
<body><nav><a id="to-a" href="/a">A</a> <a id="to-b" href="/b">B</a>
<a id="to-home" href="/">home</a>
{% if preload %}<a id="to-b-preloaded" href="/b" data-turbo-preload>B, preloaded</a>{% endif %}</nav>
<h1>{{ title }}</h1>
<turbo-frame id="cart"><form method="post" action="/frame/add">
<button id="frame-add">add in the frame</button></form></turbo-frame>
<form method="post" action="/stream/add"><button id="stream-add">add by stream</button></form>
<ol id="log"></ol>
{{ tiktok_pixel_calls() }}
</body></html>"""

FRAME = """<turbo-frame id="cart"><p id="in-frame">added {{ id }}</p>
{{ tiktok_pixel_calls() }}</turbo-frame>"""


def turbo_shop(**config: Any) -> Flask:
    """The test shop; ``app.extensions["ids"]`` lists the event ids its views got, and
    ``app.extensions["paths"]`` the pages it rendered, each with its ``X-Sec-Purpose`` header
    (``prefetch`` for the pages Turbo 8 fetches when the mouse rests on a link)."""
    app = make_app(TIKTOK_PIXEL_PARTIAL=True, **config)
    pixel = TikTokPixel(app, nonce=nonce)
    ids: list[str] = []
    paths: list[tuple[str, str | None]] = []
    app.extensions["ids"] = ids
    app.extensions["paths"] = paths
    app.jinja_env.globals["nonce"] = nonce

    def add() -> str:
        event_id = pixel.track("AddToCart", content_id="mug", value=12.5, currency="USD")
        ids.append(event_id)
        return event_id

    strict_csp_when_asked(app)

    @app.get("/turbo.js")
    def turbo() -> Response:
        return send_file(TURBO, mimetype="text/javascript")

    @app.get("/")
    def home() -> str:
        paths.append(("/", request.headers.get("X-Sec-Purpose")))
        pixel.identify(email="jane@example.com")
        return render_template_string(LAYOUT, title="home", preload="preload" in request.args)

    @app.get("/<name>")
    def product(name: str) -> str | tuple[str, int]:
        if name not in ("a", "b"):
            return "no such page", 404
        paths.append(("/" + name, request.headers.get("X-Sec-Purpose")))
        if name == "b":
            pixel.identify(external_id="b-visitor")
        ids.append(pixel.track("ViewContent", content_id=name))
        return render_template_string(LAYOUT, title=name)

    @app.post("/later")
    def later() -> tuple[str, int]:
        # A request whose response the page cannot read (a beacon): the event waits in the
        # session for the next response that can carry it.
        ids.append(pixel.track("Subscribe", defer=True))
        return "", 204

    @app.post("/frame/add")
    def frame_add() -> str:
        return render_template_string(FRAME, id=add())

    @app.post("/stream/add")
    def stream_add() -> Response:
        # A stream built in Python: pixel.fragment() is what tiktok_pixel_calls() renders.
        event_id = add()
        body = Markup(
            '<turbo-stream action="append" target="log"><template>'
            '<li class="added">added {}</li>{}</template></turbo-stream>'
        ).format(event_id, pixel.fragment())
        return Response(body, mimetype=STREAM)

    return app


@contextmanager
def running_turbo_shop(**config: Any) -> Iterator[tuple[str, Flask]]:
    app = turbo_shop(**config)
    with serve_app(app) as url:
        yield url, app


@pytest.fixture(scope="module")
def shop() -> Iterator[tuple[str, Flask]]:
    with running_turbo_shop() as running:
        yield running


def ids_of(app: Flask) -> list[str]:
    ids: list[str] = app.extensions["ids"]
    return ids


def visits(app: Flask) -> list[str]:
    """The pages the shop rendered for a visit, not for a prefetch."""
    paths: list[tuple[str, str | None]] = app.extensions["paths"]
    return [path for path, purpose in paths if purpose != "prefetch"]


def methods(page: Page) -> list[str]:
    return [c.method for c in pixel_calls(page)]


def track_ids(page: Page, event: str) -> list[str | None]:
    return [c.event_id for c in pixel_calls(page) if c.event == event]


def open_home(page: Page, url: str) -> None:
    page.goto(url + "/")
    expect_pixel(page).to_have_made("load", "page", "identify")
    page.wait_for_function("() => window.Turbo && Turbo.session && Turbo.session.started")


def bootstraps(page: Page) -> int:
    """How many scripts of the current document load the pixel."""
    count: int = page.evaluate(
        "() => [...document.scripts].filter(s => s.textContent.includes('ttq.load(')).length"
    )
    return count


def assert_one_bootstrap(page: Page) -> None:
    """The document loaded the pixel once, and no data block is left in it to run again."""
    assert recorder_for(page).sdk_loads() == [CODE]
    assert bootstraps(page) == 1
    assert page.locator("script[data-pixel-embed-calls]").count() == 0


def visit(page: Page, link: str, title: str) -> None:
    """Follow ``link`` as a visitor does and wait for Turbo to show the page."""
    page.click(link)
    expect(page).to_have_title(title)


def test_a_turbo_frame_fires_its_event_once_with_the_views_id(
    pixel_page: Page, shop: tuple[str, Flask]
) -> None:
    url, app = shop
    ids = ids_of(app)
    open_home(pixel_page, url)
    before = len(ids)
    pixel_page.click("#frame-add")
    event_id = last_id(ids, pixel_page, before + 1)
    expect(pixel_page.locator("#in-frame")).to_have_text(f"added {event_id}")
    expect_pixel(pixel_page).to_have_tracked(
        "AddToCart", times=1, event_id=event_id, content_id="mug", value=12.5
    )
    # No page load, no second bootstrap, no page view: only the event.
    assert pixel_page.url == url + "/"
    assert methods(pixel_page) == ["load", "page", "identify", "track"]
    # The data block left the page once it ran: nothing in the frame can run it again.
    assert_one_bootstrap(pixel_page)


def test_a_turbo_stream_fires_its_event_once_with_the_views_id(
    pixel_page: Page, shop: tuple[str, Flask]
) -> None:
    url, app = shop
    ids = ids_of(app)
    open_home(pixel_page, url)
    for clicks in (1, 2):
        before = len(ids)
        pixel_page.click("#stream-add")
        event_id = last_id(ids, pixel_page, before + 1)
        expect(pixel_page.locator("#log li.added")).to_have_count(clicks)
        expect(pixel_page.locator("#log li.added").last).to_have_text(f"added {event_id}")
        expect_pixel(pixel_page).to_have_tracked("AddToCart", times=clicks)
        assert track_ids(pixel_page, "AddToCart")[-1] == event_id
    assert pixel_page.url == url + "/"
    assert methods(pixel_page) == ["load", "page", "identify", "track", "track"]
    assert_one_bootstrap(pixel_page)


def test_turbo_drive_fires_each_visited_pages_events_once_without_a_second_bootstrap(
    pixel_page: Page, shop: tuple[str, Flask]
) -> None:
    url, app = shop
    ids = ids_of(app)
    page = pixel_page
    open_home(page, url)
    page.evaluate("() => { window.sameDocument = true; }")
    visit(page, "#to-a", "a")
    a_id = ids[-1]
    assert page.url == url + "/a"
    expect_pixel(page).to_have_tracked("ViewContent", times=1, content_id="a", event_id=a_id)
    visit(page, "#to-b", "b")
    b_id = ids[-1]
    expect_pixel(page).to_have_tracked("ViewContent", times=2)
    # Turbo kept the document: one bootstrap, one ttq.page() (TikTok's SDK sends the page
    # views of History API navigations itself), each page's event and /b's identity once.
    assert page.evaluate("() => window.sameDocument") is True
    assert methods(page) == ["load", "page", "identify", "track", "identify", "track"]
    assert track_ids(page, "ViewContent") == [a_id, b_id]
    expect_pixel(page).to_have_identified(external_id="b-visitor")
    assert_one_bootstrap(page)


def home_a_b(page: Page, url: str, app: Flask) -> tuple[list[str | None], int]:
    """Open the home page, visit /a then /b with Turbo Drive; the ViewContent ids that fired,
    and how many visits the shop has served."""
    open_home(page, url)
    visit(page, "#to-a", "a")
    visit(page, "#to-b", "b")
    expect_pixel(page).to_have_tracked("ViewContent", times=2)
    return track_ids(page, "ViewContent"), len(visits(app))


def test_back_and_forward_from_turbos_cache_fire_nothing_again(
    pixel_page: Page, shop: tuple[str, Flask]
) -> None:
    url, app = shop
    ids = ids_of(app)
    page = pixel_page
    fired, served = home_a_b(page, url, app)
    page.go_back()
    expect(page).to_have_title("a")
    page.go_back()
    expect(page).to_have_title("home")
    page.go_forward()
    expect(page).to_have_title("a")
    page.wait_for_timeout(300)
    # Restored from Turbo's snapshot cache: no visit to the server (the mouse resting on a
    # link of a restored page may make Turbo prefetch it, which fires nothing), and the
    # snapshot holds no data block.
    assert len(visits(app)) == served
    assert track_ids(page, "ViewContent") == fired
    assert methods(page) == ["load", "page", "identify", "track", "identify", "track"]
    # A new visit to a page Turbo has cached shows the snapshot as a preview, then the fresh
    # page: its view ran again, and its new event fires once.
    visit(page, "#to-b", "b")
    expect_pixel(page).to_have_tracked("ViewContent", times=3)
    assert track_ids(page, "ViewContent") == [*fired, ids[-1]]
    assert len(set(track_ids(page, "ViewContent"))) == 3


def test_a_restoration_visit_that_misses_turbos_cache_fires_nothing_again(
    pixel_page: Page, shop: tuple[str, Flask]
) -> None:
    url, app = shop
    page = pixel_page
    fired, served = home_a_b(page, url, app)
    # No snapshot to restore (as when Turbo evicted it): Turbo asks the server for /a again,
    # with nothing in the request to say it is a restoration.
    page.evaluate("() => Turbo.session.clearCache()")
    page.go_back()
    expect(page).to_have_title("a")
    expect(page.locator("h1")).to_have_text("a")
    for _ in range(50):
        if len(visits(app)) > served:
            break
        page.wait_for_timeout(50)
    assert visits(app)[served:] == ["/a"]
    page.wait_for_timeout(500)
    assert track_ids(page, "ViewContent") == fired
    assert page.locator("script[data-pixel-embed-calls]").count() == 0


@pytest.fixture(scope="module")
def strict_csp_shop() -> Iterator[tuple[str, Flask]]:
    with running_turbo_shop(STRICT_CSP=True) as running:
        yield running


def test_strict_csp_frame_stream_and_drive_without_a_violation(
    pixel_page: Page, strict_csp_shop: tuple[str, Flask]
) -> None:
    url, app = strict_csp_shop
    ids = ids_of(app)
    page = pixel_page
    open_home(page, url)
    page.click("#frame-add")
    expect(page.locator("#in-frame")).to_contain_text("added")
    page.click("#stream-add")
    expect(page.locator("#log li.added")).to_have_count(1)
    visit(page, "#to-a", "a")
    expect_pixel(page).to_have_tracked("ViewContent", times=1, event_id=ids[-1])
    expect_pixel(page).to_have_tracked("AddToCart", times=2)
    page.go_back()
    expect(page).to_have_title("home")
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.violations || []") == []
    assert recorder_for(page).errors == []
    assert methods(page) == ["load", "page", "identify", "track", "track", "track"]


@pytest.mark.pixel_sdk("real")
def test_real_sdk_one_pageview_per_url_and_each_event_once(
    pixel_page: Page, shop: tuple[str, Flask]
) -> None:
    url, app = shop
    ids = ids_of(app)
    page = pixel_page

    page.goto(url + "/")
    beacons(page, "Pageview", 1)
    before = len(ids)
    page.click("#frame-add")
    add_id = last_id(ids, page, before + 1)
    assert [b.event_id for b in beacons(page, "AddToCart", 1)] == [add_id]
    visit(page, "#to-a", "a")
    a_id = ids[-1]
    visit(page, "#to-b", "b")
    b_id = ids[-1]
    views = beacons(page, "ViewContent", 2)
    assert [(v.event_id, v.page_url) for v in views] == [(a_id, url + "/a"), (b_id, url + "/b")]
    assert_back_and_forward_pageviews(page, url)
    # Back and forward come from Turbo's cache: nothing is sent again.
    assert len(beacons(page, "ViewContent", 2)) == 2
    assert len(beacons(page, "AddToCart", 1)) == 1
    assert_one_bootstrap(page)


# -- deferred events, and Turbo 8's prefetching ------------------------------------------------


def defer_an_event(page: Page, app: Flask) -> str:
    """Make the shop keep a deferred Subscribe in the visitor's session; its event id."""
    ids = ids_of(app)
    before = len(ids)
    page.evaluate("() => navigator.sendBeacon('/later')")
    return last_id(ids, page, before + 1)


def test_an_event_deferred_by_an_earlier_request_fires_once_on_the_next_drive_visit(
    pixel_page: Page, shop: tuple[str, Flask]
) -> None:
    url, app = shop
    page = pixel_page
    open_home(page, url)
    deferred = defer_an_event(page, app)
    visit(page, "#to-a", "a")
    expect_pixel(page).to_have_tracked("Subscribe", times=1, event_id=deferred)
    visit(page, "#to-b", "b")
    expect_pixel(page).to_have_tracked("ViewContent", times=2)
    expect_pixel(page).to_have_tracked("Subscribe", times=1)


def wait_for_prefetch(page: Page, app: Flask, path: str, after: int) -> None:
    """Wait until Turbo has prefetched ``path`` (a request the shop got after ``after`` pages)."""
    for _ in range(100):
        if (path, "prefetch") in app.extensions["paths"][after:]:
            return
        page.wait_for_timeout(20)
    raise AssertionError(f"Turbo did not prefetch {path}")


def test_a_link_prefetched_on_hover_fires_the_prefetched_views_event_once(
    pixel_page: Page, shop: tuple[str, Flask]
) -> None:
    url, app = shop
    ids = ids_of(app)
    page = pixel_page
    open_home(page, url)
    before = len(app.extensions["paths"])
    page.hover("#to-a")  # Turbo 8 prefetches a link the mouse rests on for 100 ms
    wait_for_prefetch(page, app, "/a", before)
    prefetched_id = last_id(ids)
    visited = len(visits(app))
    visit(page, "#to-a", "a")
    # The click used the prefetched response: no second request, its event once.
    expect_pixel(page).to_have_tracked("ViewContent", times=1)
    assert track_ids(page, "ViewContent") == [prefetched_id]
    assert len(visits(app)) == visited


def test_a_hover_prefetch_that_is_not_followed_loses_no_deferred_event(
    pixel_page: Page, shop: tuple[str, Flask]
) -> None:
    url, app = shop
    page = pixel_page
    open_home(page, url)
    deferred = defer_an_event(page, app)
    before = len(app.extensions["paths"])
    page.hover("#to-a")
    wait_for_prefetch(page, app, "/a", before)
    page.mouse.move(0, 0)
    visit(page, "#to-b", "b")
    expect_pixel(page).to_have_tracked("ViewContent", times=1)
    # /b's data block carries what waited in the session, or nothing does any more.
    assert track_ids(page, "Subscribe") == [deferred]


def test_a_preloaded_page_fires_its_events_once(pixel_page: Page, shop: tuple[str, Flask]) -> None:
    url, app = shop
    page = pixel_page
    page.goto(url + "/?preload")
    expect_pixel(page).to_have_made("load", "page", "identify")
    # Turbo keeps the preloaded page in its snapshot cache, as it keeps the pages left behind.
    page.wait_for_function("() => Turbo.session.view.snapshotCache.has(new URL('/b', location))")
    visited = len(visits(app))
    page.click("#to-b-preloaded")
    for _ in range(100):
        if len(visits(app)) > visited:
            break
        page.wait_for_timeout(20)
    expect(page).to_have_title("b")
    page.wait_for_function("() => !document.documentElement.hasAttribute('data-turbo-preview')")
    # One visit, one event: the one the fresh page's view got.
    expect_pixel(page).to_have_tracked("ViewContent", times=1)
    assert track_ids(page, "ViewContent") == [ids_of(app)[-1]]
