"""Django's settings as the mapping the core's configuration reads.

:meth:`PixelConfig.from_mapping <pixel_embed.core.config.PixelConfig.from_mapping>` reads every
``TIKTOK_PIXEL_*`` key from a mapping; :class:`SettingsMapping` shows it Django's settings
(their upper-case names, as ``settings.py`` spells them), read when asked, so
``override_settings`` and pytest-django's ``settings`` fixture work as they do for Django's own
settings.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from django.conf import settings


class SettingsMapping(Mapping[str, Any]):
    """``django.conf.settings`` as a read-only mapping of its upper-case names."""

    def __getitem__(self, key: str) -> Any:
        if not key.isupper():  # Django's rule: only upper-case names are settings
            raise KeyError(key)
        try:
            return getattr(settings, key)
        except AttributeError:
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[str]:
        return (name for name in dir(settings) if name.isupper())

    def __len__(self) -> int:
        return sum(1 for _ in self)


#: Every setting of this library starts with it: a change to one (``override_settings``)
#: makes the pixel read its configuration again.
SETTINGS_PREFIX = "TIKTOK_PIXEL_"
