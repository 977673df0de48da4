"""Where the project's own tests find TikTok's SDK copy (never part of this repository)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from pixel_embed.browser.sdk import ENV_VAR, find_sdk_dir
from pixel_embed.render import PixelSettings, render_pixel
from pixel_embed.testing import install_recorder

#: CI's copy, beside the clone (as ``/work/shared`` sits beside each worktree).
SHARED_SDK_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "tiktok-sdk"


def project_sdk_dir() -> Path | None:
    """``PIXEL_EMBED_SDK_DIR``, else ``<repo>/../shared/tiktok-sdk``; ``None`` when neither
    holds a copy (for code outside pytest, such as the benchmarks)."""
    return find_sdk_dir(SHARED_SDK_DIR)


def real_sdk_dir() -> Path:
    """The SDK copy for a test, or skip the test with a one-line reason."""
    found = project_sdk_dir()
    if found is None:
        pytest.skip(f"TikTok's SDK copy not found: set {ENV_VAR} or provide {SHARED_SDK_DIR}")
    return found


def raw_page(script: str, *, codes: tuple[str, ...], ldu: bool = False) -> str:
    """A page with TikTok's stub and ``script`` written by hand, as a site without the
    extension would have them (raw values and all)."""
    stub = render_pixel(PixelSettings(codes=codes, ldu=ldu))
    return (
        f"<!doctype html><html><head><title>t</title>{stub}<script>{script}</script></head>"
        "<body>ok</body></html>"
    )


@contextmanager
def real_sdk_page(browser: Browser, sdk_dir: Path) -> Iterator[Page]:
    """A page in a context of its own, TikTok's hosts answered by the SDK copy in ``sdk_dir``
    (the recorder keeping every beacon); the context is closed after the block."""
    context = browser.new_context()
    try:
        install_recorder(context, sdk="real", sdk_dir=sdk_dir)
        yield context.new_page()
    finally:
        context.close()
