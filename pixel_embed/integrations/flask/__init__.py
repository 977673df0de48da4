"""pixel_embed for Flask: the :class:`TikTokPixel` extension, its blueprints, its commands."""

from .extension import TikTokPixel as TikTokPixel

__all__ = ["TikTokPixel"]
