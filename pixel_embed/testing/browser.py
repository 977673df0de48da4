"""Deprecated path: import these names from :mod:`pixel_embed.testing`, and run
``python -m pixel_embed.browser.chromium`` (the finder lives in
:mod:`pixel_embed.browser.chromium`, which the audit shares). Kept so 0.1's imports and command
still work."""

import sys
import warnings

from ..browser.chromium import BrowserNotFound as BrowserNotFound
from ..browser.chromium import Chromium as Chromium
from ..browser.chromium import LaunchOptions as LaunchOptions
from ..browser.chromium import find_chromium as find_chromium
from ..browser.chromium import main as main

__all__ = ["BrowserNotFound", "Chromium", "LaunchOptions", "find_chromium", "main"]

DEPRECATED = (
    "pixel_embed.testing.browser is deprecated: import find_chromium and Chromium from "
    "pixel_embed.testing, and run python -m pixel_embed.browser.chromium"
)

if __name__ == "__main__":
    print(DEPRECATED, file=sys.stderr)  # Python hides a DeprecationWarning raised from runpy
    raise SystemExit(main())
warnings.warn(DEPRECATED, DeprecationWarning, stacklevel=2)
