"""What the pixel costs a page load in Chromium, and whether a slow TikTok ever blocks rendering.

The demo shop's product page (the shop in a process of its own) is loaded three ways, in
turns (the order rotating), 200 times each:

- ``without``: the shop with ``TIKTOK_PIXEL_ENABLED=False``;
- ``instant``: with the pixel, TikTok's SDK answered at once by a context route;
- ``stalled``: with the pixel, TikTok's SDK host not answering for :data:`STALL_SECONDS`.

Each variant has a browser tab of its own, kept for the run, with Chromium's HTTP cache off
(DevTools protocol), so every load is a first visit's: nothing is cached, every script is
fetched and compiled anew. A fresh browser context per load, as before, also timed starting a
renderer process, which varied by tens of milliseconds and hid the few the pixel costs: the
95 % interval of the ratio spanned 0.96-1.25 in 40 turns.

The DOMContentLoaded ratios are paired (each turn's page against the same turn's page without
the pixel), given as the median of the turns' ratios with a 95 % bootstrap interval and their
25th-75th percentiles, so a target can be read from one run; with 200 turns the interval is
about ±0.03.

Chromium's own resolver sends ``analytics.tiktok.com`` to a port on 127.0.0.1 that accepts the
connection and then says nothing for :data:`STALL_SECONDS` (Chromium retries once, so the load
event of such a page comes after about twice that), and resolves no other outside name. The
stall needs no route, so no request of the page waits on Playwright's dispatcher (only the
``instant`` tab has one, for TikTok's SDK), and a route handler never sleeps. Timings come from
the page's navigation entry (``performance.getEntriesByType('navigation')[0]``), in
milliseconds since navigation start; the main thread's script time from Chromium's performance
metrics (DevTools protocol). Each page is left for ``about:blank`` once measured, so what it
still does cannot weigh on the next load: a stalled page once DOMContentLoaded is over, but for
a few that wait out the stall for their load event.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import NamedTuple

from playwright.sync_api import Browser, Route, sync_playwright

from pixel_embed.browser.recorder import SDK_PATH
from pixel_embed.testing import find_chromium

from .shop import shop_server
from .timing import median, median_interval, quantile, ratio, script_ms

STALL_SECONDS = 3.0
PAGE = "/product/black-tee"
SDK_HOST = "analytics.tiktok.com"
_SDK_URL = f"https://{SDK_HOST}{SDK_PATH}*"
_SDK_BODY = "window.__benchmarkSdk = (window.__benchmarkSdk || 0) + 1;"
_NAVIGATION = (
    "() => { const n = performance.getEntriesByType('navigation')[0];"
    " return {dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd}; }"
)
_ASKED_FOR_SDK = f"() => !!document.querySelector('script[src*=\"//{SDK_HOST}/\"]')"
_LOADED = "() => performance.getEntriesByType('navigation')[0].loadEventEnd > 0"
_DCL_OVER = "() => performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd > 0"
_TIMEOUT_MS = (3 * STALL_SECONDS + 20) * 1000


class Sample(NamedTuple):
    """One page load, in ms: DOMContentLoaded, load (when waited for), and the time the page's
    main thread spent running scripts (Chromium's ``ScriptDuration``) by DOMContentLoaded."""

    dcl: float
    load: float | None
    script: float


@contextmanager
def _silent_port() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections, reads, and answers nothing for
    :data:`STALL_SECONDS` before closing them."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def hold(connection: socket.socket) -> None:
        connection.settimeout(STALL_SECONDS)
        try:
            while connection.recv(4096):
                pass
        except OSError:
            pass
        connection.close()

    def accept() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # the listener was closed: the benchmark is over
                return
            held.append(connection)
            threading.Thread(target=hold, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, name="benchmark-silent-sdk", daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        for connection in held:
            connection.close()


def _answer_sdk(route: Route) -> None:
    route.fulfill(status=200, content_type="application/javascript", body=_SDK_BODY)


class _Tab:
    """One variant's browser tab, kept for the run: its own context (an SDK route for
    ``instant``), the HTTP cache off, DevTools performance metrics on."""

    def __init__(self, browser: Browser, url: str, sdk: str | None) -> None:
        self.url, self.sdk = url, sdk
        context = browser.new_context()
        if sdk == "instant":
            context.route(_SDK_URL, _answer_sdk)
        self.page = page = context.new_page()
        self._devtools = devtools = context.new_cdp_session(page)
        devtools.send("Network.enable")
        devtools.send("Network.setCacheDisabled", {"cacheDisabled": True})
        devtools.send("Performance.enable")

    def load(self, *, until_load: bool) -> Sample:
        """Load the page as a first visit; its DOMContentLoaded time in ms, and with
        ``until_load`` its load time too (else it is left once DOMContentLoaded is over)."""
        page = self.page
        page.goto(self.url, wait_until="domcontentloaded")
        script = script_ms(self._devtools)
        page.wait_for_function(_LOADED if until_load else _DCL_OVER, timeout=_TIMEOUT_MS)
        timings: dict[str, float] = page.evaluate(_NAVIGATION)
        # (Read from the page: a listener for the page's requests would have this process
        # handle an event for each of them while the page loads.)
        if self.sdk is not None and not page.evaluate(_ASKED_FOR_SDK):
            raise RuntimeError(f"the pixel on {self.url} did not ask for TikTok's SDK")
        if self.sdk == "instant" and until_load and page.evaluate("window.__benchmarkSdk") != 1:
            raise RuntimeError(f"the pixel on {self.url} did not run TikTok's SDK once")
        # Left at once: what the page still does (TikTok's SDK, the scripts it asks for once
        # parsed) must not run into the next variant's load.
        page.goto("about:blank")
        return Sample(timings["dcl"], timings["load"] if until_load else None, script)


def run(*, quick: bool = False) -> dict[str, float]:
    """Median DOMContentLoaded and load of the page without the pixel, with an instant SDK and
    with a stalled one; the ratios are to the page without the pixel."""
    repeats, stalled_loads = (4, 1) if quick else (200, 3)
    with ExitStack() as stack:
        silent = stack.enter_context(_silent_port())
        with_pixel = stack.enter_context(shop_server({"TIKTOK_PIXEL_CONSENT": "none"}))
        without = stack.enter_context(shop_server({"TIKTOK_PIXEL_ENABLED": False}))
        playwright = stack.enter_context(sync_playwright())
        chromium = find_chromium()
        options = chromium.launch_options
        # No outside name resolves, and TikTok's SDK host is the silent port.
        rules = f"MAP {SDK_HOST} 127.0.0.1:{silent}, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
        options["args"] = [*chromium.args, f"--host-resolver-rules={rules}"]
        browser = playwright.chromium.launch(**options)
        stack.callback(browser.close)
        tabs = {
            "without": _Tab(browser, without + PAGE, None),
            "instant": _Tab(browser, with_pixel + PAGE, "instant"),
            "stalled": _Tab(browser, with_pixel + PAGE, "stalled"),
        }
        for tab in tabs.values():  # warm up the servers, the browser, the tabs
            tab.load(until_load=False)
        samples: dict[str, list[Sample]] = {name: [] for name in tabs}
        names = list(tabs)
        for turn in range(repeats):
            shift = turn % len(names)
            for name in names[shift:] + names[:shift]:
                # Only a few stalled pages wait out the stall for their load event.
                until_load = name != "stalled" or turn < stalled_loads
                samples[name].append(tabs[name].load(until_load=until_load))
    dcl = {name: median([s.dcl for s in values]) for name, values in samples.items()}
    load = {
        name: median([s.load for s in values if s.load is not None])
        for name, values in samples.items()
    }
    script = {name: median([s.script for s in values]) for name, values in samples.items()}
    # The DOMContentLoaded ratios are paired: each turn's page with the pixel against the same
    # turn's page without, loaded back to back, so both saw the machine equally busy (on a
    # shared machine the load drifts far more than the pixel costs). The ratio is the median
    # of the turns' ratios, with a 95 % bootstrap interval and the 25th-75th percentiles.
    dcl_samples = {name: [s.dcl for s in values] for name, values in samples.items()}
    spread: dict[str, float] = {}
    paired: dict[str, float] = {}
    for name in ("instant", "stalled"):
        pairs = zip(dcl_samples[name], dcl_samples["without"], strict=True)
        turns = [ratio(a, b) for a, b in pairs]
        paired[name] = median(turns)
        low, high = median_interval(turns)
        spread[f"dcl_{name}_ratio_low95"] = low
        spread[f"dcl_{name}_ratio_high95"] = high
        spread[f"dcl_{name}_ratio_p25"] = quantile(turns, 0.25)
        spread[f"dcl_{name}_ratio_p75"] = quantile(turns, 0.75)
        spread[f"dcl_{name}_ratio_of_medians"] = ratio(dcl[name], dcl["without"])
    for name, values in dcl_samples.items():
        spread[f"dcl_{name}_ms_p25"] = quantile(values, 0.25)
        spread[f"dcl_{name}_ms_p75"] = quantile(values, 0.75)
    return {
        "dcl_without_ms": dcl["without"],
        "dcl_instant_ms": dcl["instant"],
        "dcl_stalled_ms": dcl["stalled"],
        "load_without_ms": load["without"],
        "load_instant_ms": load["instant"],
        "load_stalled_ms": load["stalled"],
        "dcl_instant_ratio": paired["instant"],
        "dcl_stalled_ratio": paired["stalled"],
        "load_instant_ratio": ratio(load["instant"], load["without"]),
        "load_stalled_ratio": ratio(load["stalled"], load["without"]),
        **spread,
        # Main-thread time the pixel's inline script takes (Chromium's ScriptDuration, with
        # the pixel less without): a CPU figure, steadier than the wall-clock ones above.
        "script_without_ms": script["without"],
        "script_stalled_ms": script["stalled"],
        "pixel_script_ms": script["stalled"] - script["without"],
        "pageload_repeats": repeats,
        "pageload_stalled_load_samples": stalled_loads,
    }


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:30} {value:10.1f}")
