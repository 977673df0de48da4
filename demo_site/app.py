"""The application factory: ``create_app()`` builds the shop with everything in memory."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from pixel_embed import ConfigurationError

from .accounts import UserStore
from .csp import add_policy_header, csp_nonce
from .extensions import pixel
from .orders import OrderStore
from .payments import FakeProvider
from .views import bp as shop

#: A made-up pixel code: with no internet (or no such pixel) the stub just queues the calls.
DEMO_PIXEL_CODE = "CDEMOSHOP00PIXEL0001"

DEFAULTS: dict[str, Any] = {
    #: Signs the session (cart, deferred events); fine for a demo on 127.0.0.1 only.
    "SECRET_KEY": "demo-shop-not-a-secret",
    "SESSION_COOKIE_SAMESITE": "Lax",
    "TIKTOK_PIXEL_CODE": DEMO_PIXEL_CODE,
    #: "none", "hold" (SDK loads, events held until consent) or "strict" (nothing before it).
    "TIKTOK_PIXEL_CONSENT": "hold",
    "TIKTOK_PIXEL_DEFAULT_REGION": "US",
    #: A mistake in the shop's own tracking code should fail loudly, not be dropped.
    "TIKTOK_PIXEL_STRICT": True,
    #: On: the pixel inspector panel at the foot of every page (and ttq calls in the console).
    "TIKTOK_PIXEL_DEBUG": False,
    #: Send ``Content-Security-Policy: script-src 'nonce-…' 'strict-dynamic'; …``.
    "DEMO_STRICT_CSP": False,
    #: Pages that do not reload: add to cart and wishlist through htmx, the newsletter through
    #: fetch(), hx-boost on category and product links. Off: classic form posts and redirects
    #: (what the shop also does for a browser without JavaScript).
    "DEMO_HTMX": True,
    #: Calls of htmx and fetch() responses travel with them (pixel_embed.partial).
    "TIKTOK_PIXEL_PARTIAL": True,
    #: Create the customer jane@example.com (password "pixel-demo") to try logging in.
    "DEMO_SEED_CUSTOMER": True,
    #: Signs the fake provider's webhook calls; fine for a demo on 127.0.0.1 only.
    "DEMO_PAYMENT_SECRET": "demo-payment-secret",
}

SEED_CUSTOMER = {
    "name": "Jane",
    "email": "jane@example.com",
    "phone": "+12133734253",
    "password": "pixel-demo",
}


@dataclass
class ShopState:
    """Everything the shop remembers, for as long as the process runs."""

    users: UserStore = field(default_factory=UserStore)
    orders: OrderStore = field(default_factory=OrderStore)
    messages: list[dict[str, str]] = field(default_factory=list)
    subscribers: set[str] = field(default_factory=set)
    provider: FakeProvider = field(default_factory=lambda: FakeProvider(""))


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the shop.

    Settings come from :data:`DEFAULTS`, then ``FLASK_*`` environment variables (e.g.
    ``FLASK_TIKTOK_PIXEL_CONSENT=strict``, ``FLASK_DEMO_STRICT_CSP=true``), then ``config``.

    :raises ConfigurationError: a setting is invalid.
    """
    app = Flask(__name__)
    app.config.update(DEFAULTS)
    app.config.from_prefixed_env()
    app.config.update(config or {})
    #: Paying calls the fake payment provider, which confirms to /webhooks/payments from a
    #: thread (over HTTP, to the address the visitor used): the server Purchase goes from there.
    #: Off in tests unless asked for: Flask's test client serves no address to call.
    app.config.setdefault("DEMO_PAYMENT_WEBHOOKS", not app.config.get("TESTING", False))
    for key in ("DEMO_STRICT_CSP", "DEMO_SEED_CUSTOMER", "DEMO_HTMX", "DEMO_PAYMENT_WEBHOOKS"):
        if not isinstance(app.config[key], bool):
            raise ConfigurationError(f"{key} must be True or False, not {app.config[key]!r}")

    state = ShopState(provider=FakeProvider(app.config["DEMO_PAYMENT_SECRET"]))
    if app.config["DEMO_SEED_CUSTOMER"]:
        state.users.create(**SEED_CUSTOMER)
    app.extensions["demo_shop"] = state

    pixel.init_app(app)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    # Called only by the inspector panel, which is only rendered with TIKTOK_PIXEL_DEBUG on.
    app.jinja_env.globals["pixel_page_calls"] = pixel.page_calls
    app.after_request(add_policy_header)
    app.register_blueprint(shop)
    return app
