"""``{% load tiktok_pixel %}``: ``{% tiktok_pixel %}`` for the page's ``<head>``,
``{% tiktok_pixel_calls %}`` for HTML inserted into a page that has the pixel (an htmx swap,
a Turbo Frame)."""

from __future__ import annotations

from django import template
from django.template.context import Context
from markupsafe import Markup

from ..pixel import render_for

register = template.Library()


@register.simple_tag(takes_context=True)
def tiktok_pixel(context: Context) -> Markup:
    """The pixel's HTML for this page: put it once in the base template's ``<head>``."""
    return render_for(getattr(context, "request", None), "{% tiktok_pixel %}")


@register.simple_tag(takes_context=True)
def tiktok_pixel_calls(context: Context) -> Markup:
    """This request's pending calls as a JSON data block, for a fragment."""
    return render_for(getattr(context, "request", None), "{% tiktok_pixel_calls %}", fragment=True)
