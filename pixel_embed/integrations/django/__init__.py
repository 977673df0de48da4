"""The TikTok Pixel on Django sites (see the docs' Django page).

``settings.py``::

    INSTALLED_APPS = [..., "pixel_embed.integrations.django"]
    MIDDLEWARE = [
        ...,
        "django.contrib.sessions.middleware.SessionMiddleware",
        ...,
        "pixel_embed.integrations.django.middleware.TikTokPixelMiddleware",
    ]
    TIKTOK_PIXEL_CODE = "..."

A view: ``request.tiktok_pixel.track("ViewContent", ...)``; the base template:
``{% load tiktok_pixel %}`` and ``{% tiktok_pixel %}`` in ``<head>``. Annotate a view's request
as :class:`TikTokPixelRequest` for type checkers.
"""

from .pixel import DjangoPixel as DjangoPixel
from .pixel import TikTokPixelRequest as TikTokPixelRequest

__all__ = ["DjangoPixel", "TikTokPixelRequest"]
