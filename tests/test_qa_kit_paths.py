"""0.1's import paths of the QA kit still work, with a warning that names the new one."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import pixel_embed.testing
from pixel_embed.browser import chromium, pii, wire


@pytest.mark.parametrize(
    ("old", "new", "names"),
    [
        ("pixel_embed.testing.wire", wire, ["WIRE_NAMES", "WireEvent", "format_wire", "wire_name"]),
        ("pixel_embed.testing.pii", pii, ["AutoCollectedIdentity"]),
        ("pixel_embed.testing.browser", chromium, ["BrowserNotFound", "Chromium", "find_chromium"]),
    ],
)
def test_an_old_path_warns_and_gives_the_same_objects(
    old: str, new: object, names: list[str]
) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} is deprecated: import .* from pixel_embed"):
        module = importlib.import_module(old)
    for name in names:
        assert getattr(module, name) is getattr(new, name)
        if name != "main":
            assert getattr(pixel_embed.testing, name) is getattr(new, name)


def test_the_chromium_finder_runs_as_a_command_under_both_names() -> None:
    for module in ("pixel_embed.browser.chromium", "pixel_embed.testing.browser"):
        found = subprocess.run(
            [sys.executable, "-m", module], capture_output=True, text=True, timeout=60, check=False
        )
        assert found.returncode == 0, found.stderr
        assert found.stdout.startswith("Chromium ("), found.stdout
    assert "python -m pixel_embed.browser.chromium" in found.stderr  # the old name says the new
