"""The rendered snippet, byte for byte, and the escaping of hostile values."""

from __future__ import annotations

import json
import re

import pytest

from pixel_embed import ConfigurationError, Identity, PixelSettings, render_pixel, validate_event
from pixel_embed.render import page_calls, render_disabled

CODE = "CABCDE1234567890ABCD"
OTHER = "CZYXWV0987654321ZYXW"
# TikTok's official base code (the stub with the consent methods), as TikTok Events Manager
# hands it out; the renderer must reproduce it exactly.
OFFICIAL_STUB = (
    "!function (w, d, t) {\n"
    '  w.TiktokAnalyticsObject=t;var ttq=w[t]=w[t]||[];ttq.methods=["page","track","identify",'
    '"instances","debug","on","off","once","ready","alias","group","enableCookie","disableCookie",'
    '"holdConsent","revokeConsent","grantConsent"],ttq.setAndDefer=function(t,e){t[e]=function()'
    "{t.push([e].concat(Array.prototype.slice.call(arguments,0)))}};for(var i=0;i<ttq.methods."
    "length;i++)ttq.setAndDefer(ttq,ttq.methods[i]);ttq.instance=function(t){for(var e=ttq._i[t]"
    "||[],n=0;n<ttq.methods.length;n++)ttq.setAndDefer(e,ttq.methods[n]);return e},ttq.load="
    'function(e,n){var r="https://analytics.tiktok.com/i18n/pixel/events.js",o=n&&n.partner;'
    "ttq._i=ttq._i||{},ttq._i[e]=[],ttq._i[e]._u=r,ttq._t=ttq._t||{},ttq._t[e]=+new Date,"
    'ttq._o=ttq._o||{},ttq._o[e]=n||{};n=document.createElement("script");n.type="text/'
    'javascript",n.async=!0,n.src=r+"?sdkid="+e+"&lib="+t;e=document.getElementsByTagName('
    '"script")[0];e.parentNode.insertBefore(n,e)};'
)
END = "\n}(window, document, 'ttq');\n</script>"
HOSTILE = ["</script><script>alert(1)</script>", "<!--", "\"'`", "a\u2028b\u2029c", "&amp;"]


def settings(**overrides: object) -> PixelSettings:
    return PixelSettings(codes=(CODE,), **overrides)  # type: ignore[arg-type]


def test_exact_output_for_a_purchase() -> None:
    event = validate_event(
        "CompletePayment",
        {"value": 42.5, "currency": "USD", "contents": [{"content_id": "sku-1", "quantity": 1}]},
        event_id="evt-1",
    )
    html = render_pixel(
        settings(), identity=Identity.from_raw(email="jane@example.com"), events=[event]
    )
    assert html == (
        "<script>\n"
        + OFFICIAL_STUB
        + '\n  ttq.load("CABCDE1234567890ABCD");'
        + "\n  ttq.page();"
        + '\n  ttq.identify({"email":"8c87b489ce35cf2e2f39f80e282cb2e804932a56a213983eeeb428407d43b52d"});'
        + '\n  ttq.track("CompletePayment",{"value":42.5,"currency":"USD","contents":[{"content_id":"sku-1","quantity":1}]},{"event_id":"evt-1"});'
        + END
    )  # fmt: skip


def test_exact_output_with_nothing_to_say() -> None:
    html = render_pixel(settings(auto_page=False))
    assert html == "<script>\n" + OFFICIAL_STUB + '\n  ttq.load("CABCDE1234567890ABCD");' + END


def test_limited_data_use_and_nonce() -> None:
    html = render_pixel(settings(ldu=True), nonce='r4nd0m"')
    assert html.startswith('<script nonce="r4nd0m&#34;">\n')
    assert '\n  ttq.load("CABCDE1234567890ABCD",{"limited_data_use":true});' in html


def test_use_existing_renders_only_the_calls_to_its_own_instance() -> None:
    # As Segment's destination: no stub, no load, no page() (the existing snippet counts the
    # page view), and calls through ttq.instance(code), which reach this pixel only.
    html = render_pixel(
        settings(use_existing=True), events=[validate_event("Search", event_id="e")]
    )
    assert html == (
        "<script>\n!function (w, d, t) {\n  var ttq=w[t];if(!ttq||!ttq._i)return;"
        f'\n  ["{CODE}"].forEach(function(p){{var q=ttq.instance(p);'
        '\n  q.track("Search",{},{"event_id":"e"});\n  });' + END
    )
    assert page_calls(settings(use_existing=True, auto_page=True)) == []


def test_several_pixels_get_every_call_through_their_instance() -> None:
    html = render_pixel(
        PixelSettings(codes=(CODE, OTHER)), events=[validate_event("Search", event_id="e")]
    )
    assert html.endswith(
        f'\n  ttq.load("{CODE}");\n  ttq.load("{OTHER}");'
        f'\n  ["{CODE}","{OTHER}"].forEach(function(p){{var q=ttq.instance(p);'
        '\n  q.page();\n  q.track("Search",{},{"event_id":"e"});\n  });' + END
    )


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_strings_cannot_leave_the_script(hostile: str) -> None:
    event = validate_event("Search", {"query": hostile, hostile: hostile}, event_id="e")
    html = str(render_pixel(settings(), events=[event]))
    body = html.removeprefix("<script>").removesuffix("</script>")
    assert "</" not in body
    assert "<!--" not in body
    assert "\u2028" not in body
    assert "\u2029" not in body
    assert "'" not in body.replace("'ttq'", "")
    # What the browser's JSON parser reads back is exactly what the view queued.
    track = re.search(r'ttq\.track\("Search",(.*),\{"event_id":"e"\}\);', body)
    assert track is not None
    assert json.loads(track.group(1)) == {"query": hostile, hostile: hostile}


def test_consent_hold_holds_then_follows_the_recorded_choice() -> None:
    held = str(render_pixel(settings(consent="hold")))
    assert "ttq.holdConsent();\n  ttq.page();" in held
    assert "ttq.grantConsent();\n" not in held
    assert "w.pixelEmbed=" in held
    granted = str(render_pixel(settings(consent="hold"), consent_state="granted"))
    assert "ttq.holdConsent();\n  ttq.grantConsent();\n  ttq.page();" in granted
    denied = str(render_pixel(settings(consent="hold"), consent_state="denied"))
    assert "ttq.holdConsent();\n  ttq.revokeConsent();\n  ttq.page();" in denied


def test_consent_strict_loads_nothing_until_granted() -> None:
    waiting = str(render_pixel(settings(consent="strict")))
    assert "function calls(){" in waiting
    assert waiting.rstrip().endswith("  }\n}(window, document, 'ttq');\n</script>")
    assert "\n  run();" not in waiting
    granted = str(render_pixel(settings(consent="strict"), consent_state="granted"))
    assert granted.endswith("  }\n  run();" + END)


def test_consent_cookie_name_is_configurable() -> None:
    assert '"shop_consent"' in render_pixel(settings(consent="hold", consent_cookie="shop_consent"))


def test_debug_prints_each_call_to_the_console() -> None:
    html = str(render_pixel(settings(debug=True), events=[validate_event("Search", event_id="e")]))
    assert '[["page",[]],["track",["Search",{},{"event_id":"e"}]]].forEach(' in html
    assert "console.info" not in str(render_pixel(settings()))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"codes": ()}, "TIKTOK_PIXEL_CODE is not set"),
        ({"codes": ("abc",)}, "TIKTOK_PIXEL_CODE 'abc' is not a pixel code"),
        ({"codes": ("</script>",)}, "TIKTOK_PIXEL_CODE '</script>' is not a pixel code"),
        ({"codes": (CODE, CODE)}, "TIKTOK_PIXEL_CODE lists a code twice"),
        ({"codes": (CODE,), "consent": "maybe"}, "TIKTOK_PIXEL_CONSENT 'maybe' is not one of"),
        ({"codes": (CODE,), "consent_cookie": "a b"}, "TIKTOK_PIXEL_CONSENT_COOKIE 'a b' is not"),
    ],
)
def test_settings_errors(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        PixelSettings(**overrides)  # type: ignore[arg-type]


def test_a_single_code_string_is_accepted() -> None:
    assert PixelSettings(codes=CODE).codes == (CODE,)  # type: ignore[arg-type]


def test_disabled_comment_cannot_be_closed_early() -> None:
    assert render_disabled("x --> <b>") == "<!-- TikTok Pixel off: x - -&gt; &lt;b&gt; -->"
