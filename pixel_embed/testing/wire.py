"""Deprecated path: import these names from :mod:`pixel_embed.testing` (they live in
:mod:`pixel_embed.browser.wire`, which the audit shares). Kept so 0.1's imports still work."""

import warnings

from ..browser.wire import WIRE_NAMES as WIRE_NAMES
from ..browser.wire import WireEvent as WireEvent
from ..browser.wire import format_wire as format_wire
from ..browser.wire import wire_name as wire_name

__all__ = ["WIRE_NAMES", "WireEvent", "format_wire", "wire_name"]

warnings.warn(
    "pixel_embed.testing.wire is deprecated: import WireEvent, format_wire, WIRE_NAMES and "
    "wire_name from pixel_embed.testing",
    DeprecationWarning,
    stacklevel=2,
)
