"""The audit's ``csp-blocked`` finding: one per directive and host, naming the host the policy
actually blocked, with the recorder's probe and with TikTok's real SDK."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CODE
from flask import Flask
from playwright.sync_api import Browser

from pixel_embed import Event, PixelSettings, render_pixel
from pixel_embed.audit import Step, audit, find_problems, gather_evidence
from pixel_embed.audit.findings import Finding
from pixel_embed.testing import install_recorder, serve_app

NONCE = "n0nce1234"
BLOCKING = f"default-src 'self'; script-src 'nonce-{NONCE}' 'strict-dynamic'"


def shop() -> Flask:
    """Two pages under a policy that lets the pixel run and blocks its beacons."""
    app = Flask(__name__)
    pixel = render_pixel(
        PixelSettings(codes=(CODE,)), events=[Event("ViewContent", {})], nonce=NONCE
    )

    def show(body: str, header: str) -> tuple[str, int, dict[str, str]]:
        html = f"<!doctype html><html><head>{pixel}</head><body>{body}</body></html>"
        return html, 200, {header: BLOCKING}

    app.add_url_rule(
        "/", "home", lambda: show('<a id="next" href="/two">two</a>', "Content-Security-Policy")
    )
    app.add_url_rule("/two", "two", lambda: show("two", "Content-Security-Policy"))
    app.add_url_rule(
        "/report-only", "report", lambda: show("", "Content-Security-Policy-Report-Only")
    )
    return app


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve_app(shop()) as base:
        yield base


def blocked(findings: tuple[Finding, ...] | list[Finding]) -> list[Finding]:
    return [f for f in findings if f.code == "csp-blocked"]


def test_one_finding_per_directive_and_host_across_pages(pixel_browser: Browser, url: str) -> None:
    result = audit(pixel_browser, url + "/", [Step("click", "#next")], timeout=10)
    assert result.failure is None, result.failure
    found = blocked(result.findings)
    assert [f.severity for f in found] == ["error", "error"]
    messages = sorted(f.message for f in found)
    assert messages[0].startswith(
        "the page's Content Security Policy blocks analytics-ipv6.tiktokw.us under connect-src "
        "(2 request(s) on 2 page(s), first https://analytics-ipv6.tiktokw.us/ipv6/enrich_ipv6)"
    )
    assert messages[0].endswith(
        "add https://analytics-ipv6.tiktokw.us to connect-src (pixel.csp_sources() lists every "
        "source TikTok needs)"
    )
    assert "blocks analytics.tiktok.com under connect-src" in messages[1]
    assert "add https://analytics.tiktok.com to connect-src" in messages[1]


def test_a_report_only_policy_is_a_warning_for_the_day_it_is_enforced(
    pixel_browser: Browser, url: str
) -> None:
    result = audit(pixel_browser, url + "/report-only", timeout=10)
    found = blocked(result.findings)
    assert {f.severity for f in found} == {"warning"}
    assert len(found) == 2
    assert all(
        "report-only Content Security Policy would block, once enforced," in f.message
        for f in found
    )


def test_with_the_real_sdk_each_blocked_host_is_named_once(
    pixel_browser: Browser, url: str, sdk_dir: Path
) -> None:
    context = pixel_browser.new_context()
    install_recorder(context, sdk="real", sdk_dir=sdk_dir)
    evidence = gather_evidence(pixel_browser, url + "/", timeout=10, wait=1.5, context=context)
    beacons = [v for page in evidence.pages for v in page.csp if v.directive == "connect-src"]
    assert len(beacons) > 2  # the real SDK sends several, each blocked
    found = blocked(list(find_problems(evidence)))
    hosts = sorted(f.message.split(" blocks ")[1].split(" ")[0] for f in found)
    assert hosts == ["analytics-ipv6.tiktokw.us", "analytics.tiktok.com"]
