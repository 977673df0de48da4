"""What turning partial pages on costs a page that never uses them: the question behind
``TIKTOK_PIXEL_PARTIAL``'s default (docs/partial-pages.md).

The demo shop's product page, with the pixel and TikTok's SDK answered at once, is loaded with
``TIKTOK_PIXEL_PARTIAL`` on and off, in turns, each variant in a tab of its own with Chromium's
HTTP cache off (every load a first visit's: the client script is fetched each time), as the
``pageload`` part loads it. Figures: the bytes the setting adds to the page's HTML (the inline
loader), the requests it adds and their bytes, and the paired DOMContentLoaded ratio (on against
off, the median of the turns' ratios with a 95 % bootstrap interval).
"""

from __future__ import annotations

from contextlib import ExitStack
from urllib.request import urlopen

from playwright.sync_api import sync_playwright

from pixel_embed.testing import find_chromium

from .pageload import PAGE, _Tab
from .shop import shop_server
from .timing import median, median_interval, ratio

_RESOURCES = "() => performance.getEntriesByType('resource').map(r => [r.name, r.transferSize])"


def _html_bytes(url: str) -> int:
    with urlopen(url, timeout=10) as response:
        return len(response.read())


def run(*, quick: bool = False) -> dict[str, float]:
    """The page's bytes, requests and DOMContentLoaded with partial pages on, against off."""
    repeats = 4 if quick else 100
    with ExitStack() as stack:
        on = stack.enter_context(shop_server({"TIKTOK_PIXEL_PARTIAL": True}))
        off = stack.enter_context(shop_server({"TIKTOK_PIXEL_PARTIAL": False}))
        playwright = stack.enter_context(sync_playwright())
        browser = playwright.chromium.launch(**find_chromium().launch_options)
        stack.callback(browser.close)
        tabs = {
            "on": _Tab(browser, on + PAGE, "instant"),
            "off": _Tab(browser, off + PAGE, "instant"),
        }
        extra: list[tuple[str, float]] = []
        for name, tab in tabs.items():  # warm up; count what each variant requests
            tab.page.goto(tab.url, wait_until="load")
            tab.page.wait_for_timeout(500)
            resources = tab.page.evaluate(_RESOURCES)
            if name == "on":
                extra = [(str(u), float(n)) for u, n in resources if "/_pixel_embed/" in str(u)]
            tab.page.goto("about:blank")
        samples: dict[str, list[float]] = {name: [] for name in tabs}
        for turn in range(repeats):
            order = ["on", "off"] if turn % 2 == 0 else ["off", "on"]
            for name in order:
                samples[name].append(tabs[name].load(until_load=False).dcl)
        html_on, html_off = _html_bytes(on + PAGE), _html_bytes(off + PAGE)
    turns = [ratio(a, b) for a, b in zip(samples["on"], samples["off"], strict=True)]
    low, high = median_interval(turns)
    return {
        "partial_html_bytes_added": html_on - html_off,
        "partial_requests_added": len(extra),
        "partial_request_bytes": sum(size for _, size in extra),
        "partial_dcl_on_ms": median(samples["on"]),
        "partial_dcl_off_ms": median(samples["off"]),
        "partial_dcl_ratio": median(turns),
        "partial_dcl_ratio_low95": low,
        "partial_dcl_ratio_high95": high,
        "partial_repeats": repeats,
    }


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:30} {value:10.1f}")
