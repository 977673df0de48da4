"""pixel_embed's hashes against TikTok's real SDK (pixel.js 2.2.1 from ../shared/tiktok-sdk, never
committed): the SDK, given the raw values, sends the same identity pixel_embed sends pre-hashed,
and sends CompletePayment under the name our server events use.

TikTok's hosts are answered from the SDK copy on disk; the SDK's beacons are caught by the route
and never leave the machine.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CODE
from flask import Flask
from playwright.sync_api import Browser, Route

from pixel_embed import Identity
from pixel_embed.events_api import wire_event_name
from pixel_embed.render import to_js
from pixel_embed.testing import serve_app

BUILT_FOR = "D2RQS93C77U80VFNBV30"  # the pixel code the stored loader was built for
SNIPPET = (Path(__file__).parents[1] / "benchmarks" / "tiktok_snippet.html").read_text(
    encoding="utf-8"
)
RAW = {"email": " Jane@Example.com ", "zip_code": "12345-6789", "country": "us"}


def page_with(identify: dict[str, Any]) -> str:
    calls = f"ttq.identify({to_js(identify)});ttq.track('CompletePayment',{{}},{{event_id:'p-1'}});"
    script = SNIPPET.replace("ttq.load('PIXEL_ID');", f"ttq.load('{CODE}');{calls}")
    return f"<!doctype html><html><head>{script}</head><body>ok</body></html>"


@pytest.fixture
def beacons(pixel_browser: Browser, sdk_dir: Path) -> Iterator[tuple[Any, list[dict[str, Any]]]]:
    """A browser context whose TikTok hosts are the SDK copy, and the beacons it sent."""
    root = sdk_dir / "analytics.tiktok.com"
    sent: list[dict[str, Any]] = []

    def tiktok(route: Route) -> None:
        url = route.request.url
        path = re.sub(r"^https://[^/]+/", "", url).split("?")[0]
        if "/api/v2/pixel" in url and route.request.post_data:
            sent.append(json.loads(route.request.post_data))
        file = root / path
        if url.startswith("https://analytics.tiktok.com/") and file.is_file():
            body = file.read_text(encoding="utf-8").replace(BUILT_FOR, CODE)
            route.fulfill(status=200, content_type="application/javascript", body=body)
        else:
            route.fulfill(status=200, content_type="application/json", body="{}")

    context = pixel_browser.new_context()
    # The later route is tried first: everything outside is aborted, but TikTok's hosts.
    context.route(re.compile(r"^https?://(?!127\.0\.0\.1)"), lambda route: route.abort())
    context.route(re.compile(r"^https://([a-z0-9-]+\.)*(tiktok\.com|tiktokw\.us)/"), tiktok)
    try:
        yield context, sent
    finally:
        context.close()


def identity_sent(context: Any, sent: list[dict[str, Any]], url: str) -> dict[str, Any]:
    page = context.new_page()
    page.goto(url)
    for _ in range(100):  # at most 10 s for the SDK's beacon
        purchases = [b for b in sent if b.get("event") == wire_event_name("CompletePayment")]
        if purchases:
            user = purchases[0]["context"]["user"]
            return {key: user.get(key) for key in ("email", "zip_code")}
        page.wait_for_timeout(100)
    raise AssertionError(f"no purchase beacon; sent: {[b.get('event') for b in sent]}")


def test_the_sdk_hashes_raw_values_as_pixel_embed_does(
    beacons: tuple[Any, list[dict[str, Any]]],
) -> None:
    context, sent = beacons
    ours = Identity.from_raw(email=RAW["email"], zip_code=RAW["zip_code"], country="us").as_params()
    app = Flask(__name__)
    app.add_url_rule("/raw", "raw", lambda: page_with(RAW))
    app.add_url_rule("/ours", "ours", lambda: page_with(ours))
    with serve_app(app) as url:
        by_sdk = identity_sent(context, sent, f"{url}/raw")
        sent.clear()
        by_us = identity_sent(context, sent, f"{url}/ours")
    # The SDK's own hashes of the raw values (ZIP+4 cut to the ZIP), and ours passed through.
    assert by_sdk == by_us == {"email": ours["email"], "zip_code": ours["zip_code"]}
