"""The demo's Content-Security-Policy: a nonce per request, and the strict policy header.

In the manner of Flask-Talisman: the template global ``csp_nonce()`` gives the request's nonce,
which every ``<script>`` of the page carries (the pixel's through ``TikTokPixel(nonce=...)``).
"""

from __future__ import annotations

import secrets

from flask import Response, current_app, g

_G_KEY = "_demo_csp_nonce"


def csp_nonce() -> str:
    """This request's nonce (made on first use)."""
    nonce: str | None = g.get(_G_KEY)
    if nonce is None:
        nonce = secrets.token_urlsafe(18)
        setattr(g, _G_KEY, nonce)
    return nonce


def strict_policy(nonce: str) -> str:
    """A strict CSP: only scripts with the nonce, and the scripts those load, may run."""
    return f"script-src 'nonce-{nonce}' 'strict-dynamic'; object-src 'none'; base-uri 'none'"


def add_policy_header(response: Response) -> Response:
    """The ``after_request`` hook that sends the strict policy when ``DEMO_STRICT_CSP`` is on."""
    if current_app.config["DEMO_STRICT_CSP"]:
        response.headers["Content-Security-Policy"] = strict_policy(csp_nonce())
    return response
