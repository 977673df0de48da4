"""Assertions that read well when they fail: numbers by value, nested subsets, full diffs,
identity mismatches that name the field, and the plugin's choice of SDK mode."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import make_app, page
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from playwright.sync_api import Page
from test_qa_kit import APP

from pixel_embed import TikTokPixel
from pixel_embed.browser.pii import pii_in_beacons
from pixel_embed.matching import hash_email
from pixel_embed.testing import WireEvent, expect_pixel, serve_app
from pixel_embed.testing.compare import diff, same_value

pytest_plugins = ["pytester"]

LONG_NAME = "Enamel camp mug, speckled blue, with a stainless rim and a lid " * 2
CONTENTS = [
    {"content_id": "PX-2001", "content_name": LONG_NAME, "price": 34.76, "quantity": 1},
    {"content_id": "PX-3003", "content_name": "Canvas tote", "price": 12, "quantity": 2},
]


def shop() -> Flask:
    app = make_app()
    pixel = TikTokPixel(app)

    @app.get("/")
    def home() -> str:
        pixel.identify(email="jane@example.com")
        pixel.track("CompletePayment", value=58.76, currency="USD", contents=CONTENTS)
        return page()

    return app


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_app(shop()) as url:
        yield url


# -- matching --------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_a_value_matches_itself_and_its_json_round_trip(value: Any) -> None:
    assert same_value(value, value)
    assert same_value(json.loads(json.dumps(value)), value)


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=2))
def test_a_decimal_matches_the_float_the_browser_holds(amount: Decimal) -> None:
    assert same_value(float(amount), amount)
    assert same_value(float(amount), float(amount))
    assert not same_value(float(amount) + 1, amount)


@given(st.dictionaries(st.text(), st.integers(), min_size=1), st.text(), st.integers())
def test_a_dict_matches_on_the_keys_given(actual: dict[str, int], key: str, extra: int) -> None:
    given_keys = dict(list(actual.items())[:1])
    assert same_value({**actual}, given_keys)
    assert same_value([{**actual}], [given_keys])  # inside a list, such as contents
    if key not in actual:
        assert not same_value(actual, {**given_keys, key: extra})


def test_matching_rules() -> None:
    assert same_value(34.76, Decimal("34.76"))
    assert same_value(29, 29.0)
    assert not same_value(True, 1)  # a flag is not a number
    assert not same_value("34.76", 34.76)  # a string is not a number
    assert not same_value([1, 2], [1])  # a list has as many items as given
    assert same_value({"contents": [{"id": "a", "q": 1}]}, {"contents": [{"id": "a"}]})


def test_the_diff_shows_every_differing_value_in_full() -> None:
    expected = {"value": 42.5, "contents": [{"content_name": LONG_NAME + "!"}]}
    actual = {"value": 40, "contents": [{"content_name": LONG_NAME, "price": 1}]}
    text = diff(expected, actual)
    assert "  value: expected 42.5, got 40" in text
    assert json.dumps(LONG_NAME + "!") in text  # no cut at 70 characters
    assert "--- expected" in text
    assert "+++ actual" in text


# -- failures on a real page -----------------------------------------------------------------


def test_decimals_and_nested_subsets_match_on_the_page(pixel_page: Page, base_url: str) -> None:
    pixel_page.goto(base_url)
    expect_pixel(pixel_page).to_have_tracked(
        "CompletePayment",
        value=Decimal("58.76"),
        contents=[{"price": Decimal("34.76")}, {"content_id": "PX-3003", "quantity": 2}],
    )


def test_a_mismatch_shows_the_full_value_where_it_differs(pixel_page: Page, base_url: str) -> None:
    pixel_page.goto(base_url)
    with pytest.raises(AssertionError) as caught:
        expect_pixel(pixel_page, timeout=0.3).to_have_tracked(
            "CompletePayment", contents=[{"content_name": LONG_NAME.strip()}, {}]
        )
    message = str(caught.value)
    assert "the closest ttq.track('CompletePayment') differs:" in message
    assert f"got {json.dumps(CONTENTS, separators=(',', ':'))}" in message
    assert f'-      "content_name": {json.dumps(LONG_NAME.strip())}' in message
    assert f'+      "content_name": {json.dumps(LONG_NAME)},' in message


def test_an_identify_mismatch_names_the_field_and_the_normalised_value(
    pixel_page: Page, base_url: str
) -> None:
    pixel_page.goto(base_url)
    with pytest.raises(AssertionError) as caught:
        expect_pixel(pixel_page, timeout=0.3).to_have_identified(email="Jane@Example.org")
    assert (
        "  email: expected sha256 of 'Jane@Example.org' (normalised 'jane@example.org') = "
        f"{hash_email('jane@example.org')}, got {hash_email('jane@example.com')}"
    ) in str(caught.value)


# -- the PII guard on the wire ---------------------------------------------------------------


def test_the_pii_guard_reads_the_beacons() -> None:
    leaky = WireEvent.from_beacon(
        "https://analytics.tiktok.com/api/v2/pixel",
        json.dumps(
            {
                "event": "Pageview",
                "context": {
                    "user": {
                        "email": "jane@example.com",
                        "auto_phone_number": hash_email("x@example.com"),
                    },
                    "page": {"url": "https://shop.test/?phone=+12133734253"},
                },
            }
        ),
    )
    assert pii_in_beacons([leaky]) == [
        "beacon 1 (Pageview to analytics.tiktok.com/api/v2/pixel) context.user.email: "
        "'jane@example.com' is not a SHA-256 digest",
        "beacon 1 (Pageview to analytics.tiktok.com/api/v2/pixel) context.page.url: a phone "
        "number in query parameter 'phone' of 'https://shop.test/?phone=+12133734253' (TikTok "
        "receives the page's URL: send the form with POST, or keep it out of the address)",
        "beacon 1 (Pageview to analytics.tiktok.com/api/v2/pixel): "
        "e-mail address 'jane@example.com'",
    ]


# -- the plugin's SDK mode: marker, option, skip -------------------------------------------------

TESTS = """
import pytest
from pixel_embed.testing import expect_pixel, recorder_for, serve_app
from shop import app

@pytest.fixture(scope="module")
def url():
    with serve_app(app) as base:
        yield base

@pytest.mark.pixel_sdk("real")
def test_marked(pixel_page, url):
    pixel_page.goto(url)
    expect_pixel(pixel_page).to_have_sent("CompletePayment", value=42.5)

def test_by_option(pixel_page, url):
    pixel_page.goto(url)
    print("MODE", recorder_for(pixel_page).sdk)
    expect_pixel(pixel_page).to_have_tracked("CompletePayment", value=42.5)

@pytest.mark.pixel_sdk("abort")
def test_aborted(pixel_page, url):
    pixel_page.goto(url)
    expect_pixel(pixel_page).to_have_tracked("CompletePayment", value=42.5)
    assert recorder_for(pixel_page).blocked
"""


def test_the_marker_and_the_option_choose_the_sdk(
    pytester: pytest.Pytester, sdk_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(shop=APP, test_shop=TESTS)  # the shop of test_qa_kit
    options = ["-p", "no:cacheprovider", "-p", "no:playwright", "-s"]
    monkeypatch.setenv("PIXEL_EMBED_SDK_DIR", str(sdk_dir))
    result = pytester.runpytest_subprocess(*options, "--pixel-sdk=real")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*MODE real*"])

    # Without a copy of the SDK, a real-SDK test is skipped with the reason; the others run.
    monkeypatch.delenv("PIXEL_EMBED_SDK_DIR")
    result = pytester.runpytest_subprocess(*options, "-rs")
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*MODE serve*",
            "SKIPPED*real-SDK mode needs a copy of TikTok's SDK: set PIXEL_EMBED_SDK_DIR",
        ]
    )


def test_a_wrong_mode_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_bad="""
import pytest

@pytest.mark.pixel_sdk("fake")
def test_bad(pixel_page):
    pass
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:playwright")
    result.stdout.fnmatch_lines(
        ["*@pytest.mark.pixel_sdk('fake') on test_bad.py::test_bad: the mode is one of serve*"]
    )
    assert result.ret != 0
