"""The hostile string corpus in a real Chromium: no script breakout, the exact values arrive.

Every string of the corpus goes into the page as a parameter value, a parameter name and a
nested value of its own event, with TikTok's SDK answered by the QA kit's recorder. The
``pixel_page`` fixture also fails the test if a raw e-mail address or phone number reaches any
script or call.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import make_app, page
from flask import Flask
from playwright.sync_api import Dialog, Page
from test_hostile import CORPUS, EMAIL, PHONE

from pixel_embed import TikTokPixel, validate_event
from pixel_embed.testing import pixel_calls, serve_app

BREAKOUTS = [
    "</script><script>window.__breakout=1</script>",
    "</SCRIPT ><script>window.__breakout=1</script>",
    "<!--<script>window.__breakout=1//",
    "<img src=x onerror=window.__breakout=1>",
    "'-(window.__breakout=1)-'",
    '"-(window.__breakout=1)-"',
    "`${window.__breakout=1}`",
    "\u2028(window.__breakout=1)\u2029",
    '\\"-(window.__breakout=1)//',
    "]]><script>window.__breakout=1</script>",
    f"mail {EMAIL} or call {PHONE}</script><script>window.__breakout=1</script>",
]
# The corpus's longest strings are refused for their length: what is tested is what they become.
STRINGS = [text for text in [*BREAKOUTS, *CORPUS] if len(text) <= 2000]


def params_for(text: str) -> dict[str, Any]:
    return {"query": text, "custom": {"nested": [text, {"deeper": text}]}, text: "as a name"}


def ignore(error: object) -> None:
    """Lenient mode's choice: the bad field is dropped (or masked), the rest kept."""


def hostile_site() -> Flask:
    app = make_app(TIKTOK_PIXEL_STRICT=False)
    pixel = TikTokPixel(app)

    @app.get("/")
    def home() -> str:
        pixel.identify(first_name=STRINGS[0], city=EMAIL, external_id="u-1")
        for number, text in enumerate(STRINGS):
            pixel.track("Search", params_for(text), event_id=f"e{number}")
        return page()

    return app


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_app(hostile_site()) as url:
        yield url


def test_no_string_of_the_corpus_breaks_out_of_the_script(pixel_page: Page, base_url: str) -> None:
    dialogs: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    pixel_page.on("dialog", dismiss)
    errors: list[str] = []
    pixel_page.on("pageerror", lambda error: errors.append(str(error)))
    pixel_page.goto(base_url)
    assert pixel_page.evaluate("typeof window.__breakout") == "undefined"
    assert dialogs == []
    assert errors == []
    tracks = [call.args for call in pixel_calls(pixel_page) if call.method == "track"]
    expected = [
        [
            "Search",
            dict(validate_event("Search", params_for(text), on_error=ignore).params),
            {"event_id": f"e{number}"},
        ]
        for number, text in enumerate(STRINGS)
    ]
    assert [list(args) for args in tracks] == expected
    # A breakout string is kept as it is: only personal data is masked.
    assert tracks[0][1]["query"] == BREAKOUTS[0]
    assert "__proto__" not in tracks[STRINGS.index("__proto__")][1]
