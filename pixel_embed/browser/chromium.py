"""Find a Chromium for Playwright to drive: Playwright's own, else the system's.

``python -m pixel_embed.browser.chromium`` prints the one it would use, or says how to get one
(exit status 1).
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Flags for a system Chromium in a container: no sandbox (we often run as root), no GPU, and no
#: background traffic of its own (no test may reach the internet).
SYSTEM_CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
ENV_VAR = "PIXEL_EMBED_CHROMIUM"
_SYSTEM_NAMES = ("chromium", "chromium-browser")

NO_PLAYWRIGHT = (
    "Playwright is not installed, and it drives Chromium for the QA kit and the audit: "
    "pip install 'pixel-embed[testing]'"
)
NO_BROWSER = (
    "No Chromium found: install one with `apt-get install -y chromium` (Debian/Ubuntu) or "
    "`python -m playwright install chromium`, or set PIXEL_EMBED_CHROMIUM to a Chromium "
    "executable."
)


class BrowserNotFound(RuntimeError):
    """No Chromium could be found; the message says how to get one."""


class LaunchOptions(dict[str, Any]):
    """Keyword arguments for ``playwright.chromium.launch``: a plain dict.

    Calling it, as ``launch_options()`` was called when it was a method, still returns it, with
    a :class:`DeprecationWarning`.
    """

    def __call__(self) -> LaunchOptions:
        warnings.warn(
            "Chromium.launch_options is a value now: write chromium.launch_options, "
            "without the parentheses",
            DeprecationWarning,
            stacklevel=2,
        )
        return self


@dataclass(frozen=True)
class Chromium:
    """A Chromium to launch: ``executable`` is ``None`` for Playwright's bundled one.

    ::

        browser = playwright.chromium.launch(**find_chromium().launch_options)
    """

    executable: str | None
    args: tuple[str, ...]
    source: str

    @property
    def launch_options(self) -> LaunchOptions:
        """Keyword arguments for ``playwright.chromium.launch``: ``headless``, ``args`` and,
        for a Chromium other than Playwright's own, ``executable_path``. A new dict each time,
        which the caller may change (add ``slow_mo``, say)."""
        options = LaunchOptions(headless=True, args=list(self.args))
        if self.executable is not None:
            options["executable_path"] = self.executable
        return options


def _bundled() -> str | None:
    # Playwright records where its own download would be; it exists only after
    # `playwright install chromium`, which our machines cannot run.
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as p:
            path = p.chromium.executable_path
    except Exception:  # pragma: no cover - a broken Playwright install
        return None
    return path if path and Path(path).is_file() else None


def find_chromium() -> Chromium:
    """The Chromium to use: ``$PIXEL_EMBED_CHROMIUM``, else Playwright's own, else the system's.

    :raises BrowserNotFound: there is none, or no Playwright to drive it; the message says how
        to get one.
    """
    try:
        import playwright.sync_api  # noqa: F401 (only: is it there?)
    except ImportError:
        raise BrowserNotFound(NO_PLAYWRIGHT) from None
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        if not (Path(explicit).is_file() and os.access(explicit, os.X_OK)):
            raise BrowserNotFound(f"{ENV_VAR}={explicit!r} is not an executable file. {NO_BROWSER}")
        return Chromium(explicit, SYSTEM_CHROMIUM_ARGS, ENV_VAR)
    bundled = _bundled()
    if bundled is not None:
        return Chromium(None, (), "playwright")
    for name in _SYSTEM_NAMES:
        found = shutil.which(name)
        if found:
            return Chromium(found, SYSTEM_CHROMIUM_ARGS, "system")
    raise BrowserNotFound(NO_BROWSER)


def main() -> int:
    try:
        chromium = find_chromium()
    except BrowserNotFound as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"Chromium ({chromium.source}): {chromium.executable or 'bundled with Playwright'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
