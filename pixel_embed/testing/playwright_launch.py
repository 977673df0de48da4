"""With pytest-playwright: let it launch the Chromium we found when its own is not installed.

Registered by the plugin only when pytest-playwright is active; the fixture below wraps
pytest-playwright's ``browser_type_launch_args``.
"""

from __future__ import annotations

from typing import Any

import pytest

from ..browser.chromium import BrowserNotFound, find_chromium


@pytest.fixture(scope="session")
def browser_type_launch_args(
    browser_type_launch_args: dict[str, Any], browser_name: str | None
) -> dict[str, Any]:
    """pytest-playwright's launch arguments, plus the found Chromium's path and flags."""
    if browser_name not in (None, "chromium") or "executable_path" in browser_type_launch_args:
        return browser_type_launch_args
    try:
        chromium = find_chromium()
    except BrowserNotFound as exc:
        pytest.fail(str(exc), pytrace=False)
    if chromium.executable is None:
        return browser_type_launch_args
    args = [*browser_type_launch_args.get("args", []), *chromium.args]
    return {**browser_type_launch_args, "executable_path": chromium.executable, "args": args}
