"""The Starlette integration over real HTTP (uvicorn on a local port): each behaviour from an
``async def`` and from a ``def`` endpoint, as Flask's tests prove it for Flask."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_support import (
    CODE,
    KINDS,
    Kind,
    calls_header,
    endpoint,
    logged,
    run_async,
    served,
    site,
    templates,
    to_fake,
)
from events_api_support import fake_api
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from pixel_embed import PixelError, hash_email, order_event_id
from pixel_embed.errors import StreamingError
from pixel_embed.integrations.starlette import TikTokPixel
from pixel_embed.integrations.starlette.pixel import MISPLACED_SESSION, SESSION_HINT
from pixel_embed.testing.asgi_server import serve_asgi


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> Kind:
    kind: Kind = request.param
    return kind


def test_a_page_carries_its_events_and_only_once(kind: Kind) -> None:
    app, _ = site(kind)
    with served(app) as client:
        html = client.get("/product/mug").text
        assert html.count("<script>") == 1
        assert f'ttq.load("{CODE}")' in html
        assert '"ViewContent"' in html
        assert '"content_id":"mug"' in html
        # Nothing carried to the next page.
        assert '"ViewContent"' not in client.get("/").text


def test_the_macro_import_renders_the_same_pixel(kind: Kind) -> None:
    app, _ = site(kind)
    with served(app) as client:
        html = client.get("/macro").text
    assert '"Search"' in html
    assert f'ttq.load("{CODE}")' in html


def test_a_deferred_purchase_fires_once_after_the_redirect(kind: Kind) -> None:
    app, _ = site(kind)
    with served(app) as client:
        posted = client.post("/buy")
        assert posted.status_code == 303
        assert "session=" in posted.headers["set-cookie"]
        thanks = client.get("/thanks")
        assert order_event_id("CompletePayment", "A-1") in thanks.text
        assert thanks.headers["cache-control"] == "private"
        assert "CompletePayment" not in client.get("/thanks").text


def test_a_login_identity_is_hashed_and_carried_to_the_next_page(kind: Kind) -> None:
    app, _ = site(kind)
    with served(app) as client:
        page = client.post("/login", params={"email": " Jane@Example.COM "}, follow_redirects=True)
    assert hash_email("jane@example.com") in page.text
    assert "Jane@Example" not in page.text
    assert "jane@example.com" not in page.text
    assert page.headers["cache-control"] == "private"


def test_forget_drops_what_was_carried(kind: Kind) -> None:
    app, _ = site(kind)
    with served(app) as client:
        client.post("/login")
        client.post("/buy")
        page = client.post("/logout", follow_redirects=True)
    assert "ttq.identify(" not in page.text
    assert "CompletePayment" not in page.text


def test_htmx_gets_its_calls_in_the_header_and_the_body_is_untouched(kind: Kind) -> None:
    app, _ = site(kind, TIKTOK_PIXEL_PARTIAL=True)
    with served(app) as client:
        answered = client.post("/api/wishlist", headers={"HX-Request": "true"})
        assert answered.text == '{"ok": true}'
        [call] = json.loads(calls_header(answered))
        assert call[0] == "track"
        assert call[1][0] == "AddToWishlist"
        assert answered.headers["cache-control"] == "private"
        page = client.get("/")
        assert "HX-Request" in page.headers["vary"]
        assert "/_pixel_embed/pixel_embed_partial.js?v=" in page.text
        script = page.text.split('data-src="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        served_script = client.get(script)
        assert served_script.status_code == 200
        assert "immutable" in served_script.headers["cache-control"]
        assert "pixelEmbed" in served_script.text
        again = client.get(script, headers={"If-None-Match": served_script.headers["etag"]})
        assert again.status_code == 304
        stale = client.get(script.split("?")[0] + "?v=0")
        assert stale.headers["cache-control"] == "no-cache"


def test_a_fragment_carries_its_calls_in_a_data_block(kind: Kind) -> None:
    app, _ = site(kind, TIKTOK_PIXEL_PARTIAL=True)
    with served(app) as client:
        answered = client.post(
            "/cart/add", headers={"Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "cors"}
        )
    assert "data-pixel-embed-calls" in answered.text
    assert '"AddToCart"' in answered.text
    assert "PixelEmbed-Calls" not in answered.headers


# -- the session: missing, misplaced -----------------------------------------------------------


def test_defer_without_a_session_names_the_middleware_to_add(kind: Kind) -> None:
    app, _ = site(kind, session="none")
    with served(app) as client:
        answered = client.post("/buy")
        # Pages without defer work.
        assert '"ViewContent"' in client.get("/product/mug").text
    assert answered.status_code == 500
    assert answered.text.endswith(SESSION_HINT)
    assert "add Starlette's SessionMiddleware outside PixelMiddleware" in answered.text


def test_a_session_inside_the_pixel_stops_the_app_at_startup(
    kind: Kind, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = site(kind, session="inside")
    with pytest.raises(PixelError, match="did not start"), serve_asgi(app):
        pass
    assert MISPLACED_SESSION in caplog.text


def test_a_session_inside_the_pixel_stops_starlettes_test_client_at_startup(kind: Kind) -> None:
    """Starlette's TestClient waits for the app to end its lifespan after startup.failed (as
    Starlette's Router does by raising): an app that only returned left it hanging on exit."""
    app, _ = site(kind, session="inside")
    outcome: list[BaseException | None] = []

    def enter() -> None:
        try:
            with TestClient(app):
                outcome.append(None)
        except BaseException as error:  # handed to the test's thread
            outcome.append(error)

    runner = threading.Thread(target=enter, daemon=True)
    runner.start()
    runner.join(timeout=10)
    assert not runner.is_alive(), "TestClient hung on a misplaced session"
    assert len(outcome) == 1
    assert isinstance(outcome[0], PixelError)
    assert str(outcome[0]) == MISPLACED_SESSION


def test_a_session_on_a_mounted_app_is_refused_where_it_is_needed(kind: Kind) -> None:
    app, _ = site(kind, session="mounted")
    with served(app) as client:
        answered = client.post("/buy")
    assert answered.status_code == 500
    assert answered.text == MISPLACED_SESSION


# -- streaming -----------------------------------------------------------------------------------


def test_a_page_rendered_before_streaming_works(kind: Kind) -> None:
    app, _ = site(kind)
    with served(app) as client:
        client.post("/buy")
        page = client.get("/streamed/early")
        assert page.text.count("part ") == 3
        assert '"content_id":"early"' in page.text
        # The deferred purchase was taken out of the session with the page's headers.
        assert order_event_id("CompletePayment", "A-1") in page.text
        assert page.headers["cache-control"] == "private"
        assert "CompletePayment" not in client.get("/thanks").text


def test_rendering_while_streaming_is_a_clear_error(
    kind: Kind, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = site(kind)
    with served(app) as client, pytest.raises(httpx.RemoteProtocolError):
        client.get("/streamed/late")
    errors = logged(caplog, StreamingError)
    assert errors, caplog.text
    assert "Call pixel.render() in the view before" in str(errors[0])


# -- outside a request ---------------------------------------------------------------------------


def test_outside_a_request_the_error_says_where_to_call_it() -> None:
    pixel = TikTokPixel({"TIKTOK_PIXEL_CODE": CODE})
    with pytest.raises(RuntimeError, match="needs a request served through PixelMiddleware"):
        pixel.track("ViewContent")


def test_errors_in_the_app_pass_through_and_the_next_request_is_clean(
    kind: Kind, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    app, _ = site(kind, session="none")
    with served(app) as client:
        assert client.get("/product/mug").status_code == 200
        assert client.get("/no/such/page").status_code == 404
        assert '"content_id":"mug"' not in client.get("/").text


# -- the response's cache headers ----------------------------------------------------------------


def test_a_personal_page_keeps_the_views_cache_directives_but_public(kind: Kind) -> None:
    def cached(request: Request) -> Response:
        pixel.identify(email="jane@example.com")
        response = pages.TemplateResponse(request, "page.html", {"body": "cached"})
        response.headers["Cache-Control"] = "public, max-age=60, s-maxage=600"
        response.headers["CDN-Cache-Control"] = "max-age=600"
        response.headers["Vary"] = "Accept-Encoding"
        return response

    app, pixel = site(kind, TIKTOK_PIXEL_PARTIAL=True)
    pages = templates(pixel)
    app.router.routes.insert(0, Route("/cached", endpoint(cached, kind)))
    with served(app) as client:
        page = client.get("/cached")
    assert page.headers["cache-control"] == "max-age=60, private"
    assert page.headers["cdn-cache-control"] == "no-store"
    assert page.headers.get_list("vary") == [
        "Accept-Encoding, HX-Request, HX-History-Restore-Request, Sec-Fetch-Dest, "
        "Sec-Fetch-Mode, X-Requested-With"
    ]


def test_once_sends_an_order_once_and_keeps_the_page_out_of_every_cache(kind: Kind) -> None:
    def thanks_once(request: Request) -> Response:
        pixel.track("CompletePayment", value=5, currency="USD", order_id="B-7", once="B-7")
        return pages.TemplateResponse(request, "page.html", {"body": "thanks"})

    app, pixel = site(kind)
    pages = templates(pixel)
    app.router.routes.insert(0, Route("/thanks-once", endpoint(thanks_once, kind)))
    with served(app) as client:
        first = client.get("/thanks-once")
        again = client.get("/thanks-once")
    assert order_event_id("CompletePayment", "B-7") in first.text
    assert first.headers["cache-control"] == "no-store"
    assert "CompletePayment" not in again.text


# -- templates, the FastAPI dependency, internal addresses -----------------------------------------


def test_two_pixels_on_one_templates_are_refused() -> None:
    _, pixel = site("async")
    pages = templates(pixel)
    pixel.install(pages)  # the same pixel again: nothing changes
    other = TikTokPixel({"TIKTOK_PIXEL_CODE": CODE})
    with pytest.raises(RuntimeError, match="Another TikTokPixel is installed on these templates"):
        other.install(pages)


def test_current_pixel_without_the_middleware_says_what_to_add() -> None:
    from pixel_embed.integrations.starlette import current_pixel

    with pytest.raises(RuntimeError, match=r"app.add_middleware\(PixelMiddleware, pixel=pixel\)"):
        run_async(current_pixel())


def test_an_internal_address_gets_a_comment_instead_of_the_pixel(kind: Kind) -> None:
    app, _ = site(kind, TIKTOK_PIXEL_INTERNAL_IPS=["127.0.0.0/8"])
    with served(app) as client:
        page = client.get("/product/mug").text
    assert "TikTok Pixel off: request from an internal address" in page
    assert "ttq.load(" not in page


def test_a_view_that_fails_still_sends_its_server_events(kind: Kind) -> None:
    """As Flask's after-request step does on its error page: the purchase may have happened."""

    def fails(request: Request) -> Response:
        pixel.track("CompletePayment", value=5, currency="USD", event_id="failed-1", server=True)
        raise RuntimeError("the view failed after tracking")

    with fake_api() as fake:
        app, pixel = site(kind, **to_fake(fake))
        app.router.routes.insert(0, Route("/fails", endpoint(fails, kind)))
        with served(app) as client:
            assert client.get("/fails").status_code == 500
        [event] = fake.wait_for_events(1)
        assert event["event_id"] == "failed-1"


@pytest.mark.parametrize("where", ["inside", "outside"])
def test_a_base_http_middleware_beside_the_pixels_changes_nothing(kind: Kind, where: str) -> None:
    """Starlette's BaseHTTPMiddleware runs the app in a task of its own (a copy of the context)."""

    async def stamp(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers["X-Stamp"] = where
        return response

    app, _ = site(kind)
    layer = Middleware(BaseHTTPMiddleware, dispatch=stamp)
    position = len(app.user_middleware) if where == "inside" else 1
    app.user_middleware.insert(position, layer)
    with served(app) as client:
        client.post("/buy")
        thanks = client.get("/thanks")
    assert order_event_id("CompletePayment", "A-1") in thanks.text
    assert thanks.headers["x-stamp"] == where
    assert thanks.headers["cache-control"] == "private"


def test_an_app_mounted_below_a_path_serves_its_script_there(kind: Kind) -> None:
    inner, _ = site(kind, TIKTOK_PIXEL_PARTIAL=True)
    outer = Starlette(routes=[Mount("/shop", app=inner)])
    with served(outer) as client:
        page = client.get("/shop/product/mug")
        assert '"content_id":"mug"' in page.text
        script = page.text.split('data-src="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        assert script.startswith("/shop/_pixel_embed/pixel_embed_partial.js?v=")
        assert "pixelEmbed" in client.get(script).text


@pytest.mark.parametrize("queue", ["memory", "outbox"])
def test_one_app_served_again_after_its_shutdown_still_delivers(
    kind: Kind, queue: str, tmp_path: Path
) -> None:
    """A test suite serves one app (its module's) for each test: each lifespan shutdown closes
    delivery, and the next startup opens it again."""

    def paid(request: Request) -> Response:
        order = request.path_params["order"]
        pixel.track("CompletePayment", value=5, currency="USD", event_id=order, server=True)
        return PlainTextResponse(order)

    with fake_api() as fake:
        outbox = "memory" if queue == "memory" else f"sqlite:///{tmp_path}/o.db"
        app, pixel = site(kind, **to_fake(fake, outbox))
        app.router.routes.insert(0, Route("/paid/{order}", endpoint(paid, kind)))
        for order in ("first-serve", "second-serve", "third-serve"):
            with served(app) as client:
                assert client.get(f"/paid/{order}").text == order
        events = fake.wait_for_events(3)
    assert sorted(e["event_id"] for e in events) == ["first-serve", "second-serve", "third-serve"]


def test_segment_calls_work_as_on_flask(kind: Kind) -> None:
    def completed(request: Request) -> Response:
        pixel.segment.track(
            "Order Completed", {"order_id": "S-1", "revenue": 42.5, "currency": "USD"}
        )
        return pages.TemplateResponse(request, "page.html", {"body": "done"})

    app, pixel = site(kind)
    pages = templates(pixel)
    app.router.routes.insert(0, Route("/completed", endpoint(completed, kind)))
    with served(app) as client:
        page = client.get("/completed").text
    # Mapped as Segment's destination maps it (its presets: PlaceAnOrder or CompletePayment).
    assert 'ttq.track("PlaceAnOrder"' in page or 'ttq.track("CompletePayment"' in page
    assert '"order_id":"S-1"' in page


@pytest.mark.parametrize(("consent", "kept"), [("none", True), ("strict", False)])
def test_an_ad_clicks_id_is_kept_where_consent_allows(kind: Kind, consent: str, kept: bool) -> None:
    with fake_api() as fake:
        app, _ = site(kind, **to_fake(fake), TIKTOK_PIXEL_CONSENT=consent)
        with served(app) as client:
            landed = client.get("/product/mug", params={"ttclid": "E.C.P.ad-click_1"})
            hostile = client.get("/product/mug", params={"ttclid": "<x>;\r\nSet-Cookie: a=b"})
    cookies = landed.headers.get_list("set-cookie")
    click = [c for c in cookies if c.startswith("ttclid=")]
    if kept:
        assert click == ["ttclid=E.C.P.ad-click_1; Max-Age=2592000; Path=/; HttpOnly; SameSite=Lax"]
    else:
        assert click == []
    assert not [c for c in hostile.headers.get_list("set-cookie") if c.startswith("ttclid=")]
