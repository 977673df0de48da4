"""The demo's Content-Security-Policy, as a pure ASGI middleware: a nonce per request in
``request.state.csp_nonce`` (where the pixel looks for it by default), and with
``DEMO_STRICT_CSP`` the strict policy header, which allows TikTok with ``pixel.csp_sources()``.

It must sit inside :class:`~pixel_embed.integrations.starlette.PixelMiddleware` (added before it
with ``add_middleware``), so that the pixel's check on every page sees the policy it sends.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pixel_embed import merge_csp

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


class CspMiddleware:
    """Gives each request a nonce; sends ``policy`` (with it) when one is given.

    :param policy: the policy, with ``{nonce}`` where the nonce goes, or ``None`` for no header.
    """

    def __init__(self, app: ASGIApp, *, policy: str | None) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(18)
        scope.setdefault("state", {})["csp_nonce"] = nonce
        if self.policy is None:
            await self.app(scope, receive, send)
            return
        header = (b"content-security-policy", self.policy.replace(_NONCE_SLOT, nonce).encode())

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        await self.app(scope, receive, send_with_policy)


def strict_policy(sources: dict[str, list[str]]) -> str:
    """:data:`SITE_POLICY` with TikTok's ``sources`` (``pixel.csp_sources()``) merged in."""
    return merge_csp(SITE_POLICY, sources)
