"""The QA kit on a Starlette app, as a FastAPI or Starlette project would use it: its ``app``
fixture returns the ASGI app, and ``pixel_app_url`` serves it on uvicorn, lifespan included."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from asgi_support import KINDS, Kind, site
from playwright.sync_api import Page
from starlette.applications import Starlette

from pixel_embed.testing import expect_pixel

LIFESPAN: list[str] = []


@pytest.fixture
def app(kind: Kind) -> Starlette:
    built, _ = site(kind)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        LIFESPAN.append("startup")
        yield
        LIFESPAN.append("shutdown")

    built.router.lifespan_context = lifespan
    LIFESPAN.clear()
    return built


@pytest.mark.parametrize("kind", KINDS)
def test_pixel_app_url_serves_an_asgi_app(kind: Kind, pixel_page: Page, pixel_app_url: str) -> None:
    pixel_page.goto(pixel_app_url + "/product/mug")
    expect_pixel(pixel_page).to_have_tracked("ViewContent", times=1, content_id="mug")
    expect_pixel(pixel_page).to_have_made("load", "page", "ViewContent")
    assert LIFESPAN == ["startup"]  # before the first request; shutdown when the test ends
