"""A small htmx + fetch() shop for the partial-page tests: every mechanism on one page."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conftest import make_app
from flask import Flask, g, jsonify, redirect, render_template_string, request, send_file
from playwright.sync_api import Page, expect
from werkzeug.wrappers import Response

from pixel_embed import TikTokPixel
from pixel_embed.testing import WireEvent, serve_app, wire_events

HTMX = Path(__file__).resolve().parent.parent / "demo_site" / "static" / "htmx.min.js"
ASSETS = Path(__file__).resolve().parent / "assets"
#: Each supported htmx line, the oldest release of 1.8 and the last of 1.9 (tests/assets, with
#: their licences) and the demo site's 2.x.
HTMX_VERSIONS = {
    "1.8.0": ASSETS / "htmx-1.8.0.min.js",
    "1.9.12": ASSETS / "htmx-1.9.12.min.js",
    "2.0.11": HTMX,
}

LAYOUT = """<!doctype html><html><head><title>{{ title }}</title>{{ tiktok_pixel() }}
<script src="/htmx.min.js" nonce="{{ nonce() }}"></script></head>
<body hx-boost="true"><nav><a id="to-a" href="/a">A</a> <a id="to-b" href="/b">B</a>
<a id="to-home" href="/">home</a></nav>
<h1>{{ title }}</h1>
<button id="add" hx-post="/add" hx-target="#out" hx-boost="false">add</button>
<button id="add-none" hx-post="/add" hx-swap="none" hx-boost="false">add quietly</button>
<button id="oob" hx-post="/oob" hx-target="#out" hx-boost="false">oob</button>
<button id="fail" hx-post="/fail" hx-target="#out" hx-boost="false">fail</button>
<button id="fragment" hx-get="/fragment" hx-target="#out" hx-boost="false">fragment</button>
<button id="fetch">fetch</button>
<button id="search" hx-get="/search?q=mug" hx-push-url="true" hx-target="#out"
 hx-boost="false">search</button>
<button id="locate" hx-post="/locate" hx-boost="false">sign up, then HX-Location</button>
<form method="post" action="/pay"><button id="pay">pay</button></form>
<output id="out"></output><output id="side"></output><output id="fetched"></output>
<script nonce="{{ nonce() }}">
document.getElementById("fetch").addEventListener("click", function () {
  fetch("/api/add", {method: "POST"}).then(pixelEmbed.fromResponse)
    .then(function (r) { return r.json(); })
    .then(function (data) { document.getElementById("fetched").textContent = data.event_id; });
});
window.addEventListener("securitypolicyviolation", function (e) {
  (window.violations = window.violations || []).push(e.violatedDirective);
});
</script>
</body></html>"""


def nonce() -> str:
    if "nonce" not in g:
        g.nonce = secrets.token_urlsafe(12)
    value: str = g.nonce
    return value


def strict_csp_when_asked(app: Flask) -> None:
    """With ``STRICT_CSP`` in the app's config, every response gets a nonce-only policy:
    ``'strict-dynamic'`` (scripts a trusted script adds are trusted), or with ``"nonce-only"``
    none (each script needs the nonce; TikTok's host is allowed by name)."""

    @app.after_request
    def policy(response: Response) -> Response:
        strict = app.config.get("STRICT_CSP")
        if strict:
            trusted = (
                "https://analytics.tiktok.com" if strict == "nonce-only" else "'strict-dynamic'"
            )
            response.headers["Content-Security-Policy"] = (
                f"script-src 'nonce-{nonce()}' {trusted}; object-src 'none'"
            )
        return response


def beacons(tab: Page, event: str, count: int = 1) -> list[WireEvent]:
    """The beacons of ``event`` once ``count`` have gone out (waiting up to 5 s), then a
    moment longer, so that a duplicate would be seen too."""
    for _ in range(50):
        if len([b for b in wire_events(tab) if b.event == event]) >= count:
            break
        tab.wait_for_timeout(100)
    tab.wait_for_timeout(500)
    return [b for b in wire_events(tab) if b.event == event]


def assert_back_and_forward_pageviews(tab: Page, url: str) -> None:
    """From ``/b`` (reached from ``/`` through ``/a`` without reloading), back to ``/a`` and
    forward to ``/b`` again: TikTok's SDK sends a Pageview for each URL, five in all."""
    tab.go_back()
    expect(tab).to_have_title("a")
    beacons(tab, "Pageview", 4)
    tab.go_forward()
    expect(tab).to_have_title("b")
    pageviews = beacons(tab, "Pageview", 5)
    assert [p.page_url for p in pageviews] == [url + path for path in ("/", "/a", "/b", "/a", "/b")]


def partial_shop(htmx: Path = HTMX, **config: Any) -> Flask:
    """The test shop, on the htmx at ``htmx``; ``app.extensions["ids"]`` lists the event ids
    its views got, ``app.extensions["restores"]`` the paths htmx asked for to restore them
    from history."""
    app = make_app(TIKTOK_PIXEL_PARTIAL=True, **config)
    pixel = TikTokPixel(app, nonce=nonce)
    ids: list[str] = []
    restores: list[str] = []
    app.extensions["ids"] = ids
    app.extensions["restores"] = restores
    app.jinja_env.globals["nonce"] = nonce

    def page(title: str) -> str:
        return render_template_string(LAYOUT, title=title)

    def add() -> str:
        event_id = pixel.track("AddToCart", content_id="mug", value=12.5, currency="USD")
        ids.append(event_id)
        return event_id

    strict_csp_when_asked(app)

    @app.get("/htmx.min.js")
    def htmx_script() -> Response:
        return send_file(htmx, mimetype="text/javascript")

    @app.before_request
    def note_restores() -> None:
        if request.headers.get("HX-History-Restore-Request") == "true":
            restores.append(request.full_path.rstrip("?"))

    @app.get("/search")
    def search() -> str:
        query = request.args.get("q", "")
        ids.append(pixel.track("Search", query=query))
        # The usual htmx view: the results alone for hx-get, the whole page for a visit and
        # for htmx's history restore (which htmx 2 sends with HX-Request too).
        if request.headers.get("HX-Request") and not request.headers.get(
            "HX-History-Restore-Request"
        ):
            return f"results for {query}"
        return page("search")

    @app.post("/locate")
    def locate() -> Response:
        ids.append(pixel.track("SubmitForm"))
        response = Response("")
        response.headers["HX-Location"] = '{"path": "/b", "target": "body"}'
        return response

    @app.get("/")
    def home() -> str:
        pixel.identify(email="jane@example.com")
        return page("home")

    @app.get("/<name>")
    def other(name: str) -> str | tuple[str, int]:
        if name not in ("a", "b"):
            return "no such page", 404
        if name == "b":
            pixel.identify(external_id="b-visitor")
        ids.append(pixel.track("ViewContent", content_id=name))
        return page(name)

    @app.post("/add")
    def add_htmx() -> str:
        return f"added {add()}"

    @app.post("/oob")
    def add_oob() -> str:
        event_id = add()
        return f'main {event_id}<output id="side" hx-swap-oob="true">side {event_id}</output>'

    @app.post("/fail")
    def fail() -> tuple[str, int]:
        ids.append(pixel.track("ClickButton", description="failed"))
        return "that did not work", 422

    @app.get("/fragment")
    def fragment() -> str:
        event_id = add()
        return render_template_string("fragment {{ id }}{{ tiktok_pixel_calls() }}", id=event_id)

    @app.post("/pay")
    def pay() -> Response:
        # A boosted form post: deferred, then the redirect htmx follows in the background.
        ids.append(pixel.track("CompletePayment", value=5, currency="USD", defer=True))
        return redirect("/a")

    @app.post("/api/add")
    def api_add() -> Response:
        return jsonify(event_id=add())

    return app


@contextmanager
def running_partial_shop(htmx: Path = HTMX, **config: Any) -> Iterator[tuple[str, list[str]]]:
    """The test shop on a local server: its base URL, and the event ids its views got."""
    app = partial_shop(htmx, **config)
    with serve_app(app) as url:
        yield url, app.extensions["ids"]


def last_id(ids: list[str], page: Page | None = None, count: int = 1) -> str:
    """The id the last view got, once the server has handled ``count`` of them (or any)."""
    for _ in range(100):
        if len(ids) >= count:
            break
        if page is not None:
            page.wait_for_timeout(20)
    return ids[-1]
