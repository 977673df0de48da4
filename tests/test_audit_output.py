"""What the audit prints is safe: a hostile page cannot drive the terminal or forge report lines,
and the personal data it finds is masked (issue 11, item 7)."""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import CODE
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from playwright.sync_api import Browser

from pixel_embed import PixelSettings, render_pixel
from pixel_embed.audit.redact import (
    escape_controls,
    escape_report,
    json_safe,
    mask_data,
    mask_text,
    safe_text,
)
from pixel_embed.cli import main
from pixel_embed.testing import serve_app

# What a terminal acts on: C0 controls but the line feed, DEL, C1, separators, bidi controls.
UNSAFE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff]"
)
EVENT = "\x1b[2J\x1b[Hall checks passed\r\nAddToCart"
KEY = "col\u202eruo"
HOSTILE = (
    str(render_pixel(PixelSettings((CODE,))))
    + "<script>"
    + 'ttq.identify({email: "jane@example.com", phone_number: "+12133734253"});'
    + 'ttq.identify("user-4242", {email: "jane@example.com"});'
    + f"ttq.track({json.dumps(EVENT)}, {{{json.dumps(KEY)}: '\\u009b31m', value: 5, "
    + 'currency: "USD", description: "call 415-555-0100"}, {event_id: "x\\u001b]0;t\\u0007"});'
    + "</script><script>"
    + 'ttq.track("Lead", {}, {event_id: "l-1"});'
    + 'throw new Error("\\u001b[31mboom, write to jane@example.com\\u001b[0m");'
    + "</script>"
)
RAW = ("jane@example.com", "2133734253", "415-555-0100", "user-4242", "\x1b", "\u202e", "\x9b")


def hostile_app() -> Flask:
    app = Flask(__name__)

    @app.get("/hostile")
    def hostile() -> str:
        return f"<!doctype html><html><head>{HOSTILE}</head><body>shop</body></html>"

    return app


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve_app(hostile_app()) as base:
        yield f"{base}/hostile?email=jane@example.com"


def test_the_text_report_escapes_controls_and_masks_personal_data(
    pixel_browser: Browser, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", url], browser=pixel_browser) == 1
    out, err = capsys.readouterr()
    for text in (out, err):
        assert UNSAFE.search(text) is None, text
        for raw in RAW:
            assert raw not in text
    lines = out.splitlines()
    assert not any(line.startswith("all checks passed") for line in lines)
    # The forged text is still there to read, on the line of its call, escaped.
    assert any("\\x1b[2J\\x1b[Hall checks passed\\x0d\\x0aAddToCart" in line for line in lines)
    assert "j***@example.com" in out
    assert "+*********53" in out
    assert "/hostile?email=j***@example.com" in out
    [error] = [line for line in lines if "pixel-js-error" in line]
    assert error.endswith(
        "which holds a ttq call: Error: \\x1b[31mboom, write to j***@example.com\\x1b[0m"
    )


def test_the_json_report_stays_machine_readable_without_personal_data(
    pixel_browser: Browser, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "--json", url], browser=pixel_browser) == 1
    out, _ = capsys.readouterr()
    assert UNSAFE.search(out) is None
    for raw in RAW[:4]:
        assert raw not in out
    report = json.loads(out)
    [result] = report["results"]
    calls = result["calls"]
    identify = next(call for call in calls if call["method"] == "identify")
    assert identify["params"] == {"email": "j***@example.com", "phone_number": "+*********53"}
    track = next(call for call in calls if call["event"] == EVENT)
    # Not personal data: the page's text comes back exactly as it was, controls and all.
    assert track["params"][KEY] == "\x9b31m"
    assert track["params"]["description"] == "call ***-***-**00"
    assert track["event_id"] == "x\x1b]0;t\x07"
    assert result["url"].endswith("/hostile?email=j***@example.com")
    assert all("jane" not in finding["message"] for finding in result["findings"])


# -- the functions, for any text -------------------------------------------------------------

LOCAL = st.text(string.ascii_lowercase + string.digits + "._+-", min_size=2, max_size=20).filter(
    lambda s: s[0].isalnum()
)
DOMAIN = st.lists(
    st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=10), min_size=1, max_size=3
)
EMAILS = st.builds(
    lambda local, labels, tld: f"{local}@{'.'.join(labels)}.{tld}",
    LOCAL,
    DOMAIN,
    st.sampled_from(["com", "org", "co.uk", "shop"]),
)
NUMBERS = st.tuples(st.integers(200, 999), st.integers(200, 999), st.integers(0, 9999)).map(
    lambda t: (t[0], t[1], f"{t[2]:04d}")
)
PHONES = NUMBERS.flatmap(
    lambda n: st.sampled_from(
        [f"+1{n[0]}{n[1]}{n[2]}", f"({n[0]}) {n[1]}-{n[2]}", f"{n[0]}-{n[1]}-{n[2]}"]
    )
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.text())
def test_escaped_text_holds_no_control_character(text: str) -> None:
    escaped = escape_controls(text)
    assert UNSAFE.search(escaped) is None
    assert "\n" not in escaped
    assert UNSAFE.search(escape_report(text)) is None
    if UNSAFE.search(text) is None and "\n" not in text:
        assert escaped == text
    escaped.encode("utf-8")  # no lone surrogate left to crash a writer


@given(JSON)
def test_json_made_safe_parses_to_the_same_values(value: Any) -> None:
    text = json_safe(json.dumps(value, indent=2, ensure_ascii=False))
    assert UNSAFE.search(text) is None
    assert json.loads(text) == value


@given(st.text(max_size=30), EMAILS, PHONES, st.text(max_size=30))
def test_masked_text_holds_no_address_or_number(
    before: str, email: str, phone: str, after: str
) -> None:
    text = f"{before} {email} / {phone} {after}"
    masked = safe_text(text)
    assert email not in masked
    assert phone not in masked
    assert f"{email[0]}***@{email.split('@', 1)[1]}" in mask_text(f" {email} ")
    assert phone[-2:] in mask_text(f" {phone} ")


@given(EMAILS, PHONES, st.text(string.ascii_letters, min_size=2, max_size=12))
def test_identity_fields_are_masked_whatever_they_hold(email: str, phone: str, other: str) -> None:
    data = {"email": email, "phone_number": phone, "external_id": other, "city": "paris"}
    masked = mask_data([data, {"contents": [{"content_id": "sku-1", "note": email}]}])
    text = json.dumps(masked)
    for raw in (email, phone):
        assert raw not in text
    assert masked[0]["external_id"] == f"{other[0]}***"
    assert masked[0]["city"] == "paris"
    assert masked[1]["contents"][0]["content_id"] == "sku-1"
