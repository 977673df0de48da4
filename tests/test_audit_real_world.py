"""What a careful human auditor catches on real-world pages, caught by the audit in Chromium.

Each page below is written for these tests after what real integrations do (an e-commerce
plugin's order page, a theme's snippet, a landing page with its base code in a file, old and new
base code, two pixels): one page that has the problem, and one like it that must not be flagged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import CODE, OTHER_CODE
from flask import Flask
from playwright.sync_api import Browser
from test_audit_findings import codes, only

from pixel_embed import PixelSettings, hash_email, render_pixel
from pixel_embed.audit import AuditResult, Step, audit, journey
from pixel_embed.cli import main

DIGEST = hash_email("jane@example.com")
ORDER = {
    "value": 1049.9,
    "currency": "USD",
    "order_id": "1042",
    "content_type": "product",
    "contents": [{"content_id": "sku-1", "price": 1049.9, "quantity": 1}],
}

# TikTok's base code, written out readably: the queue stub, then ttq.load inserting the SDK. The
# methods list is the older one (no consent methods), as pages installed before 2024 have it.
STUB = """
(function (w, d, name) {
  w.TiktokAnalyticsObject = name;
  var ttq = (w[name] = w[name] || []);
  ttq.methods = ["page", "track", "identify", "instances", "debug", "on", "off", "once",
    "ready", "alias", "group", "enableCookie", "disableCookie"];
  ttq.setAndDefer = function (target, method) {
    target[method] = function () {
      target.push([method].concat(Array.prototype.slice.call(arguments, 0)));
    };
  };
  for (var i = 0; i < ttq.methods.length; i++) ttq.setAndDefer(ttq, ttq.methods[i]);
  ttq.instance = function (code) {
    var queue = ttq._i[code] || [];
    for (var n = 0; n < ttq.methods.length; n++) ttq.setAndDefer(queue, ttq.methods[n]);
    return queue;
  };
  ttq.load = function (code, options) {
    var sdk = "https://analytics.tiktok.com/i18n/pixel/events.js";
    ttq._i = ttq._i || {}; ttq._i[code] = []; ttq._i[code]._u = sdk;
    ttq._t = ttq._t || {}; ttq._t[code] = +new Date();
    ttq._o = ttq._o || {}; ttq._o[code] = options || {};
    var script = d.createElement("script");
    script.type = "text/javascript";
    script.async = true;
    script.src = sdk + "?sdkid=" + code + "&lib=" + name;
    d.head.appendChild(script);
  };
  LOAD
})(window, document, "ttq");
"""


def base_code(load: str = f"ttq.load({CODE!r});\n  ttq.page();") -> str:
    return STUB.replace("LOAD", load)


def script(code: str) -> str:
    return f"<script>\n{code}\n</script>"


def track(name: str, params: dict[str, Any], event_id: str | None = "e-1") -> str:
    options = f", {json.dumps({'event_id': event_id})}" if event_id else ""
    return f"ttq.track({json.dumps(name)}, {json.dumps(params)}{options});"


NEW_BASE = str(render_pixel(PixelSettings((CODE,))))
OLD_BASE = script(base_code())
OLD_SDK = script(
    "(function () { var s = document.createElement('script'); s.async = true;\n"
    f"  s.src = 'https://analytics.tiktok.com/i18n/pixel/sdk.js?sdkid={CODE}';\n"
    "  document.head.appendChild(s); })();"
)
# A WooCommerce-style page: the plugin writes the pixel ids into a JavaScript array. Escaped
# for HTML by mistake, the quotes become &quot; and the whole base code is a SyntaxError.
ESCAPED_IDS = base_code(
    "var pixels = [&quot;" + CODE + "&quot;];\n"
    "  pixels.forEach(function (id) { ttq.load(id); });\n  ttq.page();"
)
GOOD_IDS = ESCAPED_IDS.replace("&quot;", '"')
# The order-received page of a theme that sends the purchase to every ad network it knows.
FBQ_FIRST = "fbq('track', 'Purchase', {value: 1049.9, currency: 'USD'});\n" + track(
    "CompletePayment", ORDER, "order-1042"
)
FBQ_GUARDED = "if (window.fbq) { fbq('track', 'Purchase'); }\n" + track(
    "CompletePayment", ORDER, "order-1042"
)
LATE = (
    # A thank-you page that waits for the payment provider's redirect data before tracking.
    "setTimeout(function () {\n  " + track("CompletePayment", ORDER, "order-1042") + "\n}, 3500);"
)
# Fired from something the audit cannot see coming (an interval that counts to 15).
INTERVAL = (
    "var ticks = 0, timer = setInterval(function () {\n"
    "  if (++ticks < 15) return;\n  clearInterval(timer);\n  "
    + track("Lead", {}, "lead-1")
    + "\n}, 100);"
)
AJAX_CART = (
    "document.getElementById('add').addEventListener('click', function () {\n"
    "  fetch('/cart/add', {method: 'POST'}).then(function (r) { return r.json(); })\n"
    "    .then(function (cart) {\n      "
    + track("AddToCart", {"value": 12.5, "currency": "USD"}, "cart-7")
    + "\n    });\n});"
)
# A product page whose "Buy now" link tracks for every ad network, then goes to the cart.
CLICK_THEN_LEAVE = (
    "document.getElementById('buy').addEventListener('click', function () {\n"
    "  fbq('track', 'AddToCart');\n  "
    + track("AddToCart", {"value": 12.5, "currency": "USD"}, "cart-8")
    + "\n});"
)
MULTILINE_PII = """var checkout = {
  step: "shipping",
  total: 1049.9,
  contact: { name: "Jane", tel: "415-555-0100" },
};"""

PAGES: dict[str, str] = {
    # 1. A pixel that never runs.
    "escaped-ids": script(ESCAPED_IDS),
    "good-ids": script(GOOD_IDS),
    "fbq-first": NEW_BASE + script(FBQ_FIRST),
    "fbq-guarded": NEW_BASE + script(FBQ_GUARDED),
    "file-broken": '<script src="/static/tiktok-broken.js"></script>',
    "file-good": '<script src="/static/tiktok.js"></script>',
    "consent-strict": str(render_pixel(PixelSettings((CODE,), consent="strict"))),
    "click-then-leave": NEW_BASE
    + '<a id="buy" href="/p/paid">Buy now</a>'
    + script(CLICK_THEN_LEAVE),
    "click-guarded": NEW_BASE
    + '<a id="buy" href="/p/paid">Buy now</a>'
    + script(CLICK_THEN_LEAVE.replace("fbq(", "window.fbq && fbq(")),
    # 2. Events that come late.
    "late": NEW_BASE + script(LATE),
    "interval": NEW_BASE + script(INTERVAL),
    "ajax-cart": NEW_BASE + '<button id="add">Add</button>' + script(AJAX_CART),
    # 3. Conversions that don't add up.
    "order-twice": NEW_BASE
    + script(
        track("PlaceAnOrder", ORDER, "place-1042") + track("CompletePayment", ORDER, "pay-1042")
    ),
    "paid-twice": NEW_BASE
    + script(
        track("CompletePayment", {**ORDER, "order_id": None}, "a")
        + track("CompletePayment", {**ORDER, "order_id": None}, "b")
    ),
    "paid": NEW_BASE + script(track("CompletePayment", ORDER, "order-1042")),
    "formatted-value": NEW_BASE + script(track("CompletePayment", {**ORDER, "value": "1,049.90"})),
    "null-value": NEW_BASE + script(track("AddToCart", {**ORDER, "value": None})),
    "content-type-0": NEW_BASE + script(track("ViewContent", {**ORDER, "content_type": "0"})),
    "item-id": NEW_BASE
    + script(track("AddToCart", {**ORDER, "contents": [{"id": "sku-1", "quantity": 1}]})),
    # 4. Names and shapes from older integrations.
    "legacy": NEW_BASE
    + script(
        track("Browse", {}, "b-1")
        + track("Pageview", {}, "p-1")
        + track("StartCheckout", {}, "s-1")
    ),
    "custom": NEW_BASE + script(track("NewsletterSignup", {}, "n-1")),
    "identify-id-first": NEW_BASE + script(f"ttq.identify('42', {{email: {DIGEST!r}}});"),
    "identify-ok": NEW_BASE + script(f"ttq.identify({{email: {DIGEST!r}}});"),
    "event-id-in-params": NEW_BASE + script(track("AddToCart", {**ORDER, "event_id": "e-9"}, None)),
    # 5. The pixel id itself.
    "placeholder": script(base_code("ttq.load('YOUR_PIXEL_ID');\n  ttq.page();")),
    "xxx": script(base_code("ttq.load('XXXXXXXXXXXXX');\n  ttq.page();")),
    "short-id": script(base_code("ttq.load('C4A1B2C3D4');\n  ttq.page();")),
    # 6. Empty identify values.
    "empty-phone": NEW_BASE + script(f"ttq.identify({{email: {DIGEST!r}, phone_number: ''}});"),
    # 7. Readability.
    "pii-lines": NEW_BASE + "\n<p>Checkout</p>\n" + script(MULTILINE_PII),
    "pii-dates": NEW_BASE + script('var order = {placed: "2024-01-15", sku: "SKU-415-555-0100"};'),
    # Right pages from real integrations: old and new base code, two pixels, old SDK loader.
    "old-base": OLD_BASE + script(track("ViewContent", ORDER, "vc-1")),
    "old-sdk": OLD_SDK,
    "two-pixels": script(
        base_code(
            f"ttq.load({CODE!r});\n  ttq.load({OTHER_CODE!r});\n  ttq.page();\n  "
            + "".join(
                f"ttq.instance({code!r})."
                + track("CompletePayment", ORDER, "order-1042").replace("ttq.", "", 1)
                for code in (CODE, OTHER_CODE)
            )
        )
    ),
    "shopify-product": NEW_BASE
    + script(
        track(
            "ViewContent",
            {
                "content_type": "product_group",
                "content_id": "8011",
                "content_name": "Linen shirt",
                "value": 49.9,
                "currency": "EUR",
                "contents": [{"content_id": "8011", "content_name": "Linen shirt", "price": 49.9}],
            },
            "vc-8011",
        )
    ),
}
FILES = {
    # A landing page's pixel in its own file, with a template placeholder left unrendered.
    "tiktok-broken.js": base_code("ttq.load({{ pixel_id }});\n  ttq.page();"),
    "tiktok.js": base_code(),
}
STEPS: dict[str, list[Step]] = {
    "ajax-cart": [Step("click", "#add")],
    "click-then-leave": [Step("click", "#buy")],
    "click-guarded": [Step("click", "#buy")],
}


def pages_app() -> Flask:
    app = Flask(__name__, static_folder=None)

    @app.get("/p/<name>")
    def show(name: str) -> str:
        return (
            f"<!doctype html>\n<html>\n<head>\n{PAGES[name]}\n</head>\n<body>{name}</body>\n</html>"
        )

    @app.get("/static/<name>")
    def asset(name: str) -> tuple[str, int, dict[str, str]]:
        return FILES[name], 200, {"Content-Type": "application/javascript"}

    @app.post("/cart/add")
    def add() -> dict[str, int]:
        time.sleep(1.2)  # a slow shop backend: the event comes after the answer
        return {"items": 1}

    return app


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    from pixel_embed.testing import serve_app

    with serve_app(pages_app()) as url:
        yield url


@pytest.fixture(scope="module")
def audited(pixel_browser: Browser, base_url: str) -> dict[str, AuditResult]:
    """Each page audited once, on demand."""

    class Lazy(dict[str, AuditResult]):
        def __missing__(self, name: str) -> AuditResult:
            result = audit(pixel_browser, f"{base_url}/p/{name}", STEPS.get(name, []), timeout=10)
            assert result.failure is None, result.failure
            self[name] = result
            return result

    return Lazy()


def tracked(result: AuditResult) -> list[str | None]:
    assert result.evidence is not None
    return [call.event for call in result.evidence.calls if call.method == "track"]


# (code, severity, a page with the problem, a page like it without)
CASES = [
    ("pixel-js-error", "error", "escaped-ids", "good-ids"),
    ("pixel-js-error", "error", "fbq-first", "fbq-guarded"),
    ("pixel-js-error", "error", "file-broken", "file-good"),
    ("pixel-js-error", "error", "click-then-leave", "click-guarded"),
    ("sdk-never-requested", "error", "escaped-ids", "good-ids"),
    ("sdk-never-requested", "error", "file-broken", "file-good"),
    ("sdk-never-requested", "error", "escaped-ids", "consent-strict"),
    ("double-purchase", "error", "order-twice", "paid"),
    ("double-purchase", "error", "paid-twice", "two-pixels"),
    ("invalid-value", "error", "formatted-value", "paid"),
    ("invalid-value", "error", "null-value", "shopify-product"),
    ("invalid-content-type", "warning", "content-type-0", "shopify-product"),
    ("content-without-id", "error", "item-id", "paid"),
    ("legacy-event", "warning", "legacy", "custom"),
    ("identify-shape", "error", "identify-id-first", "identify-ok"),
    ("event-id-in-params", "warning", "event-id-in-params", "paid"),
    ("invalid-pixel-id", "error", "placeholder", "old-base"),
    ("invalid-pixel-id", "error", "xxx", "two-pixels"),
    ("invalid-pixel-id", "error", "short-id", "file-good"),
    ("empty-identity-field", "info", "empty-phone", "identify-ok"),
    ("raw-pii", "error", "pii-lines", "pii-dates"),
    ("old-base-code", "warning", "old-sdk", "old-base"),
]


@pytest.mark.parametrize(
    ("code", "severity", "bad", "good"), CASES, ids=[f"{c[0]}:{c[2]}" for c in CASES]
)
def test_each_miss_has_a_page_that_triggers_it_and_one_that_does_not(
    audited: dict[str, AuditResult], code: str, severity: str, bad: str, good: str
) -> None:
    assert code in codes(audited[bad], severity), audited[bad].findings
    assert code not in codes(audited[good]), audited[good].findings


@pytest.mark.parametrize(
    "name",
    ["good-ids", "fbq-guarded", "file-good", "paid", "old-base", "two-pixels", "shopify-product"],
)
def test_right_pages_of_real_integrations_have_no_warning(
    audited: dict[str, AuditResult], name: str
) -> None:
    result = audited[name]
    assert codes(result, "error") | codes(result, "warning") == set(), result.findings
    assert result.evidence is not None
    assert [c.method for c in result.evidence.calls][:2] == ["load", "page"]


def test_a_pixel_that_never_runs_is_an_error_that_says_why(
    audited: dict[str, AuditResult],
) -> None:
    escaped = audited["escaped-ids"]
    assert escaped.evidence is not None
    assert escaped.evidence.calls == []
    [(_, error)] = only(escaped, "pixel-js-error")
    html = escaped.evidence.pages[0].html
    assert html is not None
    line = next(n for n, text in enumerate(html.splitlines(), 1) if "&quot;" in text)
    assert error == (
        f"JavaScript error in inline script 1, line {line} of the page, which holds TikTok's "
        "base code: SyntaxError: Unexpected token '&'"
    )
    [(_, never)] = only(escaped, "sdk-never-requested")
    assert never.startswith(
        "the page holds TikTok's base code (inline script 1) but never requested TikTok's SDK"
    )
    fbq = audited["fbq-first"]
    [(_, error)] = only(fbq, "pixel-js-error")
    assert error.startswith("JavaScript error in inline script 2, line ")
    assert error.endswith("which holds a ttq call: ReferenceError: fbq is not defined")
    assert "CompletePayment" not in tracked(fbq)
    assert "CompletePayment" in tracked(audited["fbq-guarded"])
    broken = audited["file-broken"]
    [(_, error)] = only(broken, "pixel-js-error")
    line = next(
        n for n, text in enumerate(FILES["tiktok-broken.js"].splitlines(), 1) if "{{" in text
    )
    assert f"/static/tiktok-broken.js, line {line}, which holds TikTok's base code: Syntax" in error
    [(_, never)] = only(broken, "sdk-never-requested")
    assert "/static/tiktok-broken.js)" in never
    assert broken.count("error") == 2


def test_a_pixel_that_never_runs_fails_the_ci_gate(
    pixel_browser: Browser, base_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", f"{base_url}/p/escaped-ids"], browser=pixel_browser) == 1
    out = capsys.readouterr().out
    assert "(no ttq calls were recorded on this page)" in out
    assert out.endswith("1 URL: 2 errors, 0 warnings, 0 info\n")


def test_the_audit_waits_for_late_events(audited: dict[str, AuditResult]) -> None:
    assert "CompletePayment" in tracked(audited["late"])
    # A click that fetches, then tracks when the shop's backend answers 1.2 s later.
    assert "AddToCart" in tracked(audited["ajax-cart"])


def test_wait_listens_longer_for_what_the_audit_cannot_foresee(
    pixel_browser: Browser, base_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"{base_url}/p/interval"
    assert "Lead" not in tracked(audit(pixel_browser, url))
    assert main(["audit", "--wait", "2", url], browser=pixel_browser) == 0
    [row] = [line for line in capsys.readouterr().out.splitlines() if "lead-1" in line]
    assert row.split()[1:] == ["-", "track", "Lead", "{}", "lead-1"]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("0", "must be more than 0 seconds"),
        ("soon", "is not a number of seconds"),
        ("601", "must be at most 600 seconds"),
    ],
)
def test_wait_takes_a_sensible_number_of_seconds(
    value: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "http://127.0.0.1/", "--wait", value]) == 2
    assert f"--wait {value!r} {problem}" in capsys.readouterr().err


def test_a_page_that_is_never_quiet_is_audited_within_the_bound(
    pixel_browser: Browser, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journey, "QUIET_BOUND", 1.0)
    started = time.monotonic()
    result = audit(pixel_browser, f"{base_url}/p/late")
    assert time.monotonic() - started < 3.5
    assert result.failure is None
    assert "CompletePayment" not in tracked(result)


def test_conversion_findings_say_what_to_send(audited: dict[str, AuditResult]) -> None:
    assert only(audited["order-twice"], "double-purchase") == [
        (
            4,
            "CompletePayment after PlaceAnOrder (call 3) for the same order on one page load: "
            "TikTok counts the sale twice; send only one of them",
        )
    ]
    assert only(audited["formatted-value"], "invalid-value") == [
        (
            3,
            "CompletePayment value '1,049.90' is a formatted string, not a number: send a "
            "number such as 1049.9",
        )
    ]
    [(_, null)] = only(audited["null-value"], "invalid-value")
    assert null.startswith("AddToCart value None is null")
    assert only(audited["content-type-0"], "invalid-content-type") == [
        (
            3,
            "ViewContent content_type is '0': TikTok matches 'product' or 'product_group' to "
            "your catalogue, nothing else",
        )
    ]
    item = audited["item-id"]
    assert only(item, "content-without-id") == [
        (
            3,
            "AddToCart contents[0] has no content_id but has id 'sku-1': rename the key to content_id",
        )
    ]
    assert "ignored-parameter" not in codes(item)


def test_older_names_and_shapes(audited: dict[str, AuditResult]) -> None:
    legacy = audited["legacy"]
    assert [message for _, message in only(legacy, "legacy-event")] == [
        "'Browse' is an event name of older integrations, not a page view TikTok reports or "
        "optimises for: use ttq.page()",
        "'Pageview' is an event name of older integrations, not a page view TikTok reports or "
        "optimises for: use ttq.page()",
        "'StartCheckout' is an event name of older integrations, not a standard event TikTok "
        "reports or optimises for: use ttq.track('InitiateCheckout')",
    ]
    assert "custom-event" not in codes(legacy)
    [(call, shape)] = only(audited["identify-id-first"], "identify-shape")
    assert call == 3
    assert shape.startswith("ttq.identify was called with '4***' first, not an object of fields")
    misplaced = audited["event-id-in-params"]
    about_event_id = [f for f in misplaced.findings if "event_id" in f.message]
    assert [(f.code, f.message) for f in about_event_id] == [
        (
            "event-id-in-params",
            "AddToCart passes event_id 'e-9' among the parameters, where TikTok does not read "
            "it: pass it as the third argument, ttq.track('AddToCart', {…}, {event_id: …})",
        )
    ]


def test_pixel_ids_that_are_not_ids(audited: dict[str, AuditResult]) -> None:
    assert only(audited["placeholder"], "invalid-pixel-id") == [
        (
            None,
            "pixel id 'YOUR_PIXEL_ID' is a placeholder, not a pixel id: copy the id from TikTok "
            "Events Manager",
        )
    ]
    [(_, xxx)] = only(audited["xxx"], "invalid-pixel-id")
    assert "is a placeholder" in xxx
    [(_, short)] = only(audited["short-id"], "invalid-pixel-id")
    assert short.startswith("pixel id 'C4A1B2C3D4' is not a TikTok pixel id (20 upper-case")


def test_empty_identify_fields_are_not_personal_data(audited: dict[str, AuditResult]) -> None:
    result = audited["empty-phone"]
    assert "raw-pii" not in codes(result)
    assert only(result, "empty-identity-field") == [
        (3, "ttq.identify sends phone_number empty: leave out fields you do not have")
    ]


def test_raw_pii_in_a_script_gives_its_line_and_masks_it(audited: dict[str, AuditResult]) -> None:
    # The <head> opens on line 3; the pixel's script takes lines 4-…; "<p>" then our script.
    result = audited["pii-lines"]
    [(call, message)] = only(result, "raw-pii")
    assert call is None
    assert result.evidence is not None
    html = result.evidence.pages[0].html
    assert html is not None
    line = html.splitlines().index('  contact: { name: "Jane", tel: "415-555-0100" },') + 1
    assert message == (
        f"raw personal data in inline script 2, line {line} of the page: "
        "phone number '***-***-**00'"
    )


def test_old_sdk_loader_and_two_pixels(audited: dict[str, AuditResult]) -> None:
    old = audited["old-sdk"]
    assert codes(old) == {"old-base-code"}, old.findings
    two = audited["two-pixels"]
    assert two.evidence is not None
    # Each pixel's SDK script drains its own queue: they may run in either order.
    assert sorted((c.pixel, c.event) for c in two.evidence.calls if c.method == "track") == [
        (CODE, "CompletePayment"),
        (OTHER_CODE, "CompletePayment"),
    ]
