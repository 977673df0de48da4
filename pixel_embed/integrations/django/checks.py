"""``manage.py check``: the middleware's place (see :mod:`.placement`) and its presence."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from .placement import MIDDLEWARE_PATH, placement_problems


def check_middleware(**kwargs: Any) -> list[checks.CheckMessage]:
    """Errors ``tiktok_pixel.E001`` (misplaced) and ``tiktok_pixel.E002`` (missing)."""
    middleware = list(getattr(settings, "MIDDLEWARE", None) or ())
    found: list[checks.CheckMessage] = [
        checks.Error(problem, id="tiktok_pixel.E001") for problem in placement_problems(middleware)
    ]
    if MIDDLEWARE_PATH not in middleware and not any(
        entry.endswith(".TikTokPixelMiddleware") for entry in middleware
    ):
        found.append(
            checks.Error(
                f"the TikTok pixel app is installed but MIDDLEWARE does not list {MIDDLEWARE_PATH}",
                hint="add it below SessionMiddleware (and above django-csp's CSPMiddleware)",
                id="tiktok_pixel.E002",
            )
        )
    return found


def register() -> None:
    checks.register(check_middleware, checks.Tags.compatibility)
