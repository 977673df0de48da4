"""``tiktok_pixel()`` and ``tiktok_pixel_calls()`` for Django's Jinja2 template backend.

Add the extension to the backend's options, and the two globals work as in Flask::

    TEMPLATES = [{
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "jinja2"],
        "OPTIONS": {"extensions": ["pixel_embed.integrations.django.jinja2.TikTokPixelExtension"]},
    }]

An extension rather than an ``environment`` function: it adds to whatever environment the site
already builds.
"""

from __future__ import annotations

from jinja2 import Environment, pass_context
from jinja2.ext import Extension
from jinja2.runtime import Context
from markupsafe import Markup

from .pixel import render_for


@pass_context
def tiktok_pixel(context: Context) -> Markup:
    """The pixel's HTML for this page."""
    return render_for(context.get("request"), "tiktok_pixel()")


@pass_context
def tiktok_pixel_calls(context: Context) -> Markup:
    """This request's pending calls as a JSON data block, for a fragment."""
    return render_for(context.get("request"), "tiktok_pixel_calls()", fragment=True)


class TikTokPixelExtension(Extension):
    """Registers the ``tiktok_pixel`` and ``tiktok_pixel_calls`` globals."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.globals["tiktok_pixel"] = tiktok_pixel
        environment.globals["tiktok_pixel_calls"] = tiktok_pixel_calls
