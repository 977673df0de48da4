"""The Django app (``INSTALLED_APPS`` entry ``"pixel_embed.integrations.django"``)."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core.signals import setting_changed


class TikTokPixelConfig(AppConfig):
    """Reads and checks the ``TIKTOK_PIXEL_*`` settings when Django starts (a bad one fails
    start-up with a :class:`~pixel_embed.errors.ConfigurationError` naming it), registers the
    middleware's placement check and connects the log-in and log-out signals."""

    name = "pixel_embed.integrations.django"
    label = "tiktok_pixel"
    verbose_name = "TikTok Pixel"

    def ready(self) -> None:
        from . import checks, signals
        from .pixel import pixel

        pixel.configure()
        checks.register()
        signals.connect()
        setting_changed.connect(_reconfigure, dispatch_uid="pixel_embed.reconfigure")


def _reconfigure(*, setting: str, **extra: Any) -> None:
    """``override_settings`` (or pytest-django's ``settings`` fixture) changed a setting of
    ours: read them again, as Django's own components do."""
    from .conf import SETTINGS_PREFIX
    from .pixel import pixel

    if setting.startswith(SETTINGS_PREFIX):
        pixel.configure()
