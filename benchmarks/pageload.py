"""What the pixel costs a page load in Chromium, and whether a slow TikTok ever blocks rendering.

The demo shop's product page is loaded three ways, in turns, each in a fresh browser context
(an empty cache):

- ``without``: the shop with ``TIKTOK_PIXEL_ENABLED=False``;
- ``instant``: with the pixel, TikTok's SDK answered at once;
- ``stalled``: with the pixel, TikTok's SDK answered after :data:`STALL_SECONDS`.

TikTok's SDK URL is answered from a small server on 127.0.0.1 that answers at once or after the
stall (``route.fetch`` then ``route.fulfill``: the route handler waits on the network without
blocking Playwright's dispatcher, as ``time.sleep`` in a handler would). Every other
outside address is aborted. Timings are read from the page's navigation entry
(``performance.getEntriesByType('navigation')[0]``), in milliseconds since navigation start.
"""

from __future__ import annotations

import re
import time
from contextlib import ExitStack
from urllib.parse import urlsplit

from playwright.sync_api import Browser, Route, sync_playwright
from werkzeug.wrappers import Request, Response

from demo_site import create_app
from pixel_embed.testing import find_chromium, serve_app
from pixel_embed.testing.recorder import SDK_PATH, is_tiktok_host

from .timing import median, ratio

STALL_SECONDS = 3.0
PAGE = "/product/black-tee"
# Matched by Playwright itself, so the page and its CSS and scripts from 127.0.0.1 are never
# intercepted (a trip through Python for each would swamp what is measured).
_OUTSIDE = re.compile(r"^(?!http://127\.0\.0\.1[:/])")
_SDK_BODY = b"window.__benchmarkSdk = (window.__benchmarkSdk || 0) + 1;"
_NAVIGATION = (
    "() => { const n = performance.getEntriesByType('navigation')[0];"
    " return {dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd}; }"
)
_LOADED = "() => performance.getEntriesByType('navigation')[0].loadEventEnd > 0"


@Request.application
def _sdk(request: Request) -> Response:
    """TikTok's SDK stand-in: ``/instant`` answers at once; ``/stalled`` after
    :data:`STALL_SECONDS` (each request has a thread of its own)."""
    if request.path.startswith("/stalled"):
        time.sleep(STALL_SECONDS)
    return Response(
        _SDK_BODY, mimetype="application/javascript", headers={"Cache-Control": "no-store"}
    )


class _Outside:
    """The route for every address but this machine's: TikTok's SDK comes from ``sdk_url``
    (none: aborted, as everything else is)."""

    def __init__(self, sdk_url: str | None) -> None:
        self.sdk_url = sdk_url
        self.sdk_requests: list[str] = []

    def __call__(self, route: Route) -> None:
        parts = urlsplit(route.request.url)
        if is_tiktok_host(parts.hostname or "") and parts.path == SDK_PATH and self.sdk_url:
            self.sdk_requests.append(route.request.url)
            # continue_(url=...) may not change https to http: fetch it here, then answer.
            route.fulfill(response=route.fetch(url=self.sdk_url))
        else:
            route.abort("blockedbyclient")


def _load(browser: Browser, url: str, sdk_url: str | None) -> dict[str, float]:
    """Load ``url`` in a fresh context; its DOMContentLoaded and load times in ms."""
    context = browser.new_context()
    try:
        outside = _Outside(sdk_url)
        context.route(_OUTSIDE, outside)
        page = context.new_page()
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_function(_LOADED, timeout=(STALL_SECONDS + 20) * 1000)
        timings: dict[str, float] = page.evaluate(_NAVIGATION)
        if sdk_url is not None and (
            not outside.sdk_requests or page.evaluate("window.__benchmarkSdk") != 1
        ):
            raise RuntimeError(f"the pixel on {url} did not load the SDK once")
        return timings
    finally:
        context.close()


def run(*, quick: bool = False) -> dict[str, float]:
    """Median DOMContentLoaded and load of the page without the pixel, with an instant SDK and
    with a stalled one; the ratios are to the page without the pixel."""
    repeats = 2 if quick else 15
    with ExitStack() as stack:
        sdk = stack.enter_context(serve_app(_sdk))
        with_pixel = stack.enter_context(serve_app(create_app({"TIKTOK_PIXEL_CONSENT": "none"})))
        without = stack.enter_context(serve_app(create_app({"TIKTOK_PIXEL_ENABLED": False})))
        playwright = stack.enter_context(sync_playwright())
        browser = playwright.chromium.launch(**find_chromium().launch_options())  # type: ignore[arg-type]
        stack.callback(browser.close)
        variants = {
            "without": (without + PAGE, None),
            "instant": (with_pixel + PAGE, f"{sdk}/instant"),
            "stalled": (with_pixel + PAGE, f"{sdk}/stalled"),
        }
        for url, sdk_url in variants.values():  # warm up the server, the browser, the CSS
            _load(browser, url, sdk_url.replace("stalled", "instant") if sdk_url else None)
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
        names = list(variants)
        for turn in range(repeats):
            shift = turn % len(names)
            for name in names[shift:] + names[:shift]:
                samples[name].append(_load(browser, *variants[name]))
    dcl = {name: median([s["dcl"] for s in values]) for name, values in samples.items()}
    load = {name: median([s["load"] for s in values]) for name, values in samples.items()}
    return {
        "dcl_without_ms": dcl["without"],
        "dcl_instant_ms": dcl["instant"],
        "dcl_stalled_ms": dcl["stalled"],
        "load_without_ms": load["without"],
        "load_instant_ms": load["instant"],
        "load_stalled_ms": load["stalled"],
        "dcl_instant_ratio": ratio(dcl["instant"], dcl["without"]),
        "dcl_stalled_ratio": ratio(dcl["stalled"], dcl["without"]),
        "load_instant_ratio": ratio(load["instant"], load["without"]),
        "load_stalled_ratio": ratio(load["stalled"], load["without"]),
        "pageload_repeats": repeats,
    }


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:24} {value:10.1f}")
