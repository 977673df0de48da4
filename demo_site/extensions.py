"""The extensions the shop uses, made once and registered on each app by the factory."""

from __future__ import annotations

from pixel_embed import TikTokPixel

from .csp import csp_nonce

pixel = TikTokPixel(nonce=csp_nonce)
