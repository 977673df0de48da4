"""Helpers for driving the demo shop in Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import Page

from demo_site import create_app
from pixel_embed.testing import serve_app

#: Every page of the shop in the default consent mode ("hold") starts with these calls.
HELD = ("load", "holdConsent", "page")


@contextmanager
def running_shop(**config: Any) -> Iterator[str]:
    """The demo shop with ``config`` on a local server; yields its base URL.

    Classic form posts and redirects unless ``DEMO_HTMX=True`` (test_shop_partial.py).
    """
    with serve_app(create_app({"TESTING": True, "DEMO_HTMX": False, **config})) as url:
        yield url


def press(page: Page, button: str, lands_on: str) -> None:
    """Click the button named ``button`` and wait for the page it leads to, at ``lands_on``
    (a glob; the same page's address too, after a POST that redirects back)."""
    with page.expect_navigation(url=lands_on):
        page.get_by_role("button", name=button, exact=True).click()
