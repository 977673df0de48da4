"""Requests at once, in one event loop and in the threadpool: no request sees another's state;
a client that goes away mid-stream, and a background task that tracks too late, leave the next
request clean."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from asgi_support import KINDS, Kind, endpoint, logged, served, site
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from pixel_embed import hash_email, order_event_id
from pixel_embed.errors import StreamingError
from pixel_embed.integrations.starlette import TikTokPixel
from pixel_embed.testing.asgi_server import serve_asgi


def test_two_async_requests_interleaved_in_one_loop_keep_their_own_calls() -> None:
    app, pixel = site("async")
    first_tracked = asyncio.Event()
    second_tracked = asyncio.Event()
    first_done = asyncio.Event()

    async def first(request: Request) -> Response:
        pixel.identify(email="first@example.com")
        pixel.track("ViewContent", content_id="first")
        first_tracked.set()
        await second_tracked.wait()  # the second request started and tracked meanwhile
        pixel.track("AddToCart", content_id="first-again")
        calls = repr(pixel.page_calls())
        first_done.set()
        return PlainTextResponse(calls)

    async def second(request: Request) -> Response:
        await first_tracked.wait()
        pixel.track("Search", query="second")
        second_tracked.set()
        await first_done.wait()  # still running while the first one finishes
        return PlainTextResponse(repr(pixel.page_calls()))

    app.router.routes[:0] = [Route("/first", first), Route("/second", second)]
    with served(app) as client, ThreadPoolExecutor(2) as pool:
        one = pool.submit(client.get, "/first")
        two = pool.submit(client.get, "/second")
        first_calls, second_calls = one.result(timeout=10).text, two.result(timeout=10).text
    assert "'first'" in first_calls
    assert "'first-again'" in first_calls
    assert hash_email("first@example.com") in first_calls
    assert "second" not in first_calls
    assert "'second'" in second_calls
    assert "first" not in second_calls
    assert "identify" not in second_calls


def test_two_threadpool_requests_at_once_keep_their_own_calls() -> None:
    app, pixel = site("sync")
    both_tracked = threading.Barrier(2, timeout=5)

    def view(request: Request) -> Response:
        name = request.path_params["name"]
        pixel.track("ViewContent", content_id=name)
        both_tracked.wait()  # both threads hold their state at once
        return PlainTextResponse(repr(pixel.page_calls()))

    app.router.routes[:0] = [Route("/at-once/{name}", view)]
    with served(app) as client, ThreadPoolExecutor(2) as pool:
        a = pool.submit(client.get, "/at-once/alpha")
        b = pool.submit(client.get, "/at-once/beta")
        alpha, beta = a.result(timeout=10).text, b.result(timeout=10).text
    assert "'alpha'" in alpha
    assert "beta" not in alpha
    assert "'beta'" in beta
    assert "alpha" not in beta


@pytest.mark.parametrize("kind", KINDS)
def test_many_visitors_at_once_each_get_only_their_own_identity_and_events(kind: Kind) -> None:
    app, pixel = site(kind)

    def first_calls(number: str) -> None:
        pixel.identify(email=f"visitor{number}@example.com")
        pixel.track("ViewContent", content_id=f"item-{number}")

    def last_calls(number: str) -> Response:
        pixel.track("AddToCart", content_id=f"item-{number}")
        return PlainTextResponse(repr(pixel.page_calls()))

    def visit(request: Request) -> Response:
        first_calls(request.path_params["number"])
        time.sleep(0.001)  # other threads run between the calls
        return last_calls(request.path_params["number"])

    async def visit_async(request: Request) -> Response:
        first_calls(request.path_params["number"])
        await asyncio.sleep(0.001)  # other requests run in the loop between the calls
        return last_calls(request.path_params["number"])

    view = visit_async if kind == "async" else visit
    app.router.routes[:0] = [Route("/visit/{number}", view)]
    visitors = range(60)
    with served(app) as client, ThreadPoolExecutor(12) as pool:
        pages = list(pool.map(lambda n: client.get(f"/visit/{n}").text, visitors))
    for number, calls in zip(visitors, pages, strict=True):
        assert hash_email(f"visitor{number}@example.com") in calls
        assert calls.count(f"'item-{number}'") == 2
        others = [n for n in visitors if n != number and f"'item-{n}'" in calls]
        assert others == [], f"visitor {number} saw {others}"


def test_a_client_gone_mid_stream_leaves_the_next_request_clean(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    app, pixel = site("async")
    started = threading.Event()

    async def slow(request: Request) -> Response:
        pixel.track("ViewContent", content_id="slow")
        html = pixel.render()

        async def body() -> AsyncIterator[str]:
            yield f"<head>{html}</head>"
            started.set()
            for _ in range(200):
                await asyncio.sleep(0.01)
                yield "."

        return StreamingResponse(body(), media_type="text/html")

    app.router.routes[:0] = [Route("/slow", slow)]
    with served(app) as client:
        with client.stream("GET", "/slow") as streamed:
            first = next(streamed.iter_text())
            assert '"content_id":"slow"' in first
            assert started.wait(5)
        # The connection is closed here, mid-stream.
        page = client.get("/product/next")
        assert '"content_id":"next"' in page.text
        assert "slow" not in page.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_a_background_task_that_tracks_is_told_it_is_too_late(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, pixel = site("async")

    def too_late() -> None:
        pixel.track("Purchase", value=1, currency="USD")

    async def with_task(request: Request) -> Response:
        return PlainTextResponse("ok", background=BackgroundTask(too_late))

    app.router.routes[:0] = [Route("/task", with_task)]
    with served(app) as client:
        assert client.get("/task").text == "ok"
        deadline = time.monotonic() + 5
        while not logged(caplog, StreamingError) and time.monotonic() < deadline:
            time.sleep(0.02)  # the task runs after the response went out
    errors = logged(caplog, StreamingError)
    assert errors, caplog.text
    assert "after the response started" in str(errors[0])


def test_a_pixel_of_another_app_is_refused_with_the_fix() -> None:
    app, _ = site("async")
    stranger = TikTokPixel({"TIKTOK_PIXEL_CODE": "CZYXWV0987654321ZYXW"})

    async def wrong(request: Request) -> Response:
        try:
            stranger.track("ViewContent")
        except RuntimeError as error:
            return PlainTextResponse(str(error))
        return PlainTextResponse("tracked")

    app.router.routes[:0] = [Route("/wrong", wrong)]
    with served(app) as client:
        answer = client.get("/wrong").text
    assert "not the one PixelMiddleware serves" in answer


@pytest.mark.parametrize("kind", KINDS)
def test_many_visitors_defer_at_once_and_each_page_shows_only_their_own(kind: Kind) -> None:
    """Forty browsers (each its own cookie jar) buy at once: each thank-you page after the
    redirect shows that browser's purchase and identity, once, and nobody else's."""
    app, pixel = site(kind)

    def buy(request: Request) -> Response:
        number = request.path_params["number"]
        pixel.identify(email=f"visitor{number}@example.com", defer=True)
        pixel.track("CompletePayment", value=1, currency="USD", order_id=f"O-{number}", defer=True)
        return RedirectResponse("/thanks", status_code=303)

    app.router.routes[:0] = [Route("/buy/{number}", endpoint(buy, kind), methods=["POST"])]
    visitors = range(40)

    def visit(number: int) -> tuple[str, str]:
        with httpx.Client(base_url=url, timeout=10) as browser:
            page = browser.post(f"/buy/{number}", follow_redirects=True).text
            return page, browser.get("/thanks").text

    with serve_asgi(app) as url, ThreadPoolExecutor(12) as pool:
        pages = list(pool.map(visit, visitors))
    for number, (page, again) in zip(visitors, pages, strict=True):
        assert page.count(order_event_id("CompletePayment", f"O-{number}")) == 1
        assert hash_email(f"visitor{number}@example.com") in page
        others = [n for n in visitors if n != number and f'"O-{n}"' in page]
        assert others == [], f"visitor {number} saw {others}"
        assert "CompletePayment" not in again
