"""How many bytes of HTML the pixel adds to a page, against TikTok's official snippet.

Like for like: our rendering for one pixel code with ``ttq.page()`` and no identity or events,
against the snippet TikTok hands out (``tiktok_snippet.html``, verbatim, with its line breaks;
``PIXEL_ID`` replaced by the same code). For information it also measures a page with an
identity and three events, and what the pixel adds to the demo shop's product page (its
script with a CSP nonce and the page's ViewContent event).
"""

from __future__ import annotations

from pathlib import Path

from demo_site import create_app
from pixel_embed import Identity, PixelSettings, render_pixel, validate_event

CODE = "CABCDE1234567890ABCD"
#: TikTok's snippet exactly as Events Manager hands it out, for the pixel ``PIXEL_ID``.
OFFICIAL_SNIPPET = (
    (Path(__file__).with_name("tiktok_snippet.html")).read_text(encoding="utf-8").rstrip("\n")
)


def official_snippet(code: str = CODE) -> str:
    """TikTok's official snippet for ``code``."""
    return OFFICIAL_SNIPPET.replace("PIXEL_ID", code)


def _bytes(html: str) -> int:
    return len(html.encode("utf-8"))


def _page_with_calls() -> str:
    identity = Identity.from_raw(
        email="jane@example.com", phone_number="+12133734253", external_id="u-42"
    )
    contents = [{"content_id": "PX-1001", "content_type": "product", "price": 25.0}]
    events = [
        validate_event(name, {"contents": contents, "value": 25.0, "currency": "USD"})
        for name in ("ViewContent", "AddToCart", "InitiateCheckout")
    ]
    return render_pixel(PixelSettings(codes=(CODE,)), identity=identity, events=events)


def _demo_page_bytes(enabled: bool) -> int:
    app = create_app(
        {"TESTING": True, "TIKTOK_PIXEL_ENABLED": enabled, "TIKTOK_PIXEL_CONSENT": "none"}
    )
    return len(app.test_client().get("/product/black-tee").data)


def run(*, quick: bool = False) -> dict[str, float]:
    """Byte counts (``quick`` changes nothing: counting is instant)."""
    ours = _bytes(render_pixel(PixelSettings(codes=(CODE,))))
    official = _bytes(official_snippet())
    return {
        "pixel_html_bytes": ours,
        "official_snippet_bytes": official,
        "pixel_bytes_ratio_vs_official": ours / official,
        "pixel_html_bytes_identify_3_events": _bytes(_page_with_calls()),
        "demo_product_page_bytes_added": _demo_page_bytes(True) - _demo_page_bytes(False),
    }


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:40} {value:10.3f}")
