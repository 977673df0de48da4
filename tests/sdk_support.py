"""Where the project's own tests find TikTok's SDK copy (never part of this repository)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixel_embed.testing.sdk import ENV_VAR, find_sdk_dir

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
