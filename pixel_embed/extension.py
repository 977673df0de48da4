"""Deprecated path: 0.1's Flask extension module. ``TikTokPixel`` is
:mod:`pixel_embed.integrations.flask`'s (import it from :mod:`pixel_embed`); the session's
layout lives in :mod:`pixel_embed.core.deferred`, the response policy in
:mod:`pixel_embed.core.policy`. Kept so 0.1's imports still work; ``TikTokPixel`` is imported
when it is first asked for, as from :mod:`pixel_embed`."""

import warnings
from typing import TYPE_CHECKING, Any

from .core.deferred import MAX_DEFERRED as MAX_DEFERRED
from .core.deferred import MAX_DEFERRED_BYTES as MAX_DEFERRED_BYTES
from .core.deferred import MAX_ONCE_KEYS as MAX_ONCE_KEYS
from .core.deferred import SESSION_KEY as SESSION_KEY
from .core.deferred import SIBLING_SESSION_BYTES as SIBLING_SESSION_BYTES
from .core.policy import CDN_CACHE_HEADERS as CDN_CACHE_HEADERS
from .core.policy import PREFETCH_HEADERS as PREFETCH_HEADERS
from .core.policy import RESTORE_HEADER as RESTORE_HEADER
from .core.policy import is_history_restore as is_history_restore
from .core.policy import is_prefetch as is_prefetch

if TYPE_CHECKING:
    from .integrations.flask import TikTokPixel as TikTokPixel

__all__ = [
    "CDN_CACHE_HEADERS",
    "MAX_DEFERRED",
    "MAX_DEFERRED_BYTES",
    "MAX_ONCE_KEYS",
    "PREFETCH_HEADERS",
    "RESTORE_HEADER",
    "SESSION_KEY",
    "SIBLING_SESSION_BYTES",
    "TikTokPixel",
    "is_history_restore",
    "is_prefetch",
]

warnings.warn(
    "pixel_embed.extension is deprecated: import TikTokPixel from pixel_embed, SESSION_KEY, "
    "MAX_ONCE_KEYS, SIBLING_SESSION_BYTES, MAX_DEFERRED and MAX_DEFERRED_BYTES from "
    "pixel_embed.core.deferred, and the prefetch and restore helpers from "
    "pixel_embed.core.policy",
    DeprecationWarning,
    stacklevel=2,
)


def __getattr__(name: str) -> Any:
    if name == "TikTokPixel":
        import pixel_embed

        return pixel_embed.TikTokPixel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
