"""Every audit finding, proved in headless Chromium by a page that triggers it and one that doesn't.

The pages are plain HTML with TikTok's stub (rendered by ``render_pixel``) and hand-written
``ttq`` calls, as a site without pixel_embed would have them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CODE, OTHER_CODE
from flask import Flask
from playwright.sync_api import Browser

from pixel_embed import Event, Identity, PixelSettings, render_pixel
from pixel_embed.audit import AuditResult, Step, audit, findings
from pixel_embed.testing import serve_app

CART = {
    "value": 12.5,
    "currency": "USD",
    "contents": [{"content_id": "sku-1", "content_type": "product", "price": 12.5, "quantity": 1}],
}
NONCE = "n0nce1234"


def pixel(*events: Event, codes: tuple[str, ...] = (CODE,), **settings: Any) -> str:
    nonce = settings.pop("nonce", None)
    identity = settings.pop("identity", None)
    return str(
        render_pixel(
            PixelSettings(codes=codes, **settings), identity=identity, events=events, nonce=nonce
        )
    )


def script(code: str) -> str:
    return f"<script>{code}</script>"


def track(name: str, params: dict[str, Any], event_id: str | None = "e-1") -> str:
    options = f",{json.dumps({'event_id': event_id})}" if event_id else ""
    return script(f"ttq.track({json.dumps(name)},{json.dumps(params)}{options});")


ACCEPT = '<button id="accept" onclick="window.pixelEmbed && pixelEmbed.grantConsent()">OK</button>'

PAGES: dict[str, str] = {
    "clean": pixel(
        Event("AddToCart", CART, "cart-1"), identity=Identity.from_raw(email="jane@example.com")
    ),
    "pii-call": pixel() + script("ttq.identify({email: ['jane', 'example.com'].join('@')});"),
    "pii-script": pixel() + script('var customer = {"phone": "+12133734253"};'),
    "pii-text": pixel()
    + "<p>Write to shop@example.com</p>"
    + '<script type="application/ld+json">{"email": "shop@example.com"}</script>',
    "no-currency": pixel() + track("AddToCart", {"value": 5}),
    "bad-currency": pixel() + track("AddToCart", {"value": 5, "currency": "EURO"}),
    "no-content-id": pixel()
    + track("AddToCart", {**CART, "contents": [{"content_id": "a"}, {"price": 3}]}),
    "no-value": pixel()
    + track("CompletePayment", {"currency": "USD", "contents": [{"content_id": "a"}]}),
    "paid": pixel() + track("CompletePayment", {**CART, "order_id": "o-1"}),
    "same-event-id": pixel() + track("AddToCart", CART) + track("AddToCart", CART),
    "two-pixels": pixel(Event("AddToCart", CART, "cart-1"), codes=(CODE, OTHER_CODE)),
    "load-twice": pixel() + script(f"ttq.load({json.dumps(CODE)});"),
    # Two pixels, one stub each (as plugins write them): stub-per-pixel, not duplicate-stub.
    "two-stubs": pixel() + pixel(codes=(OTHER_CODE,)),
    "two-stubs-same": pixel() + pixel(),
    "use-existing": pixel() + pixel(Event("AddToCart", CART, "cart-1"), use_existing=True),
    "consent-ignored": pixel(Event("AddToCart", CART, "cart-1")) + ACCEPT,
    "consent-hold": pixel(Event("AddToCart", CART, "cart-1"), consent="hold") + ACCEPT,
    "consent-strict": pixel(Event("AddToCart", CART, "cart-1"), consent="strict") + ACCEPT,
    "hold-too-late": pixel(auto_page=False)
    + track("AddToCart", CART)
    + script("ttq.holdConsent(); ttq.page();"),
    "no-stub": script("ttq.track('ClickButton');"),
    "other-error": pixel() + script("throw new Error('the reviews widget failed');"),
    "near-miss": pixel() + track("AddToCard", CART),
    "custom": pixel() + track("NewsletterSignup", {}),
    "no-page": pixel(Event("AddToCart", CART, "cart-1"), auto_page=False),
    "ignored": pixel() + track("AddToCart", {**CART, "colour": "red"}),
    "no-event-id": pixel() + track("AddToCart", CART, event_id=None),
    "no-pixel": "<p>No pixel here.</p>",
    "tag-manager": '<script async src="https://tags.example.invalid/gtm.js"></script>',
    "ldu": pixel(ldu=True),
    "outside-image": pixel() + '<img src="http://images.example.invalid/logo.png" alt="">',
}
# Pages sent with a Content-Security-Policy header: (pixel HTML, policy).
CSP_PAGES: dict[str, tuple[str, str]] = {
    "csp-sdk": (pixel(nonce=NONCE), f"script-src 'nonce-{NONCE}'"),
    "csp-inline": (pixel(), "script-src https://analytics.tiktok.com"),
    "csp-ok": (pixel(nonce=NONCE), f"script-src 'nonce-{NONCE}' https://analytics.tiktok.com"),
}
STEPS: dict[str, list[Step]] = {
    name: [Step("accept-consent", "#accept")]
    for name in ("consent-ignored", "consent-hold", "consent-strict")
}


def pages_app() -> Flask:
    app = Flask(__name__)

    @app.get("/<name>")
    def show(name: str) -> tuple[str, int, dict[str, str]]:
        if name in CSP_PAGES:
            html, policy = CSP_PAGES[name]
            headers = {"Content-Security-Policy": policy}
        else:
            html, headers = PAGES[name], {}
        return f"<!doctype html><html><head>{html}</head><body>{name}</body></html>", 200, headers

    return app


@pytest.fixture(scope="module")
def audited(pixel_browser: Browser) -> Iterator[dict[str, AuditResult]]:
    """Each page audited once, on demand, in the session's Chromium."""
    results: dict[str, AuditResult] = {}
    with serve_app(pages_app()) as base:

        class Lazy(dict[str, AuditResult]):
            def __missing__(self, name: str) -> AuditResult:
                result = audit(pixel_browser, f"{base}/{name}", STEPS.get(name, []), timeout=10)
                assert result.failure is None, result.failure
                self[name] = result
                return result

        yield Lazy(results)


def codes(result: AuditResult, severity: str | None = None) -> set[str]:
    return {f.code for f in result.findings if severity is None or f.severity == severity}


def test_a_clean_page_has_no_finding(audited: dict[str, AuditResult]) -> None:
    result = audited["clean"]
    assert result.findings == ()
    assert result.evidence is not None
    assert [c.method for c in result.evidence.calls] == ["load", "page", "identify", "track"]


# (code, severity, a page with the problem, a page without it)
CASES = [
    ("raw-pii", "error", "pii-call", "clean"),
    ("raw-pii", "error", "pii-script", "pii-text"),
    ("value-without-currency", "error", "no-currency", "clean"),
    ("invalid-currency", "error", "bad-currency", "clean"),
    ("content-without-id", "error", "no-content-id", "clean"),
    ("purchase-without-value", "error", "no-value", "paid"),
    ("duplicate-event-id", "error", "same-event-id", "two-pixels"),
    ("pixel-loaded-twice", "error", "load-twice", "two-pixels"),
    ("duplicate-stub", "error", "two-stubs-same", "use-existing"),
    ("duplicate-stub", "error", "two-stubs-same", "two-stubs"),
    ("call-before-consent", "error", "consent-ignored", "consent-hold"),
    ("call-before-consent", "error", "hold-too-late", "consent-strict"),
    ("pixel-js-error", "error", "no-stub", "other-error"),
    ("csp-blocked", "error", "csp-sdk", "csp-ok"),
    ("csp-blocked", "error", "csp-inline", "csp-ok"),
    ("event-near-miss", "warning", "near-miss", "clean"),
    ("page-missing", "warning", "no-page", "clean"),
    ("ignored-parameter", "warning", "ignored", "clean"),
    ("no-event-id", "warning", "no-event-id", "clean"),
    ("no-pixel", "warning", "no-pixel", "clean"),
    ("custom-event", "info", "custom", "clean"),
    ("ldu", "info", "ldu", "clean"),
    ("consent-mode", "info", "consent-hold", "consent-ignored"),
    ("consent-mode", "info", "consent-strict", "clean"),
    ("blocked-requests", "info", "outside-image", "clean"),
]


@pytest.mark.parametrize(
    ("code", "severity", "bad", "good"), CASES, ids=[f"{c[0]}:{c[2]}" for c in CASES]
)
def test_each_finding_has_a_page_that_triggers_it_and_one_that_does_not(
    audited: dict[str, AuditResult], code: str, severity: str, bad: str, good: str
) -> None:
    assert code in codes(audited[bad], severity), audited[bad].findings
    assert code not in codes(audited[good]), audited[good].findings


def only(result: AuditResult, code: str) -> list[tuple[int | None, str]]:
    return [(f.call, f.message) for f in result.findings if f.code == code]


def test_findings_point_at_the_call_and_say_what_is_wrong(
    audited: dict[str, AuditResult],
) -> None:
    # load, page, then the two tracks: calls 3 and 4.
    assert only(audited["same-event-id"], "duplicate-event-id") == [
        (4, "AddToCart reuses event_id 'e-1' of call 3: TikTok keeps only one of them")
    ]
    assert only(audited["bad-currency"], "invalid-currency") == [
        (3, "AddToCart currency 'EURO' is not an ISO 4217 code such as 'USD'")
    ]
    # Personal data is masked in the finding: CI logs must not hold it either.
    assert only(audited["pii-call"], "raw-pii") == [
        (
            3,
            "raw personal data in ttq.identify args[0].email: 'j***@example.com' "
            "is not a SHA-256 digest",
        )
    ]
    script = audited["pii-script"]
    assert script.evidence is not None
    assert script.evidence.pages[0].html is not None
    lines = script.evidence.pages[0].html.splitlines()
    line = next(n for n, text in enumerate(lines, 1) if "+12133734253" in text)
    assert only(script, "raw-pii") == [
        (
            None,
            f"raw personal data in inline script 2, line {line} of the page: phone number "
            "'+*********53'",
        )
    ]
    assert only(audited["near-miss"], "event-near-miss") == [
        (3, "'AddToCard' is not a standard TikTok event; did you mean 'AddToCart'?")
    ]
    assert only(audited["no-pixel"], "no-pixel") == [(None, "no TikTok pixel was found")]
    [(_, hidden)] = only(audited["tag-manager"], "no-pixel")
    assert hidden.endswith("if a tag manager loads the pixel, allow its host with --allow-host)")
    assert only(audited["ignored"], "ignored-parameter") == [
        (3, "AddToCart: TikTok ignores colour")
    ]


def test_consent_findings_follow_the_accept_click(audited: dict[str, AuditResult]) -> None:
    ignored = audited["consent-ignored"]
    # page() and track() both ran on load, before the accept button was clicked.
    assert [call for call, _ in only(ignored, "call-before-consent")] == [2, 3]
    strict = audited["consent-strict"]
    assert strict.evidence is not None
    # Strict mode: nothing at all before the click, then the SDK and every call after it.
    assert [c.method for c in strict.evidence.calls] == ["load", "page", "track"]
    assert only(strict, "consent-mode") == [
        (None, "consent mode: the SDK is not requested before consent")
    ]
    hold = audited["consent-hold"]
    assert hold.evidence is not None
    assert [c.method for c in hold.evidence.calls] == [
        "load",
        "holdConsent",
        "page",
        "track",
        "grantConsent",
    ]
    assert codes(hold, "error") == set()


def test_csp_findings_name_the_blocked_resource(audited: dict[str, AuditResult]) -> None:
    [(_, sdk)] = only(audited["csp-sdk"], "csp-blocked")
    assert "blocks analytics.tiktok.com under script-src-elem (1 request(s) on 1 page(s)" in sdk
    assert "add https://analytics.tiktok.com to script-src" in sdk
    [(_, inline)] = only(audited["csp-inline"], "csp-blocked")
    assert "blocks the pixel's inline script: give it the page's nonce" in inline
    assert audited["csp-ok"].findings == ()


def test_two_pixels_share_an_event_id_per_pixel(audited: dict[str, AuditResult]) -> None:
    result = audited["two-pixels"]
    assert result.evidence is not None
    tracks = [(c.pixel, c.event_id) for c in result.evidence.calls if c.method == "track"]
    assert sorted(tracks, key=str) == [(CODE, "cart-1"), (OTHER_CODE, "cart-1")]
    assert result.findings == ()


def test_the_docs_list_every_rule() -> None:
    from test_audit_hostile import PROVED as HOSTILE_PROVED
    from test_audit_real_world import CASES as REAL_WORLD_CASES
    from test_audit_recall import TWINS

    page = (Path(__file__).parent.parent / "docs" / "audit-rules.md").read_text(encoding="utf-8")
    documented = dict(re.findall(r"^\| `([a-z-]+)` \| (error|warning|info) \|", page, re.M))
    proved = {code: severity for code, severity, _, _ in [*CASES, *REAL_WORLD_CASES, *TWINS]}
    proved.update(HOSTILE_PROVED)
    assert documented == proved
    # Every code the rules can produce is documented (and proved above).
    package = Path(findings.__file__).parent
    source = "".join(path.read_text(encoding="utf-8") for path in package.glob("*.py"))
    assert set(documented) == set(re.findall(r'Finding\(\s*"([a-z-]+)"', source))
