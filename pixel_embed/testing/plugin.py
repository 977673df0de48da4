"""The pytest plugin (entry point ``pytest11``): fixtures for testing a site's pixel in Chromium.

Fixtures:

``pixel_browser``
    A headless Chromium for the session (Playwright's own, else the system's).
``pixel_page``
    A fresh page whose context answers TikTok's SDK URL with the recorder and blocks every other
    outside address. With pytest-playwright installed it is that plugin's ``page``. At teardown it
    fails the test when raw PII appears in the page's scripts or recorded calls (opt out with
    ``@pytest.mark.pixel_allow_raw_pii``), and when the page's Content Security Policy blocked
    TikTok's hosts or the pixel's script, enforced or report-only (opt out with
    ``@pytest.mark.pixel_allow_csp_violations``).
``pixel_sdk_dir``
    The local copy of TikTok's SDK for real-SDK mode: ``PIXEL_EMBED_SDK_DIR``, else ``None``.
    Override it in a ``conftest.py`` to point at another copy.
``pixel_app_url``
    The base URL of the project's own app (its ``app`` fixture, or ``pixel_app``), served on a
    local port for the test's duration.
``tiktok_events_api``
    A fake of TikTok's Events API for the test (see :mod:`pixel_embed.testing.events_api`).

What answers TikTok's SDK URL is chosen per test with ``@pytest.mark.pixel_sdk("real")``
(``"serve"``, the recorder, is the default; ``"abort"`` plays an ad blocker), or for the whole
run with ``--pixel-sdk=real``; the marker wins. A real-SDK test is skipped, with the reason,
when there is no SDK copy.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, cast, get_args

import pytest

from ..browser.chromium import BrowserNotFound, find_chromium
from ..browser.pii import (
    AutoCollectedIdentity,
    auto_collected,
    pii_in_beacons,
    pii_in_calls,
    pii_in_text,
)
from ..browser.recorder import SdkMode, inline_scripts, install_recorder, recorder_for
from ..browser.sdk import ENV_VAR, find_sdk_dir
from ..browser.violations import format_violations, tiktok_violations
from .events_api import tiktok_events_api as tiktok_events_api
from .server import pixel_app_url as pixel_app_url

if TYPE_CHECKING:
    # Playwright is imported when a browser fixture is used: pytest starts in projects that
    # use none of our fixtures, and may not have Playwright at all.
    from playwright.sync_api import Browser, BrowserContext, Page

SDK_MODES: tuple[str, ...] = get_args(SdkMode)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pixel_embed", "pixel_embed QA kit")
    group.addoption(
        "--pixel-sdk",
        choices=SDK_MODES,
        default=None,
        help="what answers TikTok's SDK URL on pixel_page: serve (the recorder, default), "
        f"real (TikTok's own SDK from {ENV_VAR}) or abort (an ad blocker)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "pixel_allow_raw_pii: do not fail the test for raw PII on its pixel_page"
    )
    config.addinivalue_line(
        "markers",
        "pixel_allow_csp_violations: do not fail the test when the page's Content Security "
        "Policy blocks TikTok on its pixel_page",
    )
    config.addinivalue_line(
        "markers",
        "pixel_sdk(mode): what answers TikTok's SDK URL on pixel_page: "
        "'serve' (the recorder), 'real' (TikTok's own SDK) or 'abort'",
    )
    if config.pluginmanager.hasplugin("playwright"):
        # Registered after every entry-point plugin, so its fixture wraps pytest-playwright's.
        from . import playwright_launch

        config.pluginmanager.register(playwright_launch, "pixel_embed.playwright_launch")


def assert_no_raw_pii(page: Page) -> None:
    """Fail when a raw e-mail address or phone number is in an inline script of any document
    the page's context loaded, in any call recorded there, or (real-SDK mode) in any beacon
    TikTok's SDK sent (values that must be SHA-256 digests are checked too)."""
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
    problems += pii_in_beacons(recorder.beacons)
    if problems:
        raise AssertionError("raw personal data reached the page:\n  " + "\n  ".join(problems))


@pytest.fixture(scope="session")
def pixel_browser() -> Iterator[Browser]:
    """A headless Chromium for the whole session."""
    try:
        chromium = find_chromium()  # first: it says what to install when Playwright is missing
    except BrowserNotFound as exc:
        pytest.fail(str(exc), pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**chromium.launch_options)
        yield browser
        browser.close()


@pytest.fixture
def pixel_sdk_dir() -> Path | None:
    """The local copy of TikTok's SDK that real-SDK mode serves (``PIXEL_EMBED_SDK_DIR``)."""
    return find_sdk_dir()


def pixel_sdk_mode(request: pytest.FixtureRequest) -> SdkMode:
    """The SDK mode of the requesting test: its ``pixel_sdk`` marker, else ``--pixel-sdk``,
    else ``"serve"``.

    :raises pytest.UsageError: the marker names no mode.
    """
    marker = request.node.get_closest_marker("pixel_sdk")
    if marker is not None:
        mode = marker.args[0] if marker.args else marker.kwargs.get("mode")
        if mode not in SDK_MODES:
            raise pytest.UsageError(
                f"@pytest.mark.pixel_sdk({mode!r}) on {request.node.nodeid}: "
                f"the mode is one of {', '.join(SDK_MODES)}"
            )
        return cast(SdkMode, mode)
    option = request.config.getoption("--pixel-sdk", default=None)
    return cast(SdkMode, option or "serve")


def _install(request: pytest.FixtureRequest, context: BrowserContext) -> None:
    mode = pixel_sdk_mode(request)
    if mode != "real":
        install_recorder(context, sdk=mode)
        return
    sdk_dir: Path | None = request.getfixturevalue("pixel_sdk_dir")
    if sdk_dir is None:
        pytest.skip(f"real-SDK mode needs a copy of TikTok's SDK: set {ENV_VAR}")
    install_recorder(context, sdk="real", sdk_dir=sdk_dir)


@pytest.fixture
def pixel_page(request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page with the pixel recorder installed on its context (in the test's SDK mode)."""
    if request.config.pluginmanager.hasplugin("playwright"):
        page: Page = request.getfixturevalue("page")
        _install(request, page.context)
        yield page
        _check_pii(request, page)
        _check_csp(request, page)
        return
    browser: Browser = request.getfixturevalue("pixel_browser")
    context = browser.new_context()
    try:
        _install(request, context)
    except BaseException:
        context.close()
        raise
    page = context.new_page()
    try:
        yield page
        _check_pii(request, page)
        _check_csp(request, page)
    finally:
        context.close()


def _check_pii(request: pytest.FixtureRequest, page: Page) -> None:
    if request.node.get_closest_marker("pixel_allow_raw_pii") is None:
        assert_no_raw_pii(page)
    report_auto_collected(page)


def report_auto_collected(page: Page) -> None:
    """Warn (:class:`AutoCollectedIdentity`) for each identity TikTok's SDK collected from the
    page's forms by itself, as the audit's ``wire-auto-collected`` finding does."""
    for problem in auto_collected(recorder_for(page).beacons):
        warnings.warn(problem, AutoCollectedIdentity, stacklevel=2)


def assert_no_csp_block(page: Page) -> None:
    """Fail when a Content Security Policy violation of the page's context blocked one of
    TikTok's hosts (its SDK, its beacons) or the pixel's inline script; a report-only policy's
    violations count too: the day it is enforced, they block."""
    from playwright.sync_api import Error as PlaywrightError

    recorder = recorder_for(page)
    if not page.is_closed():
        # Violations arrive by event tasks: let the page's pending ones through first (a page
        # navigating or gone raises: what arrived is what there is).
        with contextlib.suppress(PlaywrightError):
            page.evaluate("() => new Promise((done) => setTimeout(done, 0))")
    blocked = tiktok_violations(recorder)
    if blocked:
        raise AssertionError(
            "the page's Content Security Policy blocks TikTok:\n"
            + format_violations(blocked)
            + "\nallow pixel.csp_sources() in the policy (pixel_embed.merge_csp), or mark the "
            "test @pytest.mark.pixel_allow_csp_violations"
        )


def _check_csp(request: pytest.FixtureRequest, page: Page) -> None:
    if request.node.get_closest_marker("pixel_allow_csp_violations") is None:
        assert_no_csp_block(page)
