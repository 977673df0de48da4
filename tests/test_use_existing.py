"""TIKTOK_PIXEL_USE_EXISTING in a real Chromium: a tag manager's snippet loads two pixels, ours
reaches only its own, and the page view is counted once (by that snippet)."""

from __future__ import annotations

from pathlib import Path

from conftest import CODE, OTHER_CODE, make_app
from flask import render_template_string
from playwright.sync_api import Page

from pixel_embed import TikTokPixel
from pixel_embed.testing import expect_pixel, pixel_calls, serve_app

# TikTok's official snippet, as a tag manager pastes it, loading two pixels.
SNIPPET = (
    (Path(__file__).parents[1] / "benchmarks" / "tiktok_snippet.html")
    .read_text(encoding="utf-8")
    .replace("ttq.load('PIXEL_ID');", f"ttq.load('{CODE}');ttq.load('{OTHER_CODE}');")
)


def test_calls_go_to_this_pixel_only_and_the_page_view_is_counted_once(
    pixel_page: Page,
) -> None:
    app = make_app(TIKTOK_PIXEL_USE_EXISTING=True)
    pixel = TikTokPixel(app)

    @app.get("/")
    def home() -> str:
        pixel.identify(external_id="u-42")
        pixel.track("Search", query="mugs", event_id="s-1")
        return render_template_string(
            "<!doctype html><html><head>{{ snippet|safe }}{{ tiktok_pixel() }}</head>"
            "<body>ok</body></html>",
            snippet=SNIPPET,
        )

    with serve_app(app) as url:
        pixel_page.goto(f"{url}/")
        expect_pixel(pixel_page).to_have_tracked("Search", times=1, pixel=CODE, query="mugs")
        calls = [(c.pixel, c.method, c.event) for c in pixel_calls(pixel_page)]
    assert [call for call in calls if call[1] != "load"] == [
        (None, "page", None),
        (CODE, "identify", None),
        (CODE, "track", "Search"),
    ]
    # The two SDK loads finish in either order.
    assert sorted(c[0] or "" for c in calls if c[1] == "load") == sorted([CODE, OTHER_CODE])
