"""The demo's settings: a Django project's ``settings.py``, with the pixel's lines marked.

A few ``DEMO_*`` environment variables change it: ``DEMO_DB`` (the SQLite file, in the temporary
folder by default), ``DEMO_SESSION_ENGINE`` (Django's session backend: signed cookies by
default, as Flask's), ``DEMO_STRICT_CSP=1`` (django-csp's strict policy with a nonce) and
``DEMO_CONSENT`` (``TIKTOK_PIXEL_CONSENT``, ``hold`` by default).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from csp.constants import NONCE

from pixel_embed.csp import tiktok_sources

BASE_DIR = Path(__file__).resolve().parent
#: Signs the session and the CSRF token; fine for a demo on 127.0.0.1 only.
SECRET_KEY = "demo-shop-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]
ROOT_URLCONF = "demo_django.urls"
WSGI_APPLICATION = "demo_django.wsgi.application"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_htmx",
    "pixel_embed.integrations.django",  # the pixel: settings check, template tags, signals
]

STRICT_CSP = os.environ.get("DEMO_STRICT_CSP", "") == "1"

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Below SessionMiddleware, above django-csp's CSPMiddleware (checked at start-up).
    "pixel_embed.integrations.django.middleware.TikTokPixelMiddleware",
    *(["csp.middleware.CSPMiddleware"] if STRICT_CSP else []),
    # The shop's own: identifies the signed-in customer on every request.
    "demo_django.views.IdentifyCustomerMiddleware",
]

TEMPLATES: list[dict[str, Any]] = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "demo_django.views.shop_context",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get(
            "DEMO_DB", str(Path(tempfile.gettempdir()) / "pixel-embed-demo-django.sqlite3")
        ),
        "TEST": {"NAME": os.environ.get("DEMO_TEST_DB") or None},
    }
}
SESSION_ENGINE = os.environ.get(
    "DEMO_SESSION_ENGINE", "django.contrib.sessions.backends.signed_cookies"
)
#: The Flask demo's scripts and stylesheet (htmx, the consent banner), shared; served by the
#: demo's own URL (a demo has no web server in front), and by Django's test servers.
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR.parent / "demo_site" / "static"
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
LOGGING = {"version": 1, "disable_existing_loggers": False}

# -- the pixel ----------------------------------------------------------------------------------
#: A made-up pixel code: with no internet (or no such pixel) the stub just queues the calls.
TIKTOK_PIXEL_CODE = "CDEMOSHOP00PIXEL0001"
#: "none", "hold" (SDK loads, events held until consent) or "strict" (nothing before it).
TIKTOK_PIXEL_CONSENT = os.environ.get("DEMO_CONSENT", "hold")
TIKTOK_PIXEL_DEFAULT_REGION = "US"
#: A mistake in the shop's own tracking code should fail loudly, not be dropped.
TIKTOK_PIXEL_STRICT = True
#: Calls of htmx and fetch() responses travel with them.
TIKTOK_PIXEL_PARTIAL = True
#: Server copies of the purchase, with the browser event's event_id, when a token is given.
TIKTOK_PIXEL_ACCESS_TOKEN = os.environ.get("DEMO_EVENTS_API_TOKEN") or None
TIKTOK_PIXEL_EVENTS_API_URL = os.environ.get(
    "DEMO_EVENTS_API_URL", "https://business-api.tiktok.com/open_api/v1.3/event/track/"
)
TIKTOK_PIXEL_EVENTS_QUEUE = "memory"
if os.environ.get("DEMO_RQ_URL"):  # server events through RQ (python -m demo_django tiktok_pixel
    # events rq-worker delivers them)
    from redis import Redis
    from rq import Queue

    TIKTOK_PIXEL_EVENTS_QUEUE = "rq"
    TIKTOK_PIXEL_RQ_QUEUE = Queue("pixel", connection=Redis.from_url(os.environ["DEMO_RQ_URL"]))

# -- django-csp (with DEMO_STRICT_CSP=1): scripts by nonce, TikTok's hosts allowed -------------
_TIKTOK = tiktok_sources()
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": [NONCE, "'strict-dynamic'", *_TIKTOK["script-src"]],
        "connect-src": ["'self'", *_TIKTOK["connect-src"]],
        "img-src": ["'self'", "data:", *_TIKTOK["img-src"]],
        "style-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
    }
}
