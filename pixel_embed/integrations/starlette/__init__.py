"""The TikTok Pixel on Starlette and FastAPI sites (``pip install 'pixel-embed[starlette]'``).

See docs/starlette.md: :class:`TikTokPixel` holds the settings and the view API,
:class:`PixelMiddleware` serves it to each request, :func:`current_pixel` is FastAPI's
dependency.
"""

from .middleware import PixelMiddleware
from .pixel import TikTokPixel, current_pixel

__all__ = ["PixelMiddleware", "TikTokPixel", "current_pixel"]
