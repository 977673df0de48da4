"""The Django demo shop (demo_django/) for the tests: Django set up once per process with its
settings, served over real HTTP with the settings a test asks for.

Django's settings belong to the process: every Django test runs on the demo's, changed per test
with ``override_settings`` (which the pixel follows, as Django's own components do).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import django
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.test import override_settings

from pixel_embed.testing import serve_app

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_django.settings")
# Playwright's sync API runs an event loop in the test's thread, where Django then refuses the
# test's own database work (creating users, pytest-django's flush) as "async unsafe". The
# database is only used by the test's thread and, over HTTP, by the server's own threads.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
django.setup()

#: The demo's customers (see demo_django/__main__.py): name, e-mail, phone, password.
JANE = ("jane", "jane@example.com", "+12133734253", "pixel-demo")
SAM = ("sam", "sam@example.com", "+14155550123", "pixel-demo")
PIXEL_MIDDLEWARE = "pixel_embed.integrations.django.middleware.TikTokPixelMiddleware"
CSP_MIDDLEWARE = "csp.middleware.CSPMiddleware"


def middleware_with_csp() -> list[str]:
    """The demo's ``MIDDLEWARE`` with django-csp's, right below the pixel's."""
    entries = [entry for entry in settings.MIDDLEWARE if entry != CSP_MIDDLEWARE]
    at = entries.index(PIXEL_MIDDLEWARE) + 1
    return [*entries[:at], CSP_MIDDLEWARE, *entries[at:]]


def seed_customers() -> None:
    from django.contrib.auth.models import User

    for name, email, _, password in (JANE, SAM):
        if not User.objects.filter(username=name).exists():
            User.objects.create_user(name, email, password)


@contextmanager
def running_shop(**overrides: Any) -> Iterator[str]:
    """The demo shop with ``overrides`` of its settings, on a local port; yields its URL.

    Django builds its middleware (and so checks the pixel's place in it) when the handler is
    made: here, inside the overrides.
    """
    with override_settings(**overrides), serve_app(WSGIHandler()) as url:
        yield url
