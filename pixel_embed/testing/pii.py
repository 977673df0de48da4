"""Deprecated path: import :class:`AutoCollectedIdentity` from :mod:`pixel_embed.testing` (it
lives in :mod:`pixel_embed.browser.pii`, which the audit shares). Kept so 0.1's imports still
work."""

import warnings

from ..browser.pii import AutoCollectedIdentity as AutoCollectedIdentity

__all__ = ["AutoCollectedIdentity"]

warnings.warn(
    "pixel_embed.testing.pii is deprecated: import AutoCollectedIdentity from pixel_embed.testing",
    DeprecationWarning,
    stacklevel=2,
)
