"""Pixel & Co. on FastAPI: the demo shop's journey on Starlette's ASGI stack, with pixel_embed's
Starlette integration (``make demo-fastapi``)."""

from .app import DEMO_PIXEL_CODE as DEMO_PIXEL_CODE
from .app import create_app as create_app

__all__ = ["DEMO_PIXEL_CODE", "create_app"]
