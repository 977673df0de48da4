"""Shared set-up of the Starlette/FastAPI tests: a small Starlette site whose views run as
``async def`` or as ``def`` endpoints, served by uvicorn on a local port."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

import httpx
import pytest
from jinja2 import DictLoader, Environment
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.templating import Jinja2Templates

from pixel_embed import ConfigurationError
from pixel_embed.integrations.starlette import PixelMiddleware, TikTokPixel
from pixel_embed.testing.asgi_server import serve_asgi
from pixel_embed.testing.events_api import FakeEventsApi

Kind = Literal["async", "sync"]
KINDS: tuple[Kind, ...] = ("async", "sync")
CODE = "CABCDE1234567890ABCD"
SECRET = "asgi-test-secret"
LAYOUT = "<!doctype html><html><head>{{ tiktok_pixel() }}</head><body>{{ body }}</body></html>"
TEMPLATES = {
    "page.html": LAYOUT,
    "fragment.html": "<span>{{ body }}</span>{{ tiktok_pixel_calls() }}",
    "macro.html": '{% from "pixel_embed/macros.html" import tiktok_pixel %}{{ tiktok_pixel() }}',
}
View = Callable[[Request], Response]
T = TypeVar("T")


def endpoint(view: View, kind: Kind) -> Callable[[Request], Any]:
    """``view`` as Starlette runs it: a ``def`` (in the threadpool) or wrapped in an
    ``async def`` (in the event loop)."""
    if kind == "sync":
        return view

    @functools.wraps(view)
    async def run(request: Request) -> Response:
        return view(request)

    return run


def templates(pixel: TikTokPixel) -> Jinja2Templates:
    found = Jinja2Templates(env=Environment(loader=DictLoader(TEMPLATES), autoescape=True))
    pixel.install(found)
    return found


def site(
    kind: Kind,
    *,
    session: Literal["outside", "inside", "none", "mounted"] = "outside",
    extra: list[Route | Mount] | None = None,
    **config: Any,
) -> tuple[Starlette, TikTokPixel]:
    """The test site: its views track, identify, defer and stream as each test needs.

    :param session: where ``SessionMiddleware`` is: outside the pixel's middleware (right),
        inside it (wrong), nowhere, or on a mounted sub-app (wrong, and unseen at start-up).
    """
    pixel = TikTokPixel({"TIKTOK_PIXEL_CODE": CODE, "TIKTOK_PIXEL_STRICT": True, **config})
    pages = templates(pixel)

    def page(request: Request, body: str = "") -> Response:
        return pages.TemplateResponse(request, "page.html", {"body": body})

    def home(request: Request) -> Response:
        return page(request, "home")

    def product(request: Request) -> Response:
        slug = request.path_params["slug"]
        pixel.track("ViewContent", content_id=slug, value=12.5, currency="USD")
        return page(request, slug)

    def login(request: Request) -> Response:
        pixel.identify(email=request.query_params.get("email", "jane@example.com"), defer=True)
        return RedirectResponse("/", status_code=303)

    def logout(request: Request) -> Response:
        pixel.forget()
        return RedirectResponse("/", status_code=303)

    def buy(request: Request) -> Response:
        try:
            pixel.track("CompletePayment", value=42.5, currency="USD", order_id="A-1", defer=True)
        except ConfigurationError as error:  # the test reads the message over HTTP
            return PlainTextResponse(str(error), status_code=500)
        return RedirectResponse("/thanks", status_code=303)

    def thanks(request: Request) -> Response:
        return page(request, "thank you")

    def cart_add(request: Request) -> Response:
        pixel.track("AddToCart", content_id="mug", value=12.5, currency="USD")
        return pages.TemplateResponse(request, "fragment.html", {"body": "added"})

    def api(request: Request) -> Response:
        pixel.track("AddToWishlist", content_id="mug")
        return Response('{"ok": true}', media_type="application/json")

    def streamed_late(request: Request) -> Response:
        template = pages.get_template("page.html")
        pixel.track("ViewContent", content_id="late")
        # tiktok_pixel() runs while the body is sent: too late, and it says so.
        return StreamingResponse(template.generate(body="late"), media_type="text/html")

    def streamed_early(request: Request) -> Response:
        pixel.track("ViewContent", content_id="early")
        html = pixel.render()  # before the response starts, as docs/starlette.md says

        def body() -> Iterator[str]:
            yield f"<!doctype html><html><head>{html}</head><body>"
            yield from ("part " for _ in range(3))
            yield "</body></html>"

        return StreamingResponse(body(), media_type="text/html")

    def macro(request: Request) -> Response:
        pixel.track("Search", query="mugs")
        return pages.TemplateResponse(request, "macro.html", {})

    views: dict[str, tuple[View, tuple[str, ...]]] = {
        "/": (home, ("GET",)),
        "/product/{slug}": (product, ("GET",)),
        "/login": (login, ("POST",)),
        "/logout": (logout, ("POST",)),
        "/buy": (buy, ("POST",)),
        "/thanks": (thanks, ("GET",)),
        "/cart/add": (cart_add, ("POST",)),
        "/api/wishlist": (api, ("POST",)),
        "/streamed/late": (streamed_late, ("GET",)),
        "/streamed/early": (streamed_early, ("GET",)),
        "/macro": (macro, ("GET",)),
    }
    routes: list[Route | Mount] = [
        Route(path, endpoint(view, kind), methods=list(methods))
        for path, (view, methods) in views.items()
    ]
    session_layer = Middleware(SessionMiddleware, secret_key=SECRET)
    pixel_layer = Middleware(PixelMiddleware, pixel=pixel)
    middleware = {
        "outside": [session_layer, pixel_layer],
        "inside": [pixel_layer, session_layer],
        "none": [pixel_layer],
        "mounted": [pixel_layer],
    }[session]
    if session == "mounted":
        routes = [Mount("/", app=Starlette(routes=routes, middleware=[session_layer]))]
    app = Starlette(routes=[*(extra or []), *routes], middleware=middleware)
    return app, pixel


@contextmanager
def served(app: Any) -> Iterator[httpx.Client]:
    """``app`` on uvicorn, and an HTTP client (with a cookie jar, as one browser) for it."""
    with serve_asgi(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield client


def calls_header(response: httpx.Response) -> str:
    value: str = response.headers.get("PixelEmbed-Calls", "")
    return value


def logged(caplog: pytest.LogCaptureFixture, kind: type[BaseException]) -> list[BaseException]:
    """The exceptions of type ``kind`` that the log records carry, also inside the exception
    groups that Starlette's task groups raise (a ``StreamingResponse``'s, before 0.38)."""
    found: list[BaseException] = []

    def walk(error: BaseException | None) -> None:
        if isinstance(error, kind):
            found.append(error)
        elif isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:
                walk(inner)

    for record in caplog.records:
        if record.exc_info:
            walk(record.exc_info[1])
    return found


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to the end in an event loop of its own, on a thread of its own: the
    test's thread may have one running already (Playwright's sync API, once a browser test
    ran in this session), which ``asyncio.run`` refuses to share."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def to_fake(fake: FakeEventsApi, queue: str = "memory") -> dict[str, Any]:
    """The settings that send a site's server events to ``fake``, fast, through ``queue``."""
    return {
        "TIKTOK_PIXEL_ACCESS_TOKEN": fake.access_token,
        "TIKTOK_PIXEL_EVENTS_API_URL": fake.url,
        "TIKTOK_PIXEL_EVENTS_API_BACKOFF": 0.01,
        "TIKTOK_PIXEL_EVENTS_QUEUE": queue,
    }
