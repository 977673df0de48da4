"""Deprecated path: 0.1's ``flask tiktok-pixel events`` commands, now
:mod:`pixel_embed.integrations.flask.commands`. Kept so 0.1's imports still work; the Flask
module is imported when a name is first asked for, so this package stays framework-free."""

import importlib
import warnings
from typing import Any

#: 0.1's names, all in :mod:`pixel_embed.integrations.flask.commands`.
_NAMES = ("deliver", "events_cli", "purge", "retry", "rq_worker", "status")
__all__ = list(_NAMES)

warnings.warn(
    "pixel_embed.events_api.commands is deprecated: import events_cli (and its commands) from "
    "pixel_embed.integrations.flask.commands",
    DeprecationWarning,
    stacklevel=2,
)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module("pixel_embed.integrations.flask.commands"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
