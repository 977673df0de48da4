"""The QA kit on a Django site, as a Django project would use it: with pytest-django's own
``live_server``, and with the kit's ``pixel_app_url`` serving the project's ``pixel_app``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.test import override_settings
from django_support import JANE, seed_customers
from playwright.sync_api import Page

from pixel_embed.testing import expect_pixel


@pytest.mark.django_db(transaction=True)
def test_the_kit_drives_pytest_djangos_live_server(pixel_page: Page, live_server: object) -> None:
    seed_customers()
    url: str = live_server.url  # type: ignore[attr-defined]
    pixel_page.goto(url + "/login")
    pixel_page.get_by_label("Name").fill(JANE[0])
    pixel_page.get_by_label("Password").fill(JANE[3])
    with pixel_page.expect_navigation(url=url + "/"):
        pixel_page.get_by_role("button", name="Log in").click()
    pixel_page.goto(url + "/product/canvas-tote")
    expect_pixel(pixel_page).to_have_tracked("ViewContent", times=1, value=19.99, currency="USD")
    expect_pixel(pixel_page).to_have_identified(email=JANE[1], phone_number=JANE[2])


@pytest.fixture
def pixel_app() -> Iterator[WSGIHandler]:
    """The project's app for the kit's ``pixel_app_url``: Django's WSGI handler."""
    with override_settings(TIKTOK_PIXEL_CONSENT="none"):
        yield WSGIHandler()


def test_the_kits_own_server_fixture_serves_a_django_handler(
    pixel_page: Page, pixel_app_url: str
) -> None:
    pixel_page.goto(pixel_app_url + "/product/black-tee")
    expect_pixel(pixel_page).to_have_made("load", "page", "ViewContent")
    expect_pixel(pixel_page).to_have_tracked("ViewContent", times=1, value=24, currency="USD")
