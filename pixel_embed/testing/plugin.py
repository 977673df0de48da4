"""The pytest plugin (entry point ``pytest11``): fixtures for testing a site's pixel in Chromium.

Fixtures:

``pixel_browser``
    A headless Chromium for the session (Playwright's own, else the system's).
``pixel_page``
    A fresh page whose context answers TikTok's SDK URL with the recorder and blocks every other
    outside address. With pytest-playwright installed it is that plugin's ``page``. At teardown it
    fails the test when raw PII appears in the page's scripts or recorded calls (opt out with
    ``@pytest.mark.pixel_allow_raw_pii``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from .browser import BrowserNotFound, find_chromium
from .pii import pii_in_calls, pii_in_text
from .recorder import inline_scripts, install_recorder, recorder_for


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "pixel_allow_raw_pii: do not fail the test for raw PII on its pixel_page"
    )
    if config.pluginmanager.hasplugin("playwright"):
        # Registered after every entry-point plugin, so its fixture wraps pytest-playwright's.
        from . import playwright_launch

        config.pluginmanager.register(playwright_launch, "pixel_embed.playwright_launch")


def assert_no_raw_pii(page: Page) -> None:
    """Fail when a raw e-mail address or phone number is in an inline script of any document
    the page's context loaded, or in any call recorded there (values that must be SHA-256
    digests are checked too)."""
    recorder = recorder_for(page)
    scripts = dict.fromkeys(recorder.scripts)
    if not page.is_closed():
        # The current document, also when it was loaded before the recorder was installed.
        scripts.update(dict.fromkeys((page.url, text) for text in inline_scripts(page)))
    problems = []
    numbers: dict[str, int] = {}
    for url, text in scripts:
        numbers[url] = numbers.get(url, 0) + 1
        problems += pii_in_text(text, f"{url} inline script {numbers[url]}")
    problems += pii_in_calls(recorder.history)
    if problems:
        raise AssertionError("raw personal data reached the page:\n  " + "\n  ".join(problems))


@pytest.fixture(scope="session")
def pixel_browser() -> Iterator[Browser]:
    """A headless Chromium for the whole session."""
    try:
        chromium = find_chromium()
    except BrowserNotFound as exc:
        pytest.fail(str(exc), pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**chromium.launch_options())  # type: ignore[arg-type]
        yield browser
        browser.close()


@pytest.fixture
def pixel_page(request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page with the pixel recorder installed on its context."""
    if request.config.pluginmanager.hasplugin("playwright"):
        page: Page = request.getfixturevalue("page")
        install_recorder(page.context)
        yield page
        _check_pii(request, page)
        return
    browser: Browser = request.getfixturevalue("pixel_browser")
    context = browser.new_context()
    install_recorder(context)
    page = context.new_page()
    try:
        yield page
        _check_pii(request, page)
    finally:
        context.close()


def _check_pii(request: pytest.FixtureRequest, page: Page) -> None:
    if request.node.get_closest_marker("pixel_allow_raw_pii") is None:
        assert_no_raw_pii(page)
