"""What TikTok's real SDK costs the people who visit a page, per load strategy, and what each
strategy loses in events.

The demo shop's pages (each variant's shop in a process of its own) are loaded in headless
Chromium with TikTok's real SDK (pixel.js 2.2.1, see :mod:`benchmarks.sdk_host`) served on
127.0.0.1 as ``https://analytics.tiktok.com``, its beacons answered and kept. Variants:

- ``without``: the shop with ``TIKTOK_PIXEL_ENABLED=False``;
- ``official``: TikTok's snippet (``TIKTOK_PIXEL_LOAD="async"``, the default);
- one per other strategy of :data:`pixel_embed.render.LOAD_STRATEGIES` (``idle``…).

**Cost.** Each turn gives every variant, in rotating order, a fresh browser profile and three
visits of the page: the first (cold cache) and the third (warm: HTTP cache and V8's code cache,
which Chromium writes on a script's second run and reads on its third) are observed for
:data:`OBSERVE_SECONDS`; the second only warms the caches. Measured per visit: long tasks and
total blocking time (the time of each long task beyond 50 ms) in the load window (tasks that
start before the load event ends) and over the whole visit; the main thread's script time
(Chromium's ``ScriptDuration``); LCP; the input delay of a click made :data:`CLICK_AT` after
navigation (Event Timing's ``first-input``: from the click to its handlers starting); the bytes
received, all and TikTok's.

**Events.** A visitor who leaves after :data:`LEAVE_AFTER` seconds (a fresh profile each, the
page navigated away from, a grace for beacons in flight): of the page's own events (``Pageview``
and the page's ``ttq.track`` calls), the share no beacon of TikTok's SDK carried to the host.

Figures are medians over the turns, with the 25th and 75th percentiles for the headline ones;
the part prints its own side-by-side table too. Skipped, with a reason, when TikTok's SDK copy
is not there.
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from playwright.sync_api import (
    Browser,
    CDPSession,
    Page,
    Playwright,
    sync_playwright,
)

from pixel_embed.render import LOAD_STRATEGIES
from pixel_embed.testing import find_chromium

from .sdk_host import HOSTS, SdkHost, sdk_dir, sdk_host
from .shop import shop_server
from .timing import median, quantile, script_ms

#: The product page: the pixel's Pageview and a ViewContent event.
PAGE = "/product/black-tee"
PAGE_EVENTS = ("Pageview", "ViewContent")
OBSERVE_SECONDS = 5.0
CLICK_AT = 0.3
LEAVE_AFTER = (0.3, 0.5, 1.0, 2.0, 5.0)
#: How long beacons sent as a visitor leaves get to arrive.
GRACE_SECONDS = 0.6
#: Long tasks: the main thread busy beyond this blocks input (the TBT definition).
BLOCKING_MS = 50.0
_OBSERVE = """
window.__bench = {longtasks: [], lcp: null, input: null};
try {
  new PerformanceObserver(list => { for (const e of list.getEntries())
    __bench.longtasks.push([e.startTime, e.duration]); })
    .observe({type: 'longtask', buffered: true});
  new PerformanceObserver(list => { for (const e of list.getEntries()) __bench.lcp = e.startTime; })
    .observe({type: 'largest-contentful-paint', buffered: true});
  new PerformanceObserver(list => { for (const e of list.getEntries()) if (!__bench.input)
    __bench.input = {start: e.startTime, delay: e.processingStart - e.startTime};
  }).observe({type: 'first-input', buffered: true});
} catch (e) {}
"""
_READ = """() => { const n = performance.getEntriesByType('navigation')[0];
  return {bench: window.__bench, dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd}; }"""


@dataclass(frozen=True)
class Visit:
    """One observed visit (times in ms since navigation start)."""

    script_ms: float
    tbt_load_ms: float
    tbt_ms: float
    longtasks: int
    lcp_ms: float
    click_delay_ms: float
    click_at_ms: float
    dcl_ms: float
    load_ms: float
    bytes: float
    tiktok_bytes: float
    events: frozenset[str]


class _Network:
    """Bytes received by one page, all and from TikTok's hosts (DevTools protocol)."""

    def __init__(self, devtools: CDPSession) -> None:
        self.urls: dict[str, str] = {}
        self.total = 0.0
        self.tiktok = 0.0
        devtools.on("Network.requestWillBeSent", self._sent)
        devtools.on("Network.loadingFinished", self._finished)
        devtools.send("Network.enable")

    def _sent(self, event: dict[str, Any]) -> None:
        self.urls[event["requestId"]] = event["request"]["url"]

    def _finished(self, event: dict[str, Any]) -> None:
        size = float(event.get("encodedDataLength") or 0)
        self.total += size
        if any(host in self.urls.get(event["requestId"], "") for host in HOSTS):
            self.tiktok += size


def _blocking(tasks: Sequence[Sequence[float]], before: float) -> float:
    return sum(max(0.0, d - BLOCKING_MS) for start, d in tasks if start < before)


def _leave(page: Page, host: SdkHost, marker: str) -> frozenset[str]:
    """Navigate away, give beacons in flight :data:`GRACE_SECONDS`, and say which of the page's
    events reached TikTok's host."""
    page.goto("about:blank", wait_until="commit")
    page.wait_for_timeout(GRACE_SECONDS * 1000)
    return frozenset(b.event for b in host.beacons_for(marker) if b.event in PAGE_EVENTS)


def _observe(
    page: Page, url: str, host: SdkHost, marker: str, click: tuple[float, float], seconds: float
) -> Visit:
    devtools = page.context.new_cdp_session(page)
    devtools.send("Performance.enable")
    network = _Network(devtools)
    start = time.monotonic()
    page.goto(url, wait_until="commit")
    time.sleep(max(0.0, start + CLICK_AT - time.monotonic()))
    page.mouse.click(*click)
    page.wait_for_timeout(max(0.0, start + seconds - time.monotonic()) * 1000)
    read: dict[str, Any] = page.evaluate(_READ)
    script = script_ms(devtools)
    bench = read["bench"]
    tasks = bench["longtasks"]
    first_input = bench["input"] or {"start": float("nan"), "delay": float("nan")}
    visit = Visit(
        script_ms=script,
        tbt_load_ms=_blocking(tasks, read["load"]),
        tbt_ms=_blocking(tasks, seconds * 1000),
        longtasks=len(tasks),
        lcp_ms=float(bench["lcp"] if bench["lcp"] is not None else "nan"),
        click_delay_ms=first_input["delay"],
        click_at_ms=first_input["start"],
        dcl_ms=read["dcl"],
        load_ms=read["load"],
        bytes=network.total,
        tiktok_bytes=network.tiktok,
        events=frozenset(),
    )
    devtools.detach()
    events = _leave(page, host, marker)
    return Visit(**{**visit.__dict__, "events": events})


def _launch_options(host: SdkHost) -> dict[str, Any]:
    """Chromium's launch options, reaching TikTok's hosts at ``host`` and nothing outside."""
    chromium = find_chromium()
    options: dict[str, Any] = dict(chromium.launch_options)
    options["args"] = [*chromium.args, *host.chromium_args()]
    return options


class _Bench:
    def __init__(
        self, playwright: Playwright, browser: Browser, host: SdkHost, urls: dict[str, str]
    ) -> None:
        self.playwright = playwright
        self.browser = browser
        self.host = host
        self.urls = urls
        self.visits = 0
        self.click = (0.0, 0.0)

    def url(self, variant: str) -> tuple[str, str]:
        """The page's URL for a new visit, and the marker that finds its beacons."""
        self.visits += 1
        marker = f"bench={variant}-{self.visits}"
        return f"{self.urls[variant]}{PAGE}?{marker}", marker

    def find_click_target(self) -> None:
        """A point on the page's heading: a click there starts no navigation."""
        context = self.browser.new_context()
        try:
            page = context.new_page()
            page.goto(self.urls["without"] + PAGE)
            box = page.locator("h1").bounding_box()
            if box is None:
                raise RuntimeError(f"{PAGE} has no heading to click")
            self.click = (box["x"] + 5, box["y"] + box["height"] / 2)
        finally:
            context.close()

    def profile_visits(self, variant: str, seconds: float) -> tuple[Visit, Visit]:
        """A fresh browser profile: its first visit (cold) and third (warm), observed."""
        with tempfile.TemporaryDirectory(prefix="pixel-embed-bench-profile-") as folder:
            context = self.playwright.chromium.launch_persistent_context(
                folder, **_launch_options(self.host)
            )
            try:
                context.add_init_script(_OBSERVE)
                cold = _observe(context.pages[0], *self._visit(variant), self.click, seconds)
                prime = context.new_page()
                url, marker = self.url(variant)
                prime.goto(url)
                prime.wait_for_timeout(min(seconds, 2.0) * 1000)
                _leave(prime, self.host, marker)
                prime.close()
                page = context.new_page()
                warm = _observe(page, *self._visit(variant), self.click, seconds)
            finally:
                context.close()
        return cold, warm

    def _visit(self, variant: str) -> tuple[str, SdkHost, str]:
        url, marker = self.url(variant)
        return url, self.host, marker

    def leave_after(self, variant: str, seconds: float) -> frozenset[str]:
        """The page's events that arrived from a cold visit left after ``seconds``."""
        context = self.browser.new_context()
        try:
            page = context.new_page()
            url, marker = self.url(variant)
            start = time.monotonic()
            page.goto(url, wait_until="commit")
            page.wait_for_timeout(max(0.0, start + seconds - time.monotonic()) * 1000)
            return _leave(page, self.host, marker)
        finally:
            context.close()


def _rotations(names: Sequence[str], turns: int) -> Iterator[list[str]]:
    for turn in range(turns):
        shift = turn % len(names)
        yield list(names[shift:]) + list(names[:shift])


_METRICS = (
    ("script_ms", "script_ms", "main-thread script, ms"),
    ("tbt_load_ms", "tbt_ms", "blocking time, load window, ms"),
    ("tbt_ms", "tbt5s_ms", "blocking time, whole visit, ms"),
    ("longtasks", "longtasks", "long tasks"),
    ("lcp_ms", "lcp_ms", "LCP, ms"),
    ("click_delay_ms", "click_delay_ms", "click at 300 ms: input delay, ms"),
    ("dcl_ms", "dcl_ms", "DOMContentLoaded, ms"),
    ("load_ms", "load_ms", "load event, ms"),
    ("bytes", "bytes", "bytes received"),
    ("tiktok_bytes", "tiktok_bytes", "bytes received from TikTok"),
)
#: Figures also given with their 25th and 75th percentiles.
_SPREAD = ("script_ms", "tbt_load_ms", "tbt_ms", "click_delay_ms")


def _finite(values: Sequence[float]) -> list[float]:
    """``values`` without the visits that gave no reading (``nan``: no LCP before the click,
    a click that landed before the page was there)."""
    return [value for value in values if not math.isnan(value)]


def _spread(values: Sequence[float]) -> str:
    values = _finite(values)
    middle = median(values)
    if len(values) < 3:
        return f"{middle:.0f}"
    return f"{middle:.0f} [{quantile(values, 0.25):.0f}-{quantile(values, 0.75):.0f}]"


def run(
    *,
    quick: bool = False,
    turns: int | None = None,
    seconds: float = OBSERVE_SECONDS,
    leave_after: Sequence[float] = LEAVE_AFTER,
    loss_turns: int | None = None,
) -> dict[str, float]:
    """The figures named ``sdk_<metric>_<variant>`` (cold cache), ``sdk_warm_<metric>_<variant>``
    and ``event_loss_<seconds>s_<variant>``; nothing (with a line saying why) without the SDK.

    :param turns: cost turns (each variant: one profile, a cold and a warm visit).
    :param seconds: how long each observed visit lasts (the whole-visit window).
    :param leave_after: the visit lengths of the event-loss part.
    :param loss_turns: visits per variant and length for the event-loss part.
    """
    folder = sdk_dir()
    if folder is None:
        print(
            "sdk: skipped, TikTok's SDK copy was not found "
            "(set PIXEL_EMBED_SDK_DIR, or put it in ../shared/tiktok-sdk)",
            file=sys.stderr,
        )
        return {}
    turns = turns if turns is not None else (1 if quick else 5)
    loss_turns = loss_turns if loss_turns is not None else (1 if quick else 3)
    strategies = [name for name in LOAD_STRATEGIES if name != "async"]
    configs: dict[str, dict[str, Any]] = {
        "without": {"TIKTOK_PIXEL_ENABLED": False},
        "official": {"TIKTOK_PIXEL_LOAD": "async"},
        **{name: {"TIKTOK_PIXEL_LOAD": name} for name in strategies},
    }
    with ExitStack() as stack:
        host = stack.enter_context(sdk_host(folder))
        urls = {
            name: stack.enter_context(shop_server({"TIKTOK_PIXEL_CONSENT": "none", **config}))
            for name, config in configs.items()
        }
        playwright = stack.enter_context(sync_playwright())
        browser = playwright.chromium.launch(**_launch_options(host))
        stack.callback(browser.close)
        bench = _Bench(playwright, browser, host, urls)
        bench.find_click_target()
        if turns > 1:  # warm up the servers, the disk, Chromium's start
            bench.profile_visits("official", min(seconds, 2.0))
        cold: dict[str, list[Visit]] = {name: [] for name in configs}
        warm: dict[str, list[Visit]] = {name: [] for name in configs}
        for order in _rotations(list(configs), turns):
            for name in order:
                first, third = bench.profile_visits(name, seconds)
                cold[name].append(first)
                warm[name].append(third)
        with_pixel = [name for name in configs if name != "without"]
        lengths = [length for length in leave_after if length != seconds]
        arrived: dict[tuple[str, float], list[int]] = {}
        for order in _rotations(with_pixel, loss_turns):
            for length in lengths:
                for name in order:
                    events = bench.leave_after(name, length)
                    arrived.setdefault((name, length), []).append(len(events))
    for name in with_pixel:  # the observed visits lasted ``seconds`` and then left
        arrived[(name, seconds)] = [len(v.events) for v in cold[name]]
    if any(len(v.events) < len(PAGE_EVENTS) for v in cold["official"]):
        raise RuntimeError("TikTok's SDK did not send the page's events within a whole visit")
    figures: dict[str, float] = {}
    for label, visits in (("", cold), ("warm_", warm)):
        for attribute, name, _ in _METRICS:
            for variant, samples in visits.items():
                values = _finite([float(getattr(v, attribute)) for v in samples])
                key = f"sdk_{label}{name}_{variant}"
                figures[key] = median(values)
                if attribute in _SPREAD and len(values) >= 3:
                    figures[f"{key}_p25"] = quantile(values, 0.25)
                    figures[f"{key}_p75"] = quantile(values, 0.75)
    for (name, length), counts in sorted(arrived.items(), key=lambda item: item[0][1]):
        expected = len(PAGE_EVENTS) * len(counts)
        figures[f"event_loss_{length:g}s_{name}"] = 1 - sum(counts) / expected
    figures["sdk_turns"] = turns
    figures["event_loss_turns"] = loss_turns
    _print_table(cold, warm, arrived)
    return figures


def _print_table(
    cold: dict[str, list[Visit]],
    warm: dict[str, list[Visit]],
    arrived: dict[tuple[str, float], list[int]],
) -> None:
    """The part's own side-by-side table: median [25th-75th percentile] per variant."""
    variants = list(cold)
    rows = [["", *variants]]
    for label, visits in (("cold", cold), ("warm", warm)):
        for attribute, _, text in _METRICS:
            rows.append(
                [f"{label}: {text}"]
                + [_spread([float(getattr(v, attribute)) for v in visits[n]]) for n in variants]
            )
    for length in sorted({length for _, length in arrived}):
        row = [f"events lost, visit of {length:g} s"]
        for name in variants:
            counts = arrived.get((name, length))
            row.append(
                "-"
                if counts is None
                else f"{len(PAGE_EVENTS) * len(counts) - sum(counts)}/"
                f"{len(PAGE_EVENTS) * len(counts)}"
            )
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print("TikTok's real SDK, side by side (median [25th-75th percentile]):")
    for row in rows:
        print(
            "  ".join(
                cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
                for i, cell in enumerate(row)
            )
        )


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:40} {value:10.1f}")
