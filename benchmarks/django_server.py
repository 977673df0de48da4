"""What the pixel costs a Django server: the server part's pages (see :mod:`.server`), on Django.

The same small product listing, as a Django template, served by Django with sessions (signed
cookies, as Flask's):

- ``none``: no pixel, no pixel middleware;
- ``unchecked``: the least any pixel could cost, Django's own way: the same template with
  ``{% unchecked_pixel %}``, a plain template tag that returns TikTok's snippet with the
  identify and three track calls written straight from digests computed beforehand (the same
  script as the server part's), without the pixel's middleware;
- ``pixel``: ``{% tiktok_pixel %}`` with the middleware, after the view identified the visitor
  (e-mail, phone, customer number) and tracked three events;
- ``pixel_only``: ``{% tiktok_pixel %}`` with nothing queued.

Requests go straight through Django's ``WSGIHandler`` (no socket), in turns, thousands of times;
figures are medians. Requests per second are one thread's, ``1 / median``: what the pixel does
to a worker's throughput, not a load test.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django import template
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from markupsafe import Markup
from werkzeug.test import EnvironBuilder

from .server import (
    _EVENTS,
    _PAGE,
    _PRODUCTS,
    EMAIL,
    EXTERNAL_ID,
    PHONE,
    _event_params,
    _unchecked_script,
)
from .server import _LAYOUT as _FLASK_LAYOUT
from .size import CODE
from .timing import median, ratio, sample_side_by_side

# The server part's layout, in Django's template language: no whitespace control, and Django's
# filter for the price.
_LAYOUT = (
    _FLASK_LAYOUT.replace("{%-", "{%")
    .replace("-%}", "%}")
    .replace('"%.2f"|format(product.price)', "product.price|floatformat:2")
)
TEMPLATES = {
    "layout.html": _LAYOUT,
    "none.html": '{% extends "layout.html" %}',
    "unchecked.html": '{% extends "layout.html" %}{% load benchmark_pixel %}'
    "{% block pixel %}{% unchecked_pixel %}{% endblock %}",
    "pixel.html": '{% extends "layout.html" %}{% load tiktok_pixel %}'
    "{% block pixel %}{% tiktok_pixel %}{% endblock %}",
}
_PIXEL_MIDDLEWARE = "pixel_embed.integrations.django.middleware.TikTokPixelMiddleware"
_SESSION_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"

#: ``{% load benchmark_pixel %}`` (the ``libraries`` option of the benchmark's templates).
register = template.Library()
_script = _unchecked_script()


@register.simple_tag
def unchecked_pixel() -> Markup:
    return _script()


def _page(name: str) -> Callable[[HttpRequest], HttpResponse]:
    def view(request: HttpRequest) -> HttpResponse:
        return render(request, f"{name}.html", {"products": _PRODUCTS, **_PAGE})

    return view


def _pixel_page(request: HttpRequest) -> HttpResponse:
    pixel = request.tiktok_pixel  # type: ignore[attr-defined]
    pixel.identify(email=EMAIL, phone_number=PHONE, external_id=EXTERNAL_ID)
    params = _event_params()
    for event in _EVENTS:
        pixel.track(event, params)
    return render(request, "pixel.html", {"products": _PRODUCTS, **_PAGE})


urlpatterns = [
    path("none", _page("none")),
    path("unchecked", _page("unchecked")),
    path("pixel-only", _page("pixel")),
    path("pixel", _pixel_page),
]


def _settings() -> dict[str, Any]:
    return {
        "SECRET_KEY": "bench",
        "ALLOWED_HOSTS": ["localhost"],
        "ROOT_URLCONF": __name__,
        "INSTALLED_APPS": ["django.contrib.sessions", "pixel_embed.integrations.django"],
        "SESSION_ENGINE": "django.contrib.sessions.backends.signed_cookies",
        "TEMPLATES": [
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "OPTIONS": {
                    # Cached, as Django's default loaders are outside DEBUG.
                    "loaders": [
                        (
                            "django.template.loaders.cached.Loader",
                            [("django.template.loaders.locmem.Loader", TEMPLATES)],
                        )
                    ],
                    "libraries": {"benchmark_pixel": __name__},
                },
            }
        ],
        "TIKTOK_PIXEL_CODE": CODE,
        "TIKTOK_PIXEL_DEFAULT_REGION": "US",
        "LOGGING_CONFIG": None,
    }


def _handlers() -> tuple[Callable[..., Any], Callable[..., Any]]:
    """Django's WSGI handlers without and with the pixel's middleware (Django reads
    ``MIDDLEWARE`` when a handler is made)."""
    import django
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings

    if not settings.configured:
        settings.configure(**_settings(), MIDDLEWARE=[_SESSION_MIDDLEWARE])
        django.setup()
    with override_settings(**_settings(), MIDDLEWARE=[_SESSION_MIDDLEWARE]):
        plain = WSGIHandler()
    with override_settings(**_settings(), MIDDLEWARE=[_SESSION_MIDDLEWARE, _PIXEL_MIDDLEWARE]):
        with_pixel = WSGIHandler()
    return plain, with_pixel


def _wsgi_get(handler: Callable[..., Any], path: str) -> Callable[[], bytes]:
    environ = EnvironBuilder(path=path, base_url="http://localhost/").get_environ()

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        if not status.startswith("200"):
            raise RuntimeError(f"GET {path} answered {status}")

    def get() -> bytes:
        return b"".join(handler(dict(environ), start_response))

    return get


def run(*, quick: bool = False) -> dict[str, float]:
    """Median request times of Django's pages and what the pixel adds to them."""
    from django.test import override_settings

    logging.getLogger("pixel_embed").setLevel(logging.ERROR)
    repeats = 300 if quick else 3000
    plain, with_pixel = _handlers()
    # The settings the handlers were made with stay while they serve (the templates, the
    # pixel's settings): the pixel reads its own once, at start-up.
    with override_settings(**_settings()):
        pages = {
            "none": _wsgi_get(plain, "/none"),
            "unchecked": _wsgi_get(plain, "/unchecked"),
            "pixel": _wsgi_get(with_pixel, "/pixel"),
            "pixel_only": _wsgi_get(with_pixel, "/pixel-only"),
        }
        if b"ttq.identify(" not in pages["pixel"]() or pages["unchecked"]().count(
            b"ttq.track("
        ) != len(_EVENTS):
            raise RuntimeError("the benchmark pages do not hold the pixel they should")
        sample_side_by_side(pages, 50)  # warm up
        seconds = sample_side_by_side(pages, repeats)
    us = {name: median(values) * 1e6 for name, values in seconds.items()}
    return {
        "django_none_us": us["none"],
        "django_unchecked_us": us["unchecked"],
        "django_pixel_us": us["pixel"],
        "django_pixel_only_us": us["pixel_only"],
        "django_ratio_vs_unchecked": ratio(us["pixel"], us["unchecked"]),
        "django_ratio_vs_none": ratio(us["pixel"], us["none"]),
        "django_checking_us": us["pixel"] - us["unchecked"],
        "django_rps_none": 1e6 / us["none"],
        "django_rps_pixel": 1e6 / us["pixel"],
    }


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:32} {value:10.2f}")
