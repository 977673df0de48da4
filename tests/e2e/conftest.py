from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fail_fast(request: pytest.FixtureRequest) -> None:
    """A missing button fails in 5 s, not Playwright's 30: the shop answers in milliseconds."""
    if "pixel_page" in request.fixturenames:
        request.getfixturevalue("pixel_page").set_default_timeout(5000)
