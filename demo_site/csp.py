"""The demo's Content-Security-Policy: a nonce per request, and the strict policy header.

In the manner of Flask-Talisman: the template global ``csp_nonce()`` gives the request's nonce,
which every ``<script>`` of the page carries (the pixel's through ``TikTokPixel(nonce=...)``).
The strict policy starts from ``default-src 'self'``, as Flask-Talisman's does, and allows what
TikTok needs with ``pixel.csp_sources()``: without them, every beacon would be blocked.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import secrets

from flask import Response, current_app, g

from pixel_embed import merge_csp

_G_KEY = "_demo_csp_nonce"
_NONCE_SLOT = "{nonce}"
# The <style> htmx 2 adds for its request indicators, allowed by its hash (not 'unsafe-inline').
_HTMX_STYLE = (
    ".htmx-indicator{opacity:0;visibility: hidden} .htmx-request .htmx-indicator, "
    ".htmx-request.htmx-indicator{opacity:1;visibility: visible;transition: opacity 200ms "
    "ease-in}"
)
_HTMX_STYLE_HASH = base64.b64encode(hashlib.sha256(_HTMX_STYLE.encode()).digest()).decode()
#: The site's own policy, before TikTok's sources: scripts by nonce (and those they insert),
#: everything else from the site itself.
SITE_POLICY = (
    f"default-src 'self'; script-src 'nonce-{_NONCE_SLOT}' 'strict-dynamic'; "
    f"style-src 'self' 'sha256-{_HTMX_STYLE_HASH}'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'"
)


def csp_nonce() -> str:
    """This request's nonce (made on first use)."""
    nonce: str | None = g.get(_G_KEY)
    if nonce is None:
        nonce = secrets.token_urlsafe(18)
        setattr(g, _G_KEY, nonce)
    return nonce


@functools.cache
def _policy_template() -> str:
    # Merged once: only the nonce changes from one request to the next.
    from .extensions import pixel

    return merge_csp(SITE_POLICY, pixel.csp_sources())


def strict_policy(nonce: str) -> str:
    """The strict CSP: only scripts with the nonce, and the scripts those load, may run; TikTok's
    hosts are allowed for its scripts' beacons."""
    return _policy_template().replace(_NONCE_SLOT, nonce)


def add_policy_header(response: Response) -> Response:
    """The ``after_request`` hook that sends the strict policy when ``DEMO_STRICT_CSP`` is on."""
    if current_app.config["DEMO_STRICT_CSP"]:
        response.headers["Content-Security-Policy"] = strict_policy(csp_nonce())
    return response
