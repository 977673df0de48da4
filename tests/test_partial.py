"""Partial responses on the server: what travels in the PixelEmbed-Calls header and in
tiktok_pixel_calls(), and what never does."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from conftest import CODE, OTHER_CODE, make_app, page
from flask import Flask, jsonify, redirect, render_template_string, send_file
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.wrappers import Response

from pixel_embed import ConfigurationError, TikTokPixel, hash_email
from pixel_embed.partial import HEADER, MAX_HEADER_BYTES, SCRIPT_NAME, encode_calls, encode_to_fit
from pixel_embed.render import PixelCall

HTMX = {"HX-Request": "true"}
FETCH = {"Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "cors"}


def shop(**config: Any) -> tuple[Flask, TikTokPixel]:
    app = make_app(**{"TIKTOK_PIXEL_PARTIAL": True, **config})
    pixel = TikTokPixel(app, nonce=lambda: "n0nce")

    @app.post("/add")
    def add() -> str:
        pixel.identify(email="Jane@Example.com")
        app.extensions["last_id"] = pixel.track(
            "AddToCart", content_id="mug", value=12.5, currency="USD"
        )
        return "added"

    @app.post("/api/add")
    def api_add() -> Response:
        event_id = pixel.track("AddToCart", content_id="mug")
        return jsonify(event_id=event_id, ok=True)

    @app.post("/later")
    def later() -> Response:
        pixel.track("Subscribe", event_id="sub-1", defer=True)
        return redirect("/")

    @app.post("/redirect")
    def redirected() -> Response:
        pixel.track("ClickButton", event_id="lost-1")
        return redirect("/")

    @app.get("/file")
    def file() -> Response:
        pixel.track("Download", event_id="dl-1")
        return send_file(__file__, as_attachment=True)

    @app.get("/")
    def home() -> str:
        pixel.track("ViewContent", content_id="home", event_id="home-1")
        return page()

    @app.get("/fragment")
    def fragment() -> str:
        pixel.track("AddToCart", description="</script><b>", event_id="frag-1")
        return render_template_string("<p>x</p>{{ tiktok_pixel_calls() }}")

    @app.get("/ping")
    def ping() -> str:
        return "pong"

    @app.post("/big")
    def big() -> str:
        for number in range(12):
            pixel.track("ClickButton", description="x" * 300, event_id=f"big-{number}")
        return "many"

    return app, pixel


@pytest.fixture
def app_pixel() -> tuple[Flask, TikTokPixel]:
    return shop()


@pytest.fixture
def app(app_pixel: tuple[Flask, TikTokPixel]) -> Flask:
    return app_pixel[0]


def calls_in(response: Any) -> list[list[Any]]:
    value = response.headers[HEADER]
    value.encode("ascii")  # header values are Latin-1: ours are plain ASCII
    calls: list[list[Any]] = json.loads(value)
    return calls


def test_an_htmx_post_carries_its_calls_in_the_header(app: Flask) -> None:
    response = app.test_client().post("/add", headers=HTMX)
    assert response.get_data(as_text=True) == "added"
    event_id = app.extensions["last_id"]
    assert calls_in(response) == [
        ["identify", [{"email": hash_email("jane@example.com")}]],
        [
            "track",
            [
                "AddToCart",
                {"content_id": "mug", "value": 12.5, "currency": "USD"},
                {"event_id": event_id},
            ],
        ],
    ]
    assert "jane" not in response.headers[HEADER].lower()
    assert response.headers["Cache-Control"] == "private"


def test_a_fetch_gets_the_header_and_an_unchanged_json_body(app: Flask) -> None:
    response = app.test_client().post("/api/add", headers=FETCH)
    body = response.get_json()
    assert body == {"event_id": body["event_id"], "ok": True}
    assert calls_in(response) == [
        ["track", ["AddToCart", {"content_id": "mug"}, {"event_id": body["event_id"]}]]
    ]
    jquery = app.test_client().post("/api/add", headers={"X-Requested-With": "XMLHttpRequest"})
    assert HEADER in jquery.headers


def test_a_client_that_is_not_a_browser_keeps_todays_warning(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "pixel_embed"):
        response = app.test_client().post("/api/add")
    assert HEADER not in response.headers
    assert "were never rendered" in caplog.text


@pytest.mark.parametrize(("path", "method"), [("/redirect", "post"), ("/file", "get")])
def test_a_redirect_or_a_download_cannot_deliver_and_says_so(
    app: Flask, caplog: pytest.LogCaptureFixture, path: str, method: str
) -> None:
    with caplog.at_level(logging.WARNING, "pixel_embed"):
        response = getattr(app.test_client(), method)(path, headers=HTMX)
    assert HEADER not in response.headers
    assert "were never rendered" in caplog.text


def test_deferred_events_wait_for_an_htmx_response_not_for_any_fetch(app: Flask) -> None:
    client = app.test_client()
    client.post("/later")  # a plain form post: deferred to the next page
    assert "sub-1" not in client.post("/api/add", headers=FETCH).headers[HEADER]
    # An htmx request that tracked nothing leaves them where they are.
    assert HEADER not in client.get("/ping", headers=HTMX).headers
    delivered = client.post("/add", headers=HTMX)
    tracked = [call[1][2]["event_id"] for call in calls_in(delivered) if call[0] == "track"]
    assert tracked[:1] == ["sub-1"]
    # Fired once: the next full page has no trace of it.
    assert "sub-1" not in client.get("/").get_data(as_text=True)


def test_a_boosted_page_has_no_second_bootstrap_and_varies_on_the_request(app: Flask) -> None:
    client = app.test_client()
    client.post("/add")  # identify on a request without the pixel: nothing remembered
    response = client.get("/", headers={**HTMX, "HX-Boosted": "true"})
    html = response.get_data(as_text=True)
    assert "ttq.load" not in html
    assert SCRIPT_NAME not in html
    assert f"in its {HEADER} header" in html
    assert calls_in(response) == [
        ["track", ["ViewContent", {"content_id": "home"}, {"event_id": "home-1"}]]
    ]
    assert "HX-Request" in response.headers["Vary"]
    full = client.get("/")
    assert "ttq.load" in full.get_data(as_text=True)
    assert HEADER not in full.headers


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", "/api/add", HTMX),
        ("POST", "/api/add", {"X-Requested-With": "XMLHttpRequest"}),
        ("POST", "/add", FETCH),
        ("GET", "/ping", HTMX),
        ("GET", "/", HTMX),
        ("GET", "/ping", {"X-Requested-With": "XMLHttpRequest"}),
    ],
)
def test_a_partial_response_that_never_used_the_session_does_not_vary_on_cookie(
    method: str, path: str, headers: dict[str, str]
) -> None:
    """A regression of the split: asking whether a session could be written touched Flask's
    session, and every htmx or fetch() response got ``Vary: Cookie`` (a cache then keeps one
    copy per visitor). The headers must be those of the same site without any session."""

    def headers_of(app: Flask) -> dict[str, str | None]:
        response = app.test_client().open(path, method=method, headers=headers)
        return {name: response.headers.get(name) for name in ("Vary", "Cache-Control")}

    with_session = headers_of(shop()[0])
    assert "Cookie" not in (with_session["Vary"] or "")
    assert with_session == headers_of(shop(SECRET_KEY=None)[0])


def test_full_pages_include_the_client_scripts_loader_with_the_nonce(app: Flask) -> None:
    html = app.test_client().get("/").get_data(as_text=True)
    assert '<script data-src="/_pixel_embed/pixel_embed_partial.js?v=' in html
    loader = html.split('<script data-src="', 1)[1].split("</script>", 1)[0]
    assert ' nonce="n0nce">(function (w, d, s) {' in loader
    # No request while the page loads: the script is asked for once the document is parsed.
    assert '"DOMContentLoaded", later' in loader
    assert "/*" not in loader
    assert len(loader.encode()) < 1024
    assert html.index("ttq.load") < html.index(SCRIPT_NAME)


def test_the_script_tag_says_the_consent_mode_and_the_pixels() -> None:
    app, _ = shop(TIKTOK_PIXEL_CONSENT="strict", TIKTOK_PIXEL_CODE=[CODE, OTHER_CODE])
    html = app.test_client().get("/").get_data(as_text=True)
    assert 'data-consent="strict"' in html
    assert f'data-pixels="[&#34;{CODE}&#34;,&#34;{OTHER_CODE}&#34;]"' in html


def test_the_client_script_is_served_small_and_cacheable(app: Flask) -> None:
    client = app.test_client()
    html = client.get("/").get_data(as_text=True)
    src = html.split('<script data-src="', 1)[1].split('"', 1)[0]
    response = client.get(src)
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    script = response.get_data(as_text=True)
    assert len(script.encode()) < 11 * 1024
    assert script.count("(function (w, d) {") == 1
    assert '"use strict";' in script
    assert "eval(" not in script
    assert "new Function" not in script
    unversioned = client.get(f"/_pixel_embed/{SCRIPT_NAME}")
    assert unversioned.headers["Cache-Control"] == "no-cache"
    again = client.get(src, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_a_fragment_renders_a_json_block_that_is_safe_in_html(app: Flask) -> None:
    response = app.test_client().get("/fragment", headers=HTMX)
    html = response.get_data(as_text=True)
    start = '<script type="application/json" data-pixel-embed-calls nonce="n0nce">'
    assert html.startswith("<p>x</p>" + start)
    data = html[len("<p>x</p>" + start) : -len("</script>")]
    assert "<" not in data
    assert json.loads(data) == [
        ["track", ["AddToCart", {"description": "</script><b>"}, {"event_id": "frag-1"}]]
    ]
    # Rendered in the fragment, so not sent again in the header.
    assert HEADER not in response.headers
    assert response.headers["Cache-Control"] == "private"


def test_what_does_not_fit_the_header_waits_for_the_next_page(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    client = app.test_client()
    with caplog.at_level(logging.WARNING, "pixel_embed"):
        response = client.post("/big", headers=HTMX)
    value = response.headers[HEADER]
    assert len(value) <= MAX_HEADER_BYTES
    sent = [call[1][2]["event_id"] for call in calls_in(response)]
    assert sent == [f"big-{n}" for n in range(len(sent))]
    assert 0 < len(sent) < 12
    assert f"{12 - len(sent)} event(s) did not fit" in caplog.text
    later = client.get("/").get_data(as_text=True)
    # The session keeps what fits its byte budget, the newest first; the rest is named as
    # dropped in a warning: nothing is lost silently.
    waiting = [n for n in range(len(sent), 12) if f'"big-{n}"' in later]
    dropped = re.search(r"deferred events for the session .*; dropped (\d+)", caplog.text)
    assert waiting == list(range(12 - len(waiting), 12))
    assert len(waiting) + (int(dropped[1]) if dropped else 0) == 12 - len(sent)
    assert not any(f'"big-{n}"' in later for n in range(len(sent)))


def test_off_by_default_nothing_changes(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app()
    pixel = TikTokPixel(app)

    @app.post("/add")
    def add() -> str:
        pixel.track("AddToCart")
        return render_template_string("{{ tiktok_pixel_calls() }}")

    app.add_url_rule("/", view_func=page)
    client = app.test_client()
    assert SCRIPT_NAME not in client.get("/").get_data(as_text=True)
    with caplog.at_level(logging.WARNING, "pixel_embed"):
        response = client.post("/add", headers=HTMX)
    assert HEADER not in response.headers
    assert "needs TIKTOK_PIXEL_PARTIAL = True" in response.get_data(as_text=True)
    assert "were never rendered" in caplog.text
    assert client.get(f"/_pixel_embed/{SCRIPT_NAME}").status_code == 404


def test_no_header_for_internal_addresses_or_a_disabled_pixel() -> None:
    internal, _ = shop(TIKTOK_PIXEL_INTERNAL_IPS=["127.0.0.1"])
    assert HEADER not in internal.test_client().post("/add", headers=HTMX).headers
    disabled, _ = shop(TIKTOK_PIXEL_ENABLED=False)
    response = disabled.test_client().post("/add", headers=HTMX)
    assert response.status_code == 200
    assert HEADER not in response.headers


def test_the_setting_must_be_a_boolean() -> None:
    with pytest.raises(ConfigurationError, match="TIKTOK_PIXEL_PARTIAL must be True or False"):
        shop(TIKTOK_PIXEL_PARTIAL="yes")


def test_encode_to_fit_keeps_the_order_and_counts_the_rest() -> None:
    calls = [PixelCall("track", ("E", {"n": n}, {"event_id": str(n)})) for n in range(5)]
    each = len(encode_calls(calls[:1])) - 2
    value, left = encode_to_fit(calls, 2 + each * 3 + 2)
    assert value == encode_calls(calls[:3])
    assert left == 2
    assert encode_to_fit(calls, 10_000) == (encode_calls(calls), 0)
    assert encode_to_fit(calls, 10) == ("[]", 5)


@settings(max_examples=60, deadline=None)
@given(text=st.text(min_size=1, max_size=200).filter(lambda t: t.strip()))
def test_any_text_travels_as_ascii_html_safe_json(text: str) -> None:
    app = make_app(TIKTOK_PIXEL_PARTIAL=True, TIKTOK_PIXEL_STRICT=False)
    pixel = TikTokPixel(app)

    @app.post("/t")
    def view() -> str:
        pixel.track("ClickButton", description=text, event_id="e-1")
        return "ok"

    response = app.test_client().post("/t", headers=HTMX)
    value = response.headers.get(HEADER)
    if value is None:  # the description was refused (and dropped) by validation
        return
    assert value.isascii()
    assert not set("<>&'\r\n") & set(value)
    assert json.loads(value)[0][1][1].get("description", text) == text


# -- caches: every variant of a page varies on what chooses it (issue 24, finding 4) -----------

VARIED = {"HX-Request", "HX-History-Restore-Request", "Sec-Fetch-Dest", "Sec-Fetch-Mode"}


@pytest.mark.parametrize("headers", [{}, HTMX, FETCH], ids=["full page", "htmx", "fetch"])
def test_every_variant_of_a_page_varies_on_the_request_headers_that_choose_it(
    app: Flask, headers: dict[str, str]
) -> None:
    response = app.test_client().get("/", headers=headers)
    assert set(response.vary) >= VARIED


def test_a_placeholder_page_never_reaches_a_shared_cache() -> None:
    app, _ = shop()

    @app.get("/public")
    def public() -> Response:
        # A page with nothing personal, which the site marks cacheable by a CDN.
        response = Response(render_template_string("<p>{{ tiktok_pixel() }}</p>"))
        response.headers["Cache-Control"] = "public, max-age=600"
        response.headers["CDN-Cache-Control"] = "max-age=600"
        return response

    client = app.test_client()
    full = client.get("/public")
    assert "public" in full.headers["Cache-Control"]  # the full page may be shared
    placeholder = client.get("/public", headers=HTMX)
    assert "TikTok Pixel: this response's calls" in placeholder.get_data(as_text=True)
    assert placeholder.cache_control.private
    assert not placeholder.cache_control.public
    assert placeholder.headers["CDN-Cache-Control"] == "no-store"


# -- history restores are not visits -------------------------------------------------------------

RESTORE = {"HX-History-Restore-Request": "true"}


@pytest.mark.parametrize(
    "headers",
    [{**RESTORE, **FETCH}, {**RESTORE, **HTMX, **FETCH}],
    ids=["htmx 1.x", "htmx 2.x"],
)
def test_a_history_restore_fires_nothing_and_keeps_deferred_events(
    app: Flask, headers: dict[str, str]
) -> None:
    client = app.test_client()
    client.post("/later")  # Subscribe, deferred
    restored = client.get("/", headers=headers)
    assert HEADER not in restored.headers
    html = restored.get_data(as_text=True)
    assert "history restore (HX-History-Restore-Request) is not a visit" in html
    assert "ttq" not in html
    assert restored.cache_control.private
    # The next real page fires the deferred event (and its own).
    html = client.get("/").get_data(as_text=True)
    assert '"event_id":"sub-1"' in html
    assert '"event_id":"home-1"' in html


def test_a_history_restore_with_partial_pages_off_renders_no_calls() -> None:
    app = make_app()
    pixel = TikTokPixel(app)

    @app.get("/")
    def home() -> str:
        pixel.track("Search", query="mug", event_id="s-1")
        return page()

    html = app.test_client().get("/", headers=RESTORE).get_data(as_text=True)
    assert "s-1" not in html
    assert "is not a visit" in html


# -- HX-Redirect and HX-Refresh leave the page: the calls wait for the next one ------------------


@pytest.mark.parametrize("header", [("HX-Redirect", "/"), ("HX-Refresh", "true")])
def test_an_htmx_response_that_loads_a_whole_page_defers_its_calls(
    app: Flask, header: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    @app.post("/signup")
    def signup() -> Response:
        pixel_of(app).track("CompleteRegistration", event_id="reg-1")
        return Response("", headers=[header])

    client = app.test_client()
    with caplog.at_level(logging.WARNING, "pixel_embed"):
        response = client.post("/signup", headers=HTMX)
    assert HEADER not in response.headers
    assert "never rendered" not in caplog.text
    assert '"event_id":"reg-1"' in client.get("/").get_data(as_text=True)


def pixel_of(app: Flask) -> TikTokPixel:
    pixel = app.extensions["tiktok_pixel"]
    assert isinstance(pixel, TikTokPixel)
    return pixel


# -- the warning with TIKTOK_PIXEL_PARTIAL off names the request and the setting (finding 6) ------


@pytest.mark.parametrize(
    ("headers", "kind"),
    [(HTMX, "an htmx request (HX-Request)"), (FETCH, "a fetch() or XMLHttpRequest request")],
)
def test_partial_pages_off_the_warning_names_the_request_and_the_setting(
    caplog: pytest.LogCaptureFixture, headers: dict[str, str], kind: str
) -> None:
    app = make_app()
    pixel = TikTokPixel(app)

    @app.post("/add")
    def add() -> str:
        pixel.track("AddToCart", content_id="mug")
        return "added"

    with caplog.at_level(logging.WARNING, "pixel_embed"):
        app.test_client().post("/add", headers=headers)
    assert kind in caplog.text
    assert "TIKTOK_PIXEL_PARTIAL = True" in caplog.text
    assert "{{ tiktok_pixel() }}" not in caplog.text
