"""The QA kit records ttq.load as the page called it: with its options only when it had some."""

from __future__ import annotations

import pytest
from conftest import CODE, make_app, page
from playwright.sync_api import Page

from pixel_embed import TikTokPixel
from pixel_embed.testing import expect_pixel, pixel_calls, serve_app


@pytest.mark.parametrize(
    ("ldu", "args"), [(False, (CODE,)), (True, (CODE, {"limited_data_use": True}))]
)
def test_load_is_recorded_as_called(pixel_page: Page, ldu: bool, args: tuple[object, ...]) -> None:
    app = make_app(TIKTOK_PIXEL_LDU=ldu)
    TikTokPixel(app)
    app.add_url_rule("/", view_func=page)
    with serve_app(app) as url:
        pixel_page.goto(f"{url}/")
        expect_pixel(pixel_page).to_have_loaded(CODE)
        loads = [c.args for c in pixel_calls(pixel_page) if c.method == "load"]
    assert loads == [args]
