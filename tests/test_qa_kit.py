"""The QA kit as a QA engineer uses it: the pytest plugin, its messages, and its PII guard."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pixel_embed.browser.pii import pii_in_calls, pii_in_text
from pixel_embed.testing import (
    BrowserNotFound,
    Chromium,
    RecordedCall,
    find_chromium,
    format_calls,
)

pytest_plugins = ["pytester"]

APP = """
from flask import Flask, render_template_string
from pixel_embed import TikTokPixel

app = Flask(__name__)
app.config.update(SECRET_KEY="s", TIKTOK_PIXEL_CODE="CABCDE1234567890ABCD")
pixel = TikTokPixel(app)

@app.get("/")
def home():
    pixel.identify(email="jane@example.com")
    pixel.track("CompletePayment", value=42.5, currency="USD")
    return render_template_string("<html><head>{{ tiktok_pixel() }}</head><body>shop</body></html>")

@app.get("/leaky")
def leaky():
    return render_template_string(
        "<html><head>{{ tiktok_pixel() }}<script>var who = 'jane@example.com';</script></head></html>"
    )
"""

FIRST_TEST = """
import pytest
from pixel_embed.testing import expect_pixel, serve_app
from shop import app

@pytest.fixture(scope="module")
def url():
    with serve_app(app) as base:
        yield base

def test_purchase(pixel_page, url, request):
    # With pytest-playwright active, pixel_page is built on its page fixture.
    uses_page = "page" in request.fixturenames
    assert uses_page == request.config.pluginmanager.hasplugin("playwright")
    pixel_page.goto(url)
    expect_pixel(pixel_page).to_have_loaded("CABCDE1234567890ABCD")
    expect_pixel(pixel_page).to_have_tracked("CompletePayment", value=42.5, currency="USD")
    expect_pixel(pixel_page).to_have_identified(email="Jane@Example.com")

def test_wrong_value(pixel_page, url):
    pixel_page.goto(url)
    expect_pixel(pixel_page, timeout=0.3).to_have_tracked("CompletePayment", value=99)

def test_leak(pixel_page, url):
    pixel_page.goto(url + "/leaky")

def test_leak_on_an_earlier_page(pixel_page, url):
    pixel_page.goto(url + "/leaky")
    pixel_page.goto(url)

@pytest.mark.pixel_allow_raw_pii
def test_leak_allowed(pixel_page, url):
    pixel_page.goto(url + "/leaky")
"""


@pytest.mark.parametrize("pytest_playwright", ["without", "with"])
def test_the_plugin_in_a_real_pytest_run(pytester: pytest.Pytester, pytest_playwright: str) -> None:
    pytester.makepyfile(shop=APP, test_shop=FIRST_TEST)
    # In a subprocess: the plugin is found through its pytest11 entry point, as in any project.
    # With pytest-playwright, pixel_page is its page, launched in the Chromium the kit found.
    options = ["-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning"]
    if pytest_playwright == "without":
        options += ["-p", "no:playwright"]
    result = pytester.runpytest_subprocess(*options)
    result.assert_outcomes(passed=4, failed=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*expected ttq.track('CompletePayment', value=99) within 0.3 s on http://127.0.0.1:*",
            "*#  pixel*method*event / arguments*event_id*",
            "*1  CABCDE1234567890ABCD  load*",
            '*4  -  *track     CompletePayment {"value":42.5,"currency":"USD"}*',
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*raw personal data reached the page:*",
            "*/leaky inline script 2: e-mail address 'jane@example.com'",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leak_on_an_earlier_page*",
            "*/leaky inline script 2: e-mail address 'jane@example.com'",
        ]
    )


def test_no_browser_gives_one_clear_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PIXEL_EMBED_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path))
    with pytest.raises(BrowserNotFound) as caught:
        find_chromium()
    assert str(caught.value) == (
        "No Chromium found: install one with `apt-get install -y chromium` (Debian/Ubuntu) or "
        "`python -m playwright install chromium`, or set PIXEL_EMBED_CHROMIUM to a Chromium "
        "executable."
    )


def test_the_environment_variable_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "my-chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PIXEL_EMBED_CHROMIUM", str(fake))
    chromium = find_chromium()
    assert chromium.executable == str(fake)
    assert "--no-sandbox" in chromium.launch_options["args"]
    monkeypatch.setenv("PIXEL_EMBED_CHROMIUM", str(tmp_path / "missing"))
    with pytest.raises(BrowserNotFound, match="is not an executable file"):
        find_chromium()


def test_launch_options_is_a_value_and_calling_it_still_works(tmp_path: Path) -> None:
    chromium = Chromium(str(tmp_path / "chromium"), ("--no-sandbox",), "system")
    options = chromium.launch_options
    assert options == {
        "headless": True,
        "args": ["--no-sandbox"],
        "executable_path": str(tmp_path / "chromium"),
    }
    options["args"].append("--mine")  # a fresh dict: the next caller's is untouched
    assert chromium.launch_options["args"] == ["--no-sandbox"]
    with pytest.deprecated_call(match="without the parentheses"):
        assert chromium.launch_options() == chromium.launch_options  # 0.1's method call
    assert Chromium(None, (), "playwright").launch_options == {"headless": True, "args": []}


def test_a_system_chromium_gets_the_container_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIXEL_EMBED_CHROMIUM", raising=False)
    chromium = find_chromium()
    if chromium.source == "system":
        assert chromium.args == (
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        )
        assert os.access(str(chromium.executable), os.X_OK)
    else:
        assert chromium.executable is None


DIGEST = "8c87b489ce35cf2e2f39f80e282cb2e804932a56a213983eeeb428407d43b52d"


def test_pii_in_text() -> None:
    assert pii_in_text("ttq.identify({email: 'jane@example.com'})", "s") == [
        "s: e-mail address 'jane@example.com'"
    ]
    assert pii_in_text("call +12133734253 or (213) 373-4253", "s") == [
        "s: phone number '+12133734253'",
        "s: phone number '(213) 373-4253'",
    ]
    assert pii_in_text(f"ttq.identify({{email: '{DIGEST}'}}); order 20240101", "s") == []


def test_pii_in_calls() -> None:
    calls = [
        RecordedCall(None, "identify", ({"email": DIGEST, "phone_number": "+12133734253"},)),
        RecordedCall(None, "identify", ({"external_id": "u-42", "country": "us"},)),
        RecordedCall(None, "track", ("Contact", {"description": "from jane@example.com"})),
        RecordedCall(None, "track", ("Search", {"query": "mugs", "order_id": "12345678"})),
    ]
    assert pii_in_calls(calls) == [
        "call 1 ttq.identify args[0].phone_number: '+12133734253' is not a SHA-256 digest",
        "call 2 ttq.identify args[0].external_id: 'u-42' is not a SHA-256 digest",
        "call 3 ttq.track args[1].description: e-mail address 'jane@example.com'",
    ]


def test_format_calls_is_a_readable_table() -> None:
    table = format_calls(
        [
            RecordedCall("CABCDE1234567890ABCD", "load", ("CABCDE1234567890ABCD",)),
            RecordedCall(None, "track", ("Search", {"query": "a\u2028b"}, {"event_id": "e-1"})),
        ]
    )
    assert table.splitlines() == [
        "  #  pixel                 method  event / arguments            event_id",
        '  1  CABCDE1234567890ABCD  load    ["CABCDE1234567890ABCD"]',
        '  2  -                     track   Search {"query":"a\\u2028b"}  e-1',
    ]
    assert format_calls([]) == "  (no ttq calls were recorded on this page)"
