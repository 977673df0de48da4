"""The benchmarks' own checks: the load test's leak / loss / duplicate checker and the byte count.

No timing is asserted here (speed targets live in ``python -m benchmarks``); these only prove
that the checker finds what it should, and finds nothing on the shop as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from test_render import OFFICIAL_STUB

from benchmarks import isolation, sdk, sdk_host, size
from benchmarks.isolation import Customer, Findings, Response, Shopper
from pixel_embed import Identity, PixelSettings, render_pixel, validate_event


def test_many_customers_at_once_see_only_their_own_data_and_events() -> None:
    with_pixel, without = isolation.load_test(users=5, requests_per_user=40)

    for report in (with_pixel, without):
        findings = report.findings
        assert (findings.leaks, findings.lost, findings.duplicated, findings.errors) == (
            0,
            0,
            0,
            0,
        ), findings.problems
        assert report.requests >= 5 * 40
    # Every page of every journey was checked, and every sale paid.
    assert with_pixel.findings.pages >= with_pixel.requests * 2 // 3
    assert with_pixel.findings.purchases >= 5
    assert with_pixel.findings.cacheable_personal_pages == 0
    assert len(with_pixel.findings.payment_ids) == with_pixel.findings.purchases


def _page(customer: Customer, *events: tuple[str, Mapping[str, Any], str]) -> Response:
    identity = Identity.from_raw(
        email=customer.email, phone_number=customer.phone, region="US", external_id="u-1"
    )
    checked = [validate_event(name, params, event_id=event_id) for name, params, event_id in events]
    html = render_pixel(
        PixelSettings(codes=("CABCDE1234567890ABCD",)), identity=identity, events=checked
    )
    return Response("GET", "/orders/PX-0000000A", 200, "", "private", f"<html>{html}</html>")


def _shopper() -> tuple[Shopper, Findings]:
    findings = Findings()
    customer = Customer.make(1)
    customer.hashes["external_id"] = Identity.from_raw(external_id="u-1").external_id or ""
    return Shopper(customer, "http://127.0.0.1:9", findings, pixel=True), findings


def test_the_checker_finds_another_customers_identity_and_events() -> None:
    shopper, findings = _shopper()
    other = Customer.make(2)

    shopper._check(_page(other), {})
    shopper._check(
        _page(shopper.customer, ("CompletePayment", {"order_id": "PX-0000000B"}, "x")), {}
    )

    assert findings.leaks >= 2
    assert any("digest not its own" in problem for problem in findings.problems)
    assert any("CompletePayment it never caused" in problem for problem in findings.problems)


def test_the_checker_finds_lost_and_duplicated_events() -> None:
    shopper, findings = _shopper()
    paid = {"CompletePayment": {"event_id": "PX-0000000A-payment"}}
    payment = ("CompletePayment", {"order_id": "PX-0000000A"}, "PX-0000000A-payment")

    shopper._check(_page(shopper.customer), paid)  # the deferred sale never fired
    shopper._check(_page(shopper.customer, payment), paid)  # it fires
    shopper._check(_page(shopper.customer, payment), {})  # and again, on the next page

    assert (findings.leaks, findings.lost, findings.duplicated) == (0, 1, 1), findings.problems


def test_the_pixel_adds_no_more_bytes_than_tiktoks_own_snippet() -> None:
    figures = size.run(quick=True)

    assert size.official_snippet("PIXEL_ID") == (
        "<script>\n" + OFFICIAL_STUB + "\n\n  ttq.load('PIXEL_ID');\n  ttq.page();"
        "\n}(window, document, 'ttq');\n</script>"
    )
    assert figures["official_snippet_bytes"] == len(size.official_snippet().encode())
    assert figures["pixel_html_bytes"] <= figures["official_snippet_bytes"] * 1.10


@pytest.mark.skipif(
    sdk_host.sdk_dir() is None, reason="TikTok's SDK copy is not in ../shared/tiktok-sdk"
)
def test_the_real_sdk_part_measures_every_variant_and_counts_tiktoks_beacons() -> None:
    # In a thread of its own: Playwright's sync API cannot start where another session of it
    # (the browser tests' fixtures) already runs an event loop.
    with ThreadPoolExecutor(1) as pool:
        tiny = pool.submit(sdk.run, turns=1, seconds=2.0, leave_after=(0.3,), loss_turns=1)
        figures = tiny.result(timeout=600)

    for variant in ("without", "official", "idle"):
        for name in ("script_ms", "tbt_ms", "tbt5s_ms", "lcp_ms", "click_delay_ms", "bytes"):
            assert f"sdk_{name}_{variant}" in figures
            assert f"sdk_warm_{name}_{variant}" in figures
    # Only pages with the pixel fetch TikTok's SDK; a repeat visit takes it from the cache.
    assert figures["sdk_tiktok_bytes_without"] == 0
    assert figures["sdk_tiktok_bytes_official"] > 100_000
    assert figures["sdk_warm_tiktok_bytes_official"] < figures["sdk_tiktok_bytes_official"]
    # The SDK's own beacons were counted: a whole visit with TikTok's snippet loses nothing.
    assert figures["event_loss_2s_official"] == 0
    for name in ("event_loss_0.3s_official", "event_loss_0.3s_idle", "event_loss_2s_idle"):
        assert 0 <= figures[name] <= 1


def test_the_real_sdk_part_says_why_it_skips_without_the_sdk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PIXEL_EMBED_SDK_DIR", str(tmp_path))
    monkeypatch.setattr(sdk_host, "ROOT", tmp_path / "repo")  # no ../shared/tiktok-sdk either

    assert sdk.run(quick=True) == {}
    assert "skipped, TikTok's SDK copy was not found" in capsys.readouterr().err
