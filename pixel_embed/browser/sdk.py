"""A local copy of TikTok's browser SDK: where it is, and how the kit serves it.

A copy is a directory laid out by URL path, as ``pixel-embed sdk pull DIR`` writes it::

    DIR/analytics.tiktok.com/i18n/pixel/events.js          the loader, built for one pixel
    DIR/analytics.tiktok.com/i18n/pixel/static/main.….js   the bundles the loader names

TikTok's SDK is never part of pixel_embed: tests find a copy through ``PIXEL_EMBED_SDK_DIR``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

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


# -- reading a copy ----------------------------------------------------------------------------

#: Where the loader's bundles live (it names them relative to this).
STATIC_URL = f"https://{SDK_HOST}/i18n/pixel/static/"
_STATIC_FILE = re.compile(re.escape(STATIC_URL) + r"([A-Za-z0-9_][A-Za-z0-9_.-]*\.js)")
_VARIANT = re.compile(r"id\s*:\s*\"([A-Za-z0-9_-]+)\"\s*,\s*map\s*:\s*\{([^{}]*)\}")
_FLAG = re.compile(r"(\w+)\s*:\s*(!0|!1|true|false)")
_LIBRARY = re.compile(r"name\s*:\s*\"pixel\.js\"\s*,\s*version\s*:\s*\"([0-9][0-9A-Za-z.+-]*)\"")
_RENAMES = re.compile(r"\{([^{}]*\bCompletePayment\s*:\s*\"Purchase\"[^{}]*)\}")
_RENAME = re.compile(r"(\w+)\s*:\s*\"(\w+)\"")
#: What ``pixel-embed sdk pull`` records about a copy, beside it.
MANIFEST = "pixel-embed-sdk.json"


def _json_object_after(text: str, marker: str) -> dict[str, Any]:
    """The JSON object that starts at the first ``{`` after ``marker`` (``{}`` if none)."""
    start = text.find(marker)
    start = text.find("{", start) if start != -1 else -1
    if start == -1:
        return {}
    try:
        value, _ = json.JSONDecoder().raw_decode(text, start)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def loader_bundle(loader: str) -> str | None:
    """The main bundle's file name the loader picks (``main.MWJkOTJmOWRkMQ.js``), decided as
    the loader does: the first variant whose plugin flags agree with the pixel's settings."""
    variants = [
        (vid, {key: flag in ("!0", "true") for key, flag in _FLAG.findall(body)})
        for vid, body in _VARIANT.findall(loader)
    ]
    if not variants:
        return None
    enabled = _json_object_after(loader, "._plugins =")
    pixel_plugins = _json_object_after(loader, '"plugins"')
    external = _json_object_after(loader, "._env =").get("env", "external") == "external"

    def agrees(key: str, flag: bool) -> bool:
        if key == "JSBridge":
            return (not external) == flag
        return bool(enabled.get(key) and pixel_plugins.get(key)) == flag

    chosen = next(
        (vid for vid, flags in variants if all(agrees(k, f) for k, f in flags.items())),
        variants[0][0],
    )
    return f"main.{chosen}.js"


def static_files_named(script: str) -> list[str]:
    """The SDK's static files a script names by URL (the identify plugin …), in order."""
    return list(dict.fromkeys(_STATIC_FILE.findall(script)))


def sdk_event_renames(bundle: str) -> dict[str, str]:
    """The event renames written in a main bundle (``{"CompletePayment": "Purchase", …}``)."""
    match = _RENAMES.search(bundle)
    return dict(_RENAME.findall(match.group(1))) if match else {}


@dataclass(frozen=True)
class SdkInfo:
    """What a copy of TikTok's SDK holds (:func:`sdk_info`)."""

    root: Path
    library: str | None
    built_for: str | None
    bundle: str | None
    files: tuple[tuple[str, int, str], ...]
    missing: tuple[str, ...]
    renames: dict[str, str]
    pulled: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "dir": str(self.root),
            "library": self.library,
            "built_for": self.built_for,
            "bundle": self.bundle,
            "files": [{"path": p, "bytes": n, "sha256": h} for p, n, h in self.files],
            "missing": list(self.missing),
            "renames": self.renames,
            "pulled": self.pulled,
        }

    def describe(self) -> str:
        """The info as lines for people."""
        lines = [
            f"TikTok pixel SDK copy in {self.root}",
            f"  library:   pixel.js {self.library or '(version not found)'}",
            f"  built for: {self.built_for or '(no pixel code found)'} (served for any sdkid)",
            f"  bundle:    {self.bundle or '(none named)'}"
            + (" (missing)" if self.bundle and self.bundle in self.missing else ""),
        ]
        if self.pulled:
            lines.append(
                f"  pulled:    {self.pulled.get('at', '?')} from {self.pulled.get('from', '?')}"
            )
        lines.append(f"  renames:   {len(self.renames)} page-side event names sent under another")
        lines.append("  files:")
        lines += [
            f"    {path}  {size} bytes  sha256 {digest[:12]}" for path, size, digest in self.files
        ]
        lines += [f"    {name}  MISSING" for name in self.missing]
        return "\n".join(lines)


def _relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def sdk_info(path: str | os.PathLike[str]) -> SdkInfo:
    """Read a copy of TikTok's SDK: its version, the pixel its loader was built for, the bundle
    the loader picks, its files (size and SHA-256), and the event renames.

    :raises SdkNotFound: ``path`` holds no loader.
    """
    root = require_sdk_dir(path)
    files = SdkFiles(root)
    loader = (root / SDK_HOST / LOADER_PATH.lstrip("/")).read_text(encoding="utf-8")
    bundle = loader_bundle(loader)
    wanted = [bundle] if bundle else []
    library, renames = None, {}
    bundle_file = files.file_for(SDK_HOST, f"/i18n/pixel/static/{bundle}") if bundle else None
    if bundle_file is not None:
        text = bundle_file.read_text(encoding="utf-8")
        match = _LIBRARY.search(text)
        library = match.group(1) if match else None
        renames = sdk_event_renames(text)
        wanted += static_files_named(text)
    missing = tuple(
        name for name in wanted if files.file_for(SDK_HOST, f"/i18n/pixel/static/{name}") is None
    )
    listed = []
    for found in sorted(p for p in (root / SDK_HOST).rglob("*") if p.is_file()):
        data = found.read_bytes()
        listed.append((_relative(root, found), len(data), hashlib.sha256(data).hexdigest()))
    pulled: dict[str, Any] = {}
    manifest = root / MANIFEST
    if manifest.is_file():
        try:
            pulled = dict(json.loads(manifest.read_text(encoding="utf-8")))
        except (ValueError, TypeError):
            pulled = {}
    return SdkInfo(
        root, library, loader_pixel_code(loader), bundle, tuple(listed), missing, renames, pulled
    )


# -- pulling a copy ----------------------------------------------------------------------------


class SdkPullFailed(PixelError):
    """``pixel-embed sdk pull`` could not download the SDK; the message names the URL."""


#: The most a downloaded SDK file may weigh (the main bundle is about 0.6 MB).
MAX_FILE_BYTES = 20 * 1024 * 1024


def _download(url: str, timeout: float) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "pixel-embed sdk pull"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data: bytes = response.read(MAX_FILE_BYTES + 1)
    except (OSError, ValueError) as exc:
        raise SdkPullFailed(f"cannot download {url}: {exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise SdkPullFailed(f"{url} is larger than {MAX_FILE_BYTES} bytes")
    return data


def pull_sdk(
    dest: str | os.PathLike[str],
    pixel: str,
    *,
    mirror: str | None = None,
    timeout: float = 30.0,
) -> SdkInfo:
    """Download TikTok's SDK into ``dest``, laid out by URL path: the loader built for
    ``pixel``, the main bundle it picks, and the static files that bundle names.

    :param mirror: fetch ``https://HOST/PATH`` from ``MIRROR/HOST/PATH`` instead (a copy laid
        out by URL path behind an internal server; the tests use one on 127.0.0.1).
    :raises SdkPullFailed: a download failed or the loader names no bundle.
    :raises PixelError: ``pixel`` is not a pixel code.
    """
    if not PIXEL_CODE.fullmatch(pixel):
        raise PixelError(f"--pixel {pixel!r} is not a pixel code (letters and digits)")
    if mirror is not None and urlsplit(mirror).scheme not in ("http", "https"):
        raise PixelError(f"--mirror {mirror!r} is not an http(s) URL")
    root = Path(dest).expanduser()

    def source(url: str) -> str:
        if mirror is None:
            return url
        parts = urlsplit(url)
        return f"{mirror.rstrip('/')}/{parts.netloc}{parts.path}" + (
            f"?{parts.query}" if parts.query else ""
        )

    def save(url: str, data: bytes) -> None:
        parts = urlsplit(url)
        target = root.joinpath(parts.netloc, *PurePosixPath(parts.path).parts[1:])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    loader_url = f"https://{SDK_HOST}{LOADER_PATH}?sdkid={pixel}&lib=ttq"
    loader = _download(source(loader_url), timeout)
    bundle = loader_bundle(loader.decode("utf-8", "replace"))
    if bundle is None:
        raise SdkPullFailed(f"{source(loader_url)} names no main bundle: is it TikTok's loader?")
    fetched = {loader_url: loader}
    queue = [STATIC_URL + bundle]
    while queue:
        url = queue.pop(0)
        if url in fetched:
            continue
        fetched[url] = _download(source(url), timeout)
        queue += [
            STATIC_URL + name
            for name in static_files_named(fetched[url].decode("utf-8", "replace"))
        ]
    for url, data in fetched.items():
        save(url, data)
    (root / MANIFEST).write_text(
        json.dumps(
            {
                "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "from": mirror or f"https://{SDK_HOST}",
                "pixel": pixel,
                "urls": list(fetched),
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    return sdk_info(root)
