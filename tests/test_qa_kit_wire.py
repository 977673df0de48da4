"""The QA kit on the wire: TikTok's own SDK, served from a local copy, in a real Chromium."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sdk_support
from conftest import CODE, OTHER_CODE, make_app, page
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page

from pixel_embed import TikTokPixel
from pixel_embed.audit.wire import wire_findings
from pixel_embed.browser.sdk import (
    SdkFiles,
    loader_bundle,
    loader_pixel_code,
    sdk_event_renames,
)
from pixel_embed.browser.wire import WIRE_NAMES, format_wire, wire_name
from pixel_embed.matching import hash_email
from pixel_embed.testing import (
    WireEvent,
    expect_pixel,
    install_recorder,
    pixel_calls,
    recorder_for,
    serve_app,
    wire_events,
)

PAID: dict[str, Any] = {"value": 42.5, "currency": "USD"}


def raw_page(script: str, *, codes: tuple[str, ...] = (CODE,), ldu: bool = False) -> str:
    return sdk_support.raw_page(script, codes=codes, ldu=ldu)


def wire_shop() -> Flask:
    app = make_app()
    pixel = TikTokPixel(app)

    @app.get("/")
    def home() -> str:
        pixel.identify(email="Jane@Example.com", phone_number="+1 (213) 373-4253")
        pixel.track(
            "CompletePayment",
            **PAID,
            contents=[{"content_id": "mug", "price": 42.5, "quantity": 1}],
            event_id="order-1",
        )
        return page()

    @app.get("/raw")
    def raw() -> str:
        # Hand-written calls: a plain e-mail and an invalid phone number reach TikTok's SDK.
        return raw_page(
            "ttq.identify({email: 'Jane@Example.com', phone_number: '12345'});"
            "ttq.track('SubmitForm', {value: 1});"
        )

    @app.get("/renames")
    def renames() -> str:
        names = json.dumps(sorted(WIRE_NAMES))
        return raw_page(f"{names}.forEach(function (n) {{ ttq.track(n, {{description: n}}); }});")

    @app.get("/late")
    def late() -> str:
        return raw_page("setTimeout(function () { ttq.track('Search', {query: 'mug'}); }, 300);")

    @app.get("/ldu")
    def ldu() -> str:
        return raw_page("ttq.track('ViewContent', {value: 3, currency: 'EUR'});", ldu=True)

    @app.get("/two")
    def two() -> str:
        return raw_page(
            f"ttq.instance('{OTHER_CODE}').track('Search', {{query: 'only-other'}});",
            codes=(CODE, OTHER_CODE),
        )

    @app.route("/form", methods=["GET", "POST"])
    def form() -> str:
        # A sign-up form: TikTok's automatic advanced matching reads it when it is submitted.
        fields = (
            '<form method="post"><input type="email" name="email" value="ada@example.com">'
            '<input type="tel" name="phone" value="+12133734253">'
            '<button type="submit">Sign up</button></form>'
        )
        return raw_page("", codes=(CODE,)).replace("<body>ok", "<body>" + fields)

    return app


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_app(wire_shop()) as url:
        yield url


@pytest.fixture
def real_context(pixel_browser: Browser, sdk_dir: Path) -> Iterator[BrowserContext]:
    context = pixel_browser.new_context()
    install_recorder(context, sdk="real", sdk_dir=sdk_dir)
    yield context
    context.close()


def sent(tab: Page, event: str) -> list[WireEvent]:
    """The beacons of ``event`` once one has gone out (waiting up to 5 s)."""
    for _ in range(50):
        found = [beacon for beacon in wire_events(tab) if beacon.event == event]
        if found:
            return found
        tab.wait_for_timeout(100)
    return []


def test_tiktoks_sdk_sends_the_pages_calls_and_the_kit_keeps_every_beacon(
    real_context: BrowserContext, base_url: str
) -> None:
    tab = real_context.new_page()
    tab.goto(base_url)
    # The page's ttq calls are still recorded, the real SDK running unchanged.
    expect_pixel(tab).to_have_tracked("CompletePayment", value=42.5, event_id="order-1")
    recorder = install_recorder(real_context)
    purchases = sent(tab, "Purchase")
    assert len(purchases) == 1
    purchase = purchases[0]
    assert purchase.endpoint == "analytics.tiktok.com/api/v2/pixel"
    assert purchase.pixel == CODE
    assert purchase.event_id == "order-1"
    assert purchase.properties["value"] == 42.5
    assert purchase.user["email"] == hash_email("jane@example.com")
    assert purchase.identity_params["email_is_hashed"] == ["hashed"]
    assert purchase.identity == {"email": "hashed", "phone_number": "hashed"}
    assert purchase.signal_labels["hashed_email"] == "valid"
    assert purchase.page_url == base_url + "/"
    assert purchase.body["event"] == "Purchase"
    assert '"Purchase"' in purchase.text
    # The loader was asked for our pixel, the bundles it names came from the copy, and
    # nothing was aborted: every TikTok URL was answered here.
    assert recorder.sdk_loads() == [CODE]
    assert recorder.blocked == []
    assert recorder.errors == []
    assert [c.method for c in pixel_calls(tab)][:2] == ["load", "page"]


def test_the_loader_is_rewritten_to_the_requested_pixel(sdk_dir: Path) -> None:
    files = SdkFiles(sdk_dir)
    original = (sdk_dir / "analytics.tiktok.com/i18n/pixel/events.js").read_text()
    built_for = loader_pixel_code(original)
    assert built_for is not None
    assert built_for != CODE
    served = files.body_for("analytics.tiktok.com", "/i18n/pixel/events.js", CODE)
    assert served is not None
    assert built_for not in served
    assert f'"pixelCode": "{CODE}"' in served
    # The bundle the loader picks is in the copy.
    bundle = loader_bundle(original)
    assert bundle is not None
    assert files.file_for("analytics.tiktok.com", f"/i18n/pixel/static/{bundle}") is not None
    # Nothing outside the copy is served.
    assert files.body_for("analytics.tiktok.com", "/../../etc/passwd", None) is None
    assert files.body_for("analytics.tiktok.com", "/i18n/pixel/missing.js", None) is None


# -- wire assertions -------------------------------------------------------------------------


@pytest.mark.pixel_sdk("real")
def test_the_page_side_name_finds_the_beacon_tiktok_built(pixel_page: Page, base_url: str) -> None:
    pixel_page.goto(base_url)
    expect = expect_pixel(pixel_page)
    expect.to_have_sent("CompletePayment", value=42.5, currency="USD")
    expect.to_have_sent("Purchase", times=1, event_id="order-1", value=Decimal("42.50"))
    # A dict inside contents matches on the keys given.
    expect.to_have_sent("CompletePayment", contents=[{"content_id": "mug"}])
    expect.to_have_sent_user(email="Jane@Example.com", phone_number="+1 (213) 373-4253")
    expect.not_to_have_sent("AddToCart")
    assert {b.event for b in wire_events(pixel_page)} >= {"Pageview", "Purchase"}


@pytest.mark.pixel_sdk("real")
def test_to_have_sent_matches_the_page_url_and_the_table_shows_it(
    pixel_page: Page, base_url: str
) -> None:
    pixel_page.goto(base_url + "/late")
    expect = expect_pixel(pixel_page, timeout=1)
    expect.to_have_sent("Search", times=1, page_url=base_url + "/late")
    expect.to_have_sent("Search", page_url="/late")
    with pytest.raises(AssertionError) as caught:
        expect.to_have_sent("Search", page_url="/")
    message = str(caught.value)
    assert message.startswith("expected sent('Search') on page / within 1 s")
    [row] = [line for line in message.splitlines() if " Search " in line]
    assert " /late " in row


@pytest.mark.pixel_sdk("real")
def test_a_failure_prints_the_wire_as_a_table_and_the_full_difference(
    pixel_page: Page, base_url: str
) -> None:
    pixel_page.goto(base_url)
    expect = expect_pixel(pixel_page, timeout=1)
    expect.to_have_sent("Purchase")
    with pytest.raises(AssertionError) as caught:
        expect.to_have_sent("CompletePayment", value=99, currency="USD")
    message = str(caught.value)
    assert message.startswith(
        "expected sent('CompletePayment', value=99, currency='USD') (on the wire: 'Purchase') "
        "within 1 s"
    )
    assert "TikTok received:\n" in message
    assert "event (as sent)" in message
    assert "email:hashed phone_number:hashed" in message
    assert "  value: expected 99, got 42.5" in message

    with pytest.raises(AssertionError) as caught:
        expect.not_to_have_sent("CompletePayment")
    assert str(caught.value).startswith("expected no sent('CompletePayment'), got 1; ")


@pytest.mark.pixel_sdk("real")
def test_an_identity_mismatch_names_the_field_and_the_normalised_value(
    pixel_page: Page, base_url: str
) -> None:
    pixel_page.goto(base_url)
    with pytest.raises(AssertionError) as caught:
        expect_pixel(pixel_page, timeout=1).to_have_sent_user(email=" John@Example.com ")
    message = str(caught.value)
    assert (
        "  email: expected sha256 of ' John@Example.com ' (normalised 'john@example.com') = "
        f"{hash_email('john@example.com')}, got {hash_email('jane@example.com')}"
    ) in message


@pytest.mark.pixel_sdk("real")
@pytest.mark.pixel_allow_raw_pii
def test_plain_and_invalid_values_are_graded_by_tiktok(pixel_page: Page, base_url: str) -> None:
    pixel_page.goto(base_url + "/raw")
    [lead] = sent(pixel_page, "Lead")
    assert lead.identity == {"email": "plain", "phone_number": "invalid"}
    assert lead.signal_labels["raw_phone"] == "invalid"
    # Hashed by TikTok's SDK in the browser: the hash is right, but the page held the plain value.
    assert lead.user["email"] == hash_email("jane@example.com")
    with pytest.raises(AssertionError) as caught:
        expect_pixel(pixel_page, timeout=0.5).to_have_sent_user(email="jane@example.com")
    assert "TikTok graded email plain" in str(caught.value)


@pytest.mark.pixel_sdk("real")
def test_late_beacons_are_waited_for(pixel_page: Page, base_url: str) -> None:
    pixel_page.goto(base_url + "/late")
    expect_pixel(pixel_page).to_have_sent("Search", times=1, query="mug")


@pytest.mark.pixel_sdk("real")
def test_limited_data_use_and_each_pixel_on_the_wire(pixel_page: Page, base_url: str) -> None:
    pixel_page.goto(base_url + "/ldu")
    [view] = sent(pixel_page, "ViewContent")
    assert view.limited_data_use is True
    pixel_page.goto(base_url + "/two")
    expect_pixel(pixel_page).to_have_sent("Search", pixel=OTHER_CODE, query="only-other")
    expect_pixel(pixel_page).to_have_sent("Pageview", pixel=CODE)
    expect_pixel(pixel_page).to_have_sent("Pageview", pixel=OTHER_CODE)
    searches = [b for b in wire_events(pixel_page) if b.event == "Search"]
    assert [b.pixel for b in searches] == [OTHER_CODE]


@pytest.mark.pixel_sdk("real")
def test_what_the_sdk_collects_by_itself_shows_on_the_wire_not_as_a_page_call(
    pixel_page: Page, base_url: str
) -> None:
    pixel_page.goto(base_url + "/form")
    with pixel_page.expect_navigation():
        pixel_page.get_by_role("button", name="Sign up").click()
    [enriched, *_] = sent(pixel_page, "EnrichAM")
    assert enriched.user["auto_email"] == hash_email("ada@example.com")
    assert enriched.signal_labels["raw_auto_email"] == "valid"
    # TikTok's SDK called ttq.identify itself: not a call of the page.
    calls = recorder_for(pixel_page).history
    assert [c.method for c in calls if c.method == "identify"] == []
    findings = wire_findings(wire_events(pixel_page), tracked=["Search"])
    assert [(f.code, f.severity) for f in findings] == [
        ("wire-auto-collected", "warning"),
        ("wire-auto-collected", "warning"),
        ("wire-not-sent", "warning"),
    ]
    assert findings[0].message.startswith(
        "TikTok's SDK collected an e-mail address from the page by itself (beacon"
    )
    assert findings[1].message.startswith("TikTok's SDK collected a phone number from the page")
    assert findings[2].message.startswith("ttq.track('Search') never reached TikTok")


# -- the rename table ------------------------------------------------------------------------


def test_the_rename_table_is_the_one_written_in_the_sdk(sdk_dir: Path) -> None:
    bundle = next((sdk_dir / "analytics.tiktok.com/i18n/pixel/static").glob("main.*.js"))
    assert sdk_event_renames(bundle.read_text()) == WIRE_NAMES
    assert wire_name("CompletePayment") == "Purchase"
    assert wire_name("AddToCart") == "AddToCart"


@pytest.mark.pixel_sdk("real")
def test_every_rename_is_what_the_sdk_sends(pixel_page: Page, base_url: str) -> None:
    pixel_page.goto(base_url + "/renames")
    for name, on_wire in WIRE_NAMES.items():
        expect_pixel(pixel_page).to_have_sent(on_wire, description=name)
    seen = {b.properties.get("description"): b.event for b in wire_events(pixel_page)}
    assert not set(WIRE_NAMES) & set(seen.values())  # no page-side name goes out as it is
    assert {name: seen[name] for name in WIRE_NAMES} == WIRE_NAMES


# -- the plugin's choice of mode -------------------------------------------------------------


def test_the_recorder_is_still_the_default(pixel_page: Page, base_url: str) -> None:
    pixel_page.goto(base_url)
    expect_pixel(pixel_page).to_have_tracked("CompletePayment", value=42.5)
    assert recorder_for(pixel_page).sdk == "serve"
    assert wire_events(pixel_page) == []
    with pytest.raises(AssertionError) as caught:
        expect_pixel(pixel_page, timeout=0.2).to_have_sent("CompletePayment")
    assert str(caught.value).endswith(
        "TikTok's SDK does not run here (SDK mode 'serve'): "
        'use @pytest.mark.pixel_sdk("real") or install_recorder(context, sdk="real")'
    )


def test_format_wire_is_a_readable_table() -> None:
    beacon = WireEvent.from_beacon(
        "https://analytics.tiktok.com/api/v2/pixel",
        json.dumps(
            {
                "event": "Purchase",
                "event_id": "o-1",
                "properties": {"value": 1},
                "context": {
                    "pixel": {"code": CODE},
                    "page": {"url": "https://shop.example/thanks?order=1"},
                },
                "_inspection": {"identity_params": {"email_is_hashed": ["hashed"]}},
                "limited_data_use": True,
            }
        ),
    )
    metadata = WireEvent.from_beacon("https://analytics.tiktok.com/api/v2/pixel/act", "{}")
    assert format_wire([beacon, metadata]).splitlines() == [
        "  #  pixel                 event (as sent)  event_id  page             properties"
        "   identity      ldu",
        '  1  CABCDE1234567890ABCD  Purchase         o-1       /thanks?order=1  {"value":1}'
        "  email:hashed  on",
    ]
    # Pages on two hosts: each page whole.
    elsewhere = WireEvent.from_beacon(
        beacon.url, beacon.text.replace("https://shop.example", "https://other.example")
    )
    table = format_wire([beacon, elsewhere])
    assert "https://shop.example/thanks?order=1" in table
    assert "https://other.example/thanks?order=1" in table
    assert format_wire([metadata]) == "  (TikTok received no event beacon; 1 other beacon(s))"
    assert WireEvent.from_beacon("https://x/api/v2/pixel", "not json").body == {}
