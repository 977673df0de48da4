"""A local copy of TikTok's browser SDK: where it is, and how the kit serves it.

A copy is a directory laid out by URL path, as ``pixel-embed sdk pull DIR`` writes it::

    DIR/analytics.tiktok.com/i18n/pixel/events.js          the loader, built for one pixel
    DIR/analytics.tiktok.com/i18n/pixel/static/main.….js   the bundles the loader names

TikTok's SDK is never part of pixel_embed: tests find a copy through ``PIXEL_EMBED_SDK_DIR``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import PixelError

#: The environment variable naming the directory of a local copy of TikTok's SDK.
ENV_VAR = "PIXEL_EMBED_SDK_DIR"
#: TikTok's host that serves the SDK, and the loader's path there.
SDK_HOST = "analytics.tiktok.com"
LOADER_PATH = "/i18n/pixel/events.js"
#: What the first line of a served loader calls, so the observer sees the page's calls.
OBSERVE_CALL = "window.__pixelEmbedObserve && window.__pixelEmbedObserve({code});\n"

# A pixel code as TikTok issues them (20 upper-case letters and digits); lower case and other
# lengths are accepted, but nothing that could leave a JavaScript string.
PIXEL_CODE = re.compile(r"[A-Za-z0-9]{4,64}")
_BUILT_FOR = re.compile(r"\"pixelCode\"\s*:\s*\"([A-Za-z0-9]+)\"")


class SdkNotFound(PixelError):
    """No usable copy of TikTok's SDK where one was asked for; the message says where it looked."""


def find_sdk_dir(*fallbacks: str | os.PathLike[str]) -> Path | None:
    """The directory ``PIXEL_EMBED_SDK_DIR`` names, when it holds an SDK copy; else the first
    of ``fallbacks`` that holds one; else ``None``."""
    value = os.environ.get(ENV_VAR)
    candidates = [Path(value).expanduser()] if value else []
    candidates += [Path(fallback).expanduser() for fallback in fallbacks]
    return next((path for path in candidates if is_sdk_dir(path)), None)


def is_sdk_dir(path: Path) -> bool:
    """Whether ``path`` holds a copy of TikTok's SDK (its loader, at least)."""
    return (path / SDK_HOST / LOADER_PATH.lstrip("/")).is_file()


def require_sdk_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """``path`` (or ``PIXEL_EMBED_SDK_DIR``), checked to hold an SDK copy.

    :raises SdkNotFound: there is none there; the message says how to get one.
    """
    if path is None:
        found = find_sdk_dir()
        if found is not None:
            return found
        raise SdkNotFound(
            f"no copy of TikTok's SDK: set {ENV_VAR} to a directory made by "
            "`pixel-embed sdk pull DIR`"
        )
    directory = Path(path).expanduser()
    if not is_sdk_dir(directory):
        raise SdkNotFound(
            f"sdk_dir {str(directory)!r} holds no {SDK_HOST}{LOADER_PATH}: "
            "make one with `pixel-embed sdk pull DIR`"
        )
    return directory


def loader_pixel_code(loader: str) -> str | None:
    """The pixel code a loader (``events.js``) was built for."""
    match = _BUILT_FOR.search(loader)
    return match.group(1) if match else None


def loader_for(loader: str, code: str) -> str:
    """The loader's text rewritten to serve pixel ``code``, opened by the observer's call.

    :raises SdkNotFound: the loader names no pixel code to rewrite.
    :raises PixelError: ``code`` is not a pixel code.
    """
    if not PIXEL_CODE.fullmatch(code):
        raise PixelError(f"sdkid {code!r} is not a pixel code (letters and digits)")
    built_for = loader_pixel_code(loader)
    if built_for is None:
        raise SdkNotFound("the SDK loader names no pixelCode to rewrite")
    return OBSERVE_CALL.format(code=f'"{code}"') + loader.replace(built_for, code)


@dataclass(frozen=True)
class SdkFiles:
    """Serves the files of one SDK copy by URL (host and path)."""

    root: Path

    def file_for(self, host: str, path: str) -> Path | None:
        """The copy's file for ``https://host/path``, or ``None``; never a file outside it."""
        parts = PurePosixPath(path).parts[1:]
        if not host or any(part in ("", ".", "..") for part in parts) or not parts:
            return None
        candidate = self.root.joinpath(host, *parts)
        try:
            candidate.resolve().relative_to(self.root.resolve())
        except ValueError:
            return None
        return candidate if candidate.is_file() else None

    def body_for(self, host: str, path: str, sdkid: str | None) -> str | None:
        """The text to answer ``https://host/path?sdkid=…`` with, or ``None`` (not in the copy).

        The loader is rewritten to ``sdkid`` (:func:`loader_for`); other files are served as
        they are.
        """
        found = self.file_for(host, path)
        if found is None:
            return None
        text = found.read_text(encoding="utf-8")
        if host == SDK_HOST and path == LOADER_PATH:
            return loader_for(text, sdkid or loader_pixel_code(text) or "")
        return text
