"""What the pixel costs a FastAPI site: the server part's pages (``server.py``), on FastAPI.

The same product listing, the same identify and three events, the same ``unchecked`` page (its
``tiktok_pixel()`` a plain function returning the script with digests computed beforehand, on
an app without the pixel's middleware), rendered by ``Jinja2Templates``:

- per request, straight through the ASGI app (no socket: the app's own time), one of each page
  in turn, thousands of times, in one event loop; the ratio that has a target is the pixel
  page's to its own unchecked page, with ``async def`` views (``asgi_ratio_vs_unchecked``) and
  with ``def`` views, which FastAPI runs in its threadpool (``asgi_sync_ratio_vs_unchecked``);
- requests per second over real HTTP: uvicorn in a process of its own (one worker), the load
  from this one (8 keep-alive connections), each page for half a second in turn, 16 times;
  the medians.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import DictLoader, Environment

from pixel_embed.integrations.starlette import PixelMiddleware, TikTokPixel

from .server import (
    _EVENTS,
    _PAGE,
    _PRODUCTS,
    _TEMPLATES,
    EMAIL,
    EXTERNAL_ID,
    PHONE,
    _event_params,
    _unchecked_script,
)
from .size import CODE
from .timing import median, ratio, sample_side_by_side

Message = MutableMapping[str, Any]
#: The pages of :func:`app`, each with an ``async def`` and a ``def`` view.
PAGES = ("none", "unchecked", "pixel")


def app() -> FastAPI:
    """The benchmark site: ``/none`` and ``/unchecked`` from a FastAPI app without the pixel,
    mounted beside the pixel's (``/pixel``), each view ``async def`` and, under ``/sync``,
    ``def``."""
    pixel = TikTokPixel({"TIKTOK_PIXEL_CODE": CODE, "TIKTOK_PIXEL_DEFAULT_REGION": "US"})
    templates = Jinja2Templates(env=Environment(loader=DictLoader(_TEMPLATES), autoescape=True))
    pixel.install(templates)
    plain = Jinja2Templates(env=Environment(loader=DictLoader(_TEMPLATES), autoescape=True))
    plain.env.globals["tiktok_pixel"] = _unchecked_script()

    def none(request: Request) -> HTMLResponse:
        context = {"products": _PRODUCTS, **_PAGE}
        return plain.TemplateResponse(request, "none.html", context)

    def unchecked(request: Request) -> HTMLResponse:
        context = {"products": _PRODUCTS, **_PAGE}
        return plain.TemplateResponse(request, "pixel.html", context)

    def page(request: Request) -> HTMLResponse:
        pixel.identify(email=EMAIL, phone_number=PHONE, external_id=EXTERNAL_ID)
        params = _event_params()
        for event in _EVENTS:
            pixel.track(event, params)
        return templates.TemplateResponse(request, "pixel.html", {"products": _PRODUCTS, **_PAGE})

    without = FastAPI()
    with_pixel = FastAPI()
    with_pixel.add_middleware(PixelMiddleware, pixel=pixel)
    # "layer": the unchecked page behind the pixel's middleware, the pixel unused: what the
    # ASGI layer itself costs a request.
    for site, views in (
        (without, {"none": none, "unchecked": unchecked}),
        (with_pixel, {"pixel": page, "layer": unchecked}),
    ):
        for name, view in views.items():
            site.add_api_route(f"/sync/{name}", view, response_class=HTMLResponse)
            site.add_api_route(f"/{name}", _as_async(view), response_class=HTMLResponse)
    root = FastAPI()
    root.mount("/p", with_pixel)
    root.mount("/", without)
    return root


def _as_async(
    view: Callable[[Request], HTMLResponse],
) -> Callable[[Request], Awaitable[HTMLResponse]]:
    async def run(request: Request) -> HTMLResponse:
        return view(request)

    return run


def _path(name: str, sync: bool) -> str:
    prefix = "/p" if name in ("pixel", "layer") else ""
    return f"{prefix}{'/sync' if sync else ''}/{name}"


def _asgi_get(site: FastAPI, path: str, loop: asyncio.AbstractEventLoop) -> Callable[[], bytes]:
    """A function making one GET request straight through ``site``'s ASGI interface."""
    scope: Message = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    def get() -> bytes:
        body: list[bytes] = []

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] != 200:
                raise RuntimeError(f"GET {path} answered {message['status']}")
            body.append(message.get("body", b""))

        loop.run_until_complete(site(dict(scope), receive, send))
        return b"".join(body)

    return get


def _per_request(repeats: int) -> dict[str, float]:
    site = app()
    loop = asyncio.new_event_loop()
    try:
        # The async pages side by side, then the def ones: a threadpool page's worker thread
        # would otherwise still be winding down while the next async page is timed.
        seconds: dict[str, list[float]] = {}
        for sync in (False, True):
            names = [*PAGES, "layer"] if not sync else ["unchecked", "pixel"]
            pages = {
                f"{name}{'_sync' if sync else ''}": _asgi_get(site, _path(name, sync), loop)
                for name in names
            }
            pixel_page = pages["pixel_sync" if sync else "pixel"]()
            if pixel_page.count(b"ttq.track(") != len(_EVENTS):
                raise RuntimeError("the benchmark's pixel page does not hold its events")
            sample_side_by_side(pages, 50)  # warm up: templates, allocations, the threadpool
            seconds.update(sample_side_by_side(pages, repeats))
    finally:
        loop.close()
    us = {name: median(values) * 1e6 for name, values in seconds.items()}
    return {
        "asgi_none_us": us["none"],
        "asgi_unchecked_us": us["unchecked"],
        "asgi_pixel_us": us["pixel"],
        "asgi_ratio_vs_unchecked": ratio(us["pixel"], us["unchecked"]),
        "asgi_checking_us": us["pixel"] - us["unchecked"],
        # The middleware alone (a request the pixel does nothing for).
        "asgi_layer_us": us["layer"] - us["unchecked"],
        "asgi_sync_unchecked_us": us["unchecked_sync"],
        "asgi_sync_pixel_us": us["pixel_sync"],
        "asgi_sync_ratio_vs_unchecked": ratio(us["pixel_sync"], us["unchecked_sync"]),
    }


# -- requests per second over HTTP ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _load(port: int, path: str, seconds: float, connections: int) -> int:
    """Requests answered in ``seconds`` by ``connections`` keep-alive connections to ``path``."""
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    deadline = time.monotonic() + seconds
    done = 0

    async def client() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.monotonic() < deadline:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"GET {path}: {head[:40]!r}")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                done += 1
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    return done


def _requests_per_second(seconds: float, rounds: int, connections: int = 8) -> dict[str, float]:
    port = _free_port()
    root = Path(__file__).resolve().parents[1]
    command = [
        sys.executable, "-m", "uvicorn", "benchmarks.asgi:app", "--factory",
        "--port", str(port), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("uvicorn did not start") from None
                time.sleep(0.1)
        counts: dict[str, list[float]] = {}
        variants = [(name, sync) for name in PAGES for sync in (False, True)]
        for name in PAGES:  # warm up
            asyncio.run(_load(port, _path(name, False), 0.3, connections))
        # Short slices in turns, the order rotating: the machine's other load falls on every
        # page alike (a page measured for seconds on end drew whatever ran then).
        for turn in range(rounds):
            shift = turn % len(variants)
            for name, sync in variants[shift:] + variants[:shift]:
                key = f"{name}{'_sync' if sync else ''}"
                done = asyncio.run(_load(port, _path(name, sync), seconds, connections))
                counts.setdefault(key, []).append(done / seconds)
    finally:
        server.terminate()
        server.wait(timeout=30)
    rps = {name: median(values) for name, values in counts.items()}
    return {
        "asgi_rps_none": rps["none"],
        "asgi_rps_unchecked": rps["unchecked"],
        "asgi_rps_pixel": rps["pixel"],
        "asgi_rps_pixel_vs_unchecked": ratio(rps["pixel"], rps["unchecked"]),
        "asgi_rps_sync_unchecked": rps["unchecked_sync"],
        "asgi_rps_sync_pixel": rps["pixel_sync"],
    }


def run(*, quick: bool = False) -> dict[str, float]:
    """Median request times through the ASGI app, and requests per second over HTTP."""
    logging.getLogger("pixel_embed").setLevel(logging.ERROR)
    figures = _per_request(300 if quick else 3000)
    figures.update(_requests_per_second(0.3, rounds=4) if quick else _requests_per_second(0.5, 16))
    return figures
