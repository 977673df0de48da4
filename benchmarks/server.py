"""What the pixel costs the server: one page three ways, ``tiktok_pixel()`` alone, normalising.

The page is a small product listing (a layout, twelve products, a footer) served by Flask:

- ``none``: no pixel;
- ``static``: TikTok's official snippet pasted into the layout (what a site does by hand);
- ``pixel``: ``{{ tiktok_pixel() }}``, after the view identified the visitor (e-mail, phone,
  customer number) and tracked three events.

Two more pages split the pixel page's extra time: ``{{ tiktok_pixel() }}`` with nothing
queued, and with the identity only. A last one, ``unchecked``, is the least any pixel could
cost: TikTok's snippet with the same identify and track calls written straight from digests
computed beforehand, with the same JSON writer and event ids, and no checks, no hashing, no
per-request state. It is the pixel page's own template, its ``tiktok_pixel()`` a plain
function that returns that script, so the two differ in what the library does and nothing
else. What the pixel page costs beyond it is the library's checking and bookkeeping.

Requests go straight through the WSGI app (no socket, no test client), one of each page in
turn, thousands of times; figures are medians, the ratio is the pixel page's to the static one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, make_response, render_template
from jinja2 import DictLoader
from markupsafe import Markup
from werkzeug.test import EnvironBuilder

from pixel_embed import (
    Identity,
    TikTokPixel,
    hash_email,
    hash_phone,
    matching,
    merge_csp,
    validate_event,
)
from pixel_embed.csp import _blocks, policy_problems
from pixel_embed.events import new_event_id
from pixel_embed.matching import (
    hash_external_id,
    normalize_city,
    normalize_email,
    normalize_name,
    normalize_phone,
    normalize_zip_code,
    sha256_hex,
)
from pixel_embed.render import to_js

from .size import CODE, official_snippet
from .timing import median, per_call_us, ratio, sample_side_by_side

_LAYOUT = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{{ title }} · Pixel &amp; Co.</title>
  <link rel="stylesheet" href="/static/shop.css">
  {% block pixel %}{% endblock %}
</head>
<body>
<header>
  <a class="logo" href="/">Pixel &amp; Co.</a>
  <nav>
  {%- for name in categories %}<a href="/category/{{ name|lower }}">{{ name }}</a>{% endfor -%}
  </nav>
</header>
<main>
  <h1>{{ title }}</h1>
  <ul class="products">
  {%- for product in products %}
    <li><a href="/product/{{ product.slug }}">{{ product.name }}</a>
      <span class="price">${{ "%.2f"|format(product.price) }}</span>
      <form action="/cart/add" method="post"><input type="hidden" name="product"
        value="{{ product.slug }}"><button type="submit">Add to cart</button></form></li>
  {%- endfor %}
  </ul>
</main>
<footer><p>A benchmark page. Nothing here is for sale.</p></footer>
</body>
</html>
"""
_TEMPLATES = {
    "layout.html": _LAYOUT,
    "none.html": '{% extends "layout.html" %}',
    "static.html": '{% extends "layout.html" %}{% block pixel %}'
    + official_snippet()
    + "{% endblock %}",
    "pixel.html": '{% extends "layout.html" %}{% block pixel %}{{ tiktok_pixel() }}{% endblock %}',
}
_PRODUCTS = [
    {"slug": f"product-{n}", "sku": f"PX-{1000 + n}", "name": f"Product {n}", "price": 10.0 + n}
    for n in range(12)
]
_PAGE = {"title": "Apparel", "categories": ["Apparel", "Kitchen", "Accessories"]}

# The visitor, as a signed-in customer's view hands it over (raw: the pixel hashes it).
EMAIL = " Jane.Doe@Example.com "
PHONE = "(213) 373-4253"
EXTERNAL_ID = "u-42"
#: Phone numbers in the forms people type them, for timing a cold parse.
PHONES = [
    ("(213) 373-4253", "US"),
    ("+44 20 7946 0958", None),
    ("030 901820", "DE"),
    ("+33 1 09 75 83 51", None),
    ("0412 345 678", "AU"),
]


_EVENTS = ("ViewContent", "AddToCart", "InitiateCheckout")


def _event_params() -> dict[str, Any]:
    """The parameters of the three events, built afresh as a view would."""
    product = _PRODUCTS[0]
    contents = [
        {
            "content_id": product["sku"],
            "content_type": "product",
            "content_name": product["name"],
            "price": product["price"],
            "quantity": 1,
        }
    ]
    return {"contents": contents, "value": product["price"], "currency": "USD"}


def _track_three(pixel: TikTokPixel) -> None:
    params = _event_params()
    for event in _EVENTS:
        pixel.track(event, params)


def _unchecked_script() -> Callable[[], Markup]:
    """The pixel page's script written with no checks (see the module's docstring)."""
    head, tail = official_snippet().rsplit("ttq.page();", 1)
    identity = to_js(
        {
            "email": hash_email(EMAIL),
            "phone_number": hash_phone(PHONE, "US"),
            "external_id": hash_external_id(EXTERNAL_ID),
        }
    )

    def script() -> Markup:
        params = _event_params()
        tracks = "".join(
            f"\n  ttq.track({to_js([name, params, {'event_id': new_event_id()}])[1:-1]});"
            for name in _EVENTS
        )
        return Markup(f"{head}ttq.page();\n  ttq.identify({identity});{tracks}{tail}")

    return script


#: Flask-Talisman's default policy with a nonce and TikTok's sources: the check passes.
_CSP = merge_csp(
    "default-src 'self'; object-src 'none'; script-src 'self' 'strict-dynamic' 'nonce-{nonce}'"
)


def _csp_check(repeats: int) -> dict[str, float]:
    """Median µs of the CSP check of one response's headers: a new nonce each time, the
    policy read from the cache (every request but the first), and read anew (the cache
    cleared before each call)."""

    def response() -> tuple[list[tuple[str, str]], str]:
        nonce = new_event_id()
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", "5120"),
            ("Vary", "Cookie"),
            ("Content-Security-Policy", _CSP.replace("{nonce}", nonce)),
        ]
        return headers, nonce

    def checks() -> Callable[[], object]:
        responses = iter([response() for _ in range(repeats + 1)])

        def check() -> object:
            headers, nonce = next(responses)
            problems = policy_problems(headers, nonce)
            if problems:
                raise RuntimeError(f"the benchmark's policy blocks TikTok: {problems}")
            return problems

        return check

    check = checks()
    check()  # the first request reads the policy
    cached = median(per_call_us(check, repeats))
    parsed = median(per_call_us(checks(), repeats, prepare=_blocks.cache_clear))
    return {"csp_check_cached_us": cached, "csp_check_parse_us": parsed}


def _apps() -> tuple[Flask, Flask, TikTokPixel]:
    """The site without the extension (pages ``none`` and ``static``) and with it."""
    plain = Flask(__name__)
    plain.jinja_loader = DictLoader(_TEMPLATES)
    plain.config.update(SECRET_KEY="bench")  # a session, as on any real site: the same work

    @plain.get("/none")
    def none() -> str:
        return render_template("none.html", products=_PRODUCTS, **_PAGE)

    @plain.get("/static")
    def static_snippet() -> str:
        return render_template("static.html", products=_PRODUCTS, **_PAGE)

    # The same template as the pixel page: only what the library does differs.
    plain.jinja_env.globals["tiktok_pixel"] = _unchecked_script()

    @plain.get("/unchecked")
    def unchecked() -> str:
        return render_template("pixel.html", products=_PRODUCTS, **_PAGE)

    with_pixel = Flask(__name__)
    with_pixel.jinja_loader = DictLoader(_TEMPLATES)
    with_pixel.config.update(
        SECRET_KEY="bench", TIKTOK_PIXEL_CODE=CODE, TIKTOK_PIXEL_DEFAULT_REGION="US"
    )
    pixel = TikTokPixel(with_pixel)

    # The pixel page's cost, step by step: the bare script, then the identity, then the events.
    @with_pixel.get("/pixel-only")
    def pixel_only() -> str:
        return render_template("pixel.html", products=_PRODUCTS, **_PAGE)

    @with_pixel.get("/pixel-identify")
    def pixel_identify() -> str:
        pixel.identify(email=EMAIL, phone_number=PHONE, external_id=EXTERNAL_ID)
        return render_template("pixel.html", products=_PRODUCTS, **_PAGE)

    @with_pixel.get("/pixel")
    def page() -> str:
        pixel.identify(email=EMAIL, phone_number=PHONE, external_id=EXTERNAL_ID)
        _track_three(pixel)
        return render_template("pixel.html", products=_PRODUCTS, **_PAGE)

    # The pixel page under a strict policy with a nonce per request, which the pixel checks.
    @with_pixel.get("/pixel-csp")
    def page_csp() -> Response:
        response = make_response(page())
        response.headers["Content-Security-Policy"] = _CSP.replace("{nonce}", new_event_id())
        return response

    return plain, with_pixel, pixel


def _wsgi_get(app: Flask, path: str) -> Callable[[], bytes]:
    """A function making one GET request straight through ``app``'s WSGI interface."""
    environ = EnvironBuilder(path=path).get_environ()

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None, /
    ) -> Callable[[bytes], object]:
        if not status.startswith("200"):
            raise RuntimeError(f"GET {path} answered {status}")
        return lambda data: None

    def get() -> bytes:
        return b"".join(app.wsgi_app(dict(environ), start_response))

    return get


def _render_alone(app: Flask, pixel: TikTokPixel, repeats: int) -> dict[str, list[float]]:
    """µs per ``identify()``, per ``track()`` (three events) and per ``tiktok_pixel()`` call,
    each in a fresh request context."""
    samples: dict[str, list[float]] = {"identify": [], "track3": [], "render": []}
    for _ in range(repeats):
        with app.test_request_context("/pixel"):
            samples["identify"] += per_call_us(
                lambda: pixel.identify(email=EMAIL, phone_number=PHONE, external_id=EXTERNAL_ID),
                1,
            )
            samples["track3"] += per_call_us(lambda: _track_three(pixel), 1)
            samples["render"] += per_call_us(pixel.render, 1)
    return samples


def _normalisations(repeats: int) -> dict[str, float]:
    """Median µs per call of each normalisation (phone parsing cold and warm)."""
    cold_phones = iter(PHONES * (repeats // len(PHONES) + 1))
    contents = [{"content_id": "PX-1000", "content_type": "product", "price": 10.0}]
    calls: dict[str, tuple[Callable[[], object], Callable[[], object] | None]] = {
        "normalize_email": (lambda: normalize_email(EMAIL), None),
        "hash_email": (lambda: hash_email(EMAIL), None),
        "normalize_phone_cold": (
            lambda: normalize_phone(*next(cold_phones)),
            matching._parse_phone.cache_clear,
        ),
        "normalize_phone_warm": (lambda: normalize_phone(PHONE, "US"), None),
        "hash_phone_warm": (lambda: hash_phone(PHONE, "US"), None),
        "hash_external_id": (lambda: hash_external_id(EXTERNAL_ID), None),
        "normalize_name": (lambda: normalize_name(" Jane-Marie "), None),
        "normalize_city": (lambda: normalize_city("San Francisco"), None),
        "normalize_zip_code": (lambda: normalize_zip_code("SW1A 1AA"), None),
        "sha256_hex": (lambda: sha256_hex("jane.doe@example.com"), None),
        "identity_from_raw_warm": (
            lambda: Identity.from_raw(
                email=EMAIL, phone_number=PHONE, external_id=EXTERNAL_ID, region="US"
            ),
            None,
        ),
        "validate_event": (
            lambda: validate_event(
                "AddToCart", {"contents": contents, "value": 10.0, "currency": "USD"}
            ),
            None,
        ),
    }
    normalize_phone(PHONE, "US")  # warm
    results = {}
    for name, (call, prepare) in calls.items():
        results[f"{name}_us"] = median(per_call_us(call, repeats, prepare=prepare))
    matching._parse_phone.cache_clear()
    return results


def run(*, quick: bool = False) -> dict[str, float]:
    """Median request times of the three pages, ``tiktok_pixel()`` alone, normalisations."""
    logging.getLogger("pixel_embed").setLevel(logging.ERROR)
    repeats = 300 if quick else 3000
    plain, with_pixel, pixel = _apps()
    pages = {
        "none": _wsgi_get(plain, "/none"),
        "static": _wsgi_get(plain, "/static"),
        "pixel": _wsgi_get(with_pixel, "/pixel"),
        "pixel_only": _wsgi_get(with_pixel, "/pixel-only"),
        "pixel_identify": _wsgi_get(with_pixel, "/pixel-identify"),
        "pixel_csp": _wsgi_get(with_pixel, "/pixel-csp"),
        "unchecked": _wsgi_get(plain, "/unchecked"),
    }
    if (
        b"ttq.identify(" not in pages["pixel"]()
        or b"ttq.load(" not in pages["static"]()
        or pages["unchecked"]().count(b"ttq.track(") != len(_EVENTS)
    ):
        raise RuntimeError("the benchmark pages do not hold the pixel they should")
    sample_side_by_side(pages, 50)  # warm up: template compilation, first allocations
    seconds = sample_side_by_side(pages, repeats)
    request_us = {name: median(values) * 1e6 for name, values in seconds.items()}
    alone = _render_alone(with_pixel, pixel, repeats)
    return {
        "server_none_us": request_us["none"],
        "server_static_us": request_us["static"],
        "server_pixel_us": request_us["pixel"],
        "server_ratio_vs_static": ratio(request_us["pixel"], request_us["static"]),
        "server_ratio_vs_none": ratio(request_us["pixel"], request_us["none"]),
        "server_pixel_added_us": request_us["pixel"] - request_us["static"],
        # Where the added time goes: the script alone, identify(), then the three track()s.
        "server_added_script_us": request_us["pixel_only"] - request_us["none"],
        "server_added_identify_us": request_us["pixel_identify"] - request_us["pixel_only"],
        "server_added_3_events_us": request_us["pixel"] - request_us["pixel_identify"],
        # The least any pixel could cost (no checks), and the pixel page's cost beyond it.
        "server_unchecked_us": request_us["unchecked"],
        "server_unchecked_ratio_vs_static": ratio(request_us["unchecked"], request_us["static"]),
        "server_checking_us": request_us["pixel"] - request_us["unchecked"],
        # The honest ratio: the library's checking and bookkeeping over the least any pixel
        # could cost, side by side in this run.
        "server_ratio_vs_unchecked": ratio(request_us["pixel"], request_us["unchecked"]),
        "render_us_median": median(alone["render"]),
        "identify_us_median": median(alone["identify"]),
        "track3_us_median": median(alone["track3"]),
        # A strict policy with a nonce per request: the header and the pixel's check of it.
        "server_csp_page_added_us": request_us["pixel_csp"] - request_us["pixel"],
        **_csp_check(max(repeats // 2, 200)),
        **_normalisations(max(repeats // 2, 200)),
    }


def profile(requests: int = 3000, top: int = 25) -> str:
    """Where the pixel page's time goes: cProfile over ``requests`` requests, the ``top``
    functions by their own time (``python -m benchmarks.server --profile``)."""
    import cProfile
    import io
    import pstats

    logging.getLogger("pixel_embed").setLevel(logging.ERROR)
    _, with_pixel, _ = _apps()
    get = _wsgi_get(with_pixel, "/pixel")
    for _ in range(100):
        get()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        get()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


if __name__ == "__main__":
    import sys

    if "--profile" in sys.argv:
        print(profile())
    else:
        for name, value in run().items():
            print(f"{name:32} {value:10.2f}")
