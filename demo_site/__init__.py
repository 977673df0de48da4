"""Pixel & Co., a small demo shop that uses every part of pixel_embed as a real site would."""

from .app import DEMO_PIXEL_CODE as DEMO_PIXEL_CODE
from .app import create_app as create_app

__all__ = ["DEMO_PIXEL_CODE", "create_app"]
