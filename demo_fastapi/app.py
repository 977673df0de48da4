"""The application factory: ``create_app()`` builds the shop with everything in memory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware

from pixel_embed import ConfigurationError
from pixel_embed.integrations.starlette import PixelMiddleware, TikTokPixel

from . import shop
from .csp import CspMiddleware, strict_policy
from .store import Store

#: A made-up pixel code: with no internet (or no such pixel) the stub just queues the calls.
DEMO_PIXEL_CODE = "CDEMOSHOP00PIXEL0002"
HERE = Path(__file__).resolve().parent
#: The Flask demo's static files (htmx, the consent banner's script, the stylesheet): shared,
#: not copied.
STATIC_DIR = HERE.parent / "demo_site" / "static"

DEFAULTS: dict[str, Any] = {
    #: Signs the session cookie (cart, deferred events); fine for a demo on 127.0.0.1 only.
    "SECRET_KEY": "demo-shop-not-a-secret",
    "TIKTOK_PIXEL_CODE": DEMO_PIXEL_CODE,
    #: "none", "hold" (SDK loads, events held until consent) or "strict" (nothing before it).
    "TIKTOK_PIXEL_CONSENT": "hold",
    "TIKTOK_PIXEL_DEFAULT_REGION": "US",
    #: A mistake in the shop's own tracking code should fail loudly, not be dropped.
    "TIKTOK_PIXEL_STRICT": True,
    #: htmx's add to cart: its calls travel with its response (pixel_embed.partial).
    "TIKTOK_PIXEL_PARTIAL": True,
    #: Send ``Content-Security-Policy: script-src 'nonce-…' 'strict-dynamic'; …``.
    "DEMO_STRICT_CSP": False,
    #: How the shop's views run: "async" (``async def``, in the event loop) or "sync" (``def``,
    #: in FastAPI's threadpool). The pixel works the same in both; the tests walk both.
    "DEMO_ENDPOINTS": "async",
}

SEED_CUSTOMER = {
    "name": "Jane",
    "email": "jane@example.com",
    "phone": "+12133734253",
    "password": "pixel-demo",
}


def _from_environment() -> dict[str, Any]:
    """``DEMO_FASTAPI_<KEY>`` variables, read as JSON where they parse (``true``, ``42``)."""
    import json

    settings: dict[str, Any] = {}
    for name, raw in os.environ.items():
        if name.startswith("DEMO_FASTAPI_"):
            key = name.removeprefix("DEMO_FASTAPI_")
            try:
                settings[key] = json.loads(raw)
            except ValueError:
                settings[key] = raw
    return settings


def create_app(config: Mapping[str, Any] | None = None) -> FastAPI:
    """Build the shop.

    Settings come from :data:`DEFAULTS`, then ``DEMO_FASTAPI_*`` environment variables (e.g.
    ``DEMO_FASTAPI_TIKTOK_PIXEL_CONSENT=strict``, ``DEMO_FASTAPI_DEMO_STRICT_CSP=true``), then
    ``config``.

    :raises ConfigurationError: a setting is invalid.
    """
    settings = {**DEFAULTS, **_from_environment(), **(config or {})}
    if not isinstance(settings["DEMO_STRICT_CSP"], bool):
        raise ConfigurationError(
            f"DEMO_STRICT_CSP must be True or False, not {settings['DEMO_STRICT_CSP']!r}"
        )
    if settings["DEMO_ENDPOINTS"] not in ("async", "sync"):
        raise ConfigurationError(
            f"DEMO_ENDPOINTS must be 'async' or 'sync', not {settings['DEMO_ENDPOINTS']!r}"
        )
    pixel = TikTokPixel(settings)
    templates = Jinja2Templates(directory=HERE / "templates")
    pixel.install(templates)

    app = FastAPI(title="Pixel & Co.", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.templates = templates
    app.state.store = Store()
    app.state.store.add_user(**SEED_CUSTOMER)
    app.include_router(shop.router(settings["DEMO_ENDPOINTS"]))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # add_middleware puts each one outside those added before it: the policy inside the pixel
    # (its check sees the header), the session outside it (it saves what the pixel defers).
    policy = strict_policy(pixel.csp_sources()) if settings["DEMO_STRICT_CSP"] else None
    app.add_middleware(CspMiddleware, policy=policy)
    app.add_middleware(PixelMiddleware, pixel=pixel)
    app.add_middleware(
        SessionMiddleware, secret_key=settings["SECRET_KEY"], same_site="lax", https_only=False
    )
    return app
