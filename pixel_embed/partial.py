"""Pixel calls for responses that do not reload the page: htmx, ``fetch()``/XHR, fragments.

A full page runs its calls in the inline script ``tiktok_pixel()`` renders. A response that
updates part of a page cannot: htmx ignores the ``<head>`` of a boosted page, and a script that
a swap or ``innerHTML`` inserts does not run (or runs again from a history cache). So, with
``TIKTOK_PIXEL_PARTIAL = True``:

- every page gets the small client script ``pixel_embed_partial.js``, which turns calls that
  arrive later into ``ttq`` calls, once each. A short inline loader (with the CSP nonce)
  requests it once the document is parsed, so it never holds up DOMContentLoaded, and keeps
  the htmx and ``fetch()`` responses that arrive before it for the script to read;
- an htmx request, or a browser ``fetch()``/XHR, gets the calls its view made (identify and
  track, never ``page``) in the response header :data:`HEADER`. The client script reads it on
  every htmx response (swap or not, errors included) and ``pixelEmbed.fromResponse(response)``
  reads it for the site's own ``fetch()``;
- ``{{ tiktok_pixel_calls() }}`` renders the pending calls as a JSON data block
  (``<script type="application/json">``, which no browser executes and CSP does not police);
  the client script runs it once when it is inserted (Turbo Frames and Streams, htmx swaps).

Why a header of our own rather than htmx's ``HX-Trigger``: one channel serves htmx and plain
``fetch()`` alike; a site's own ``HX-Trigger`` header stays untouched (no merging of its three
syntaxes); and htmx fires ``HX-Trigger`` events before it swaps and pushes the new URL, while the
client runs the calls on ``htmx:afterRequest``, after the boosted page's URL is in the address
bar, so TikTok attributes them to the page they belong to.

Everything that travels was validated and hashed by ``track()`` and ``identify()``: the same
:class:`~pixel_embed.events.Event` and :class:`~pixel_embed.matching.Identity` a page renders.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from flask import Blueprint, Flask, Request, Response, request, url_for
from markupsafe import Markup, escape

from .errors import ConfigurationError, safe_repr
from .events import Event
from .matching import NO_IDENTITY, Identity
from .render import PixelCall, PixelSettings, page_calls, render_disabled, to_js
from .resources import STATIC_DIR

if TYPE_CHECKING:
    from .extension import TikTokPixel, _RequestState

log = logging.getLogger("pixel_embed")

#: The response header carrying a partial response's calls: a JSON array of
#: ``[method, [arguments…]]``, ASCII only (non-ASCII as ``\\u`` escapes, since header values are
#: Latin-1) and HTML-safe.
HEADER = "PixelEmbed-Calls"
#: The most :data:`HEADER` may hold, in bytes. nginx keeps all of a proxied response's headers
#: in one 4 KB buffer by default (``proxy_buffer_size``) and fails the response beyond it, so
#: the calls take at most half of it; events beyond it wait for the next full page.
MAX_HEADER_BYTES = 2048
#: The client script, served by the extension at ``/_pixel_embed/<SCRIPT_NAME>``.
SCRIPT_NAME = "pixel_embed_partial.js"
_SCRIPT = (STATIC_DIR / SCRIPT_NAME).read_bytes()
_SCRIPT_VERSION = hashlib.sha256(_SCRIPT).hexdigest()[:12]
#: The inline loader that requests the client script: its file less the opening comment and
#: the indentation (it has no multi-line string).
LOADER_NAME = "pixel_embed_partial_loader.js"
_LOADER = "\n".join(
    line.strip()
    for line in (STATIC_DIR / LOADER_NAME).read_text().split("*/\n", 1)[1].strip().splitlines()
)
_STATE_KEY = "_pixel_embed_partial"

#: How a request can take calls: ``htmx`` (the client script reads every response), ``fetch``
#: (a browser ``fetch()``/XHR, Turbo's included: the site's script reads the header).
RequestKind = Literal["htmx", "fetch"]


def request_kind(current: Request) -> RequestKind | None:
    """Whether ``current`` comes from htmx or a browser's ``fetch()``/XHR, or neither (a page
    load, a form post, a client that is not a browser)."""
    headers = current.headers
    if headers.get("HX-Request") == "true":
        return "htmx"
    if headers.get("Sec-Fetch-Dest") == "empty" and headers.get("Sec-Fetch-Mode") in (
        "cors",
        "same-origin",
    ):
        return "fetch"
    if headers.get("X-Requested-With") == "XMLHttpRequest":
        return "fetch"
    return None


# The request headers that decide what tiktok_pixel() renders: request_kind()'s (the bootstrap
# or a placeholder) and htmx's history restore (no events). Every variant of such a page names
# them, the full page included: a cache that stored the full page under a key without them
# would serve it for an htmx request, and the other way round.
_VARY = (
    "HX-Request",
    "HX-History-Restore-Request",
    "Sec-Fetch-Dest",
    "Sec-Fetch-Mode",
    "X-Requested-With",
)


@dataclass(slots=True)
class _PartialState:
    #: tiktok_pixel() was asked for the page: its identity travels with the calls.
    page: bool = False


def _partial_state(current: Request) -> _PartialState:
    state: _PartialState | None = getattr(current, _STATE_KEY, None)
    if state is None:
        state = _PartialState()
        setattr(current, _STATE_KEY, state)
    return state


def partial_calls(
    settings: PixelSettings, identity: Identity, events: Sequence[Event]
) -> list[PixelCall]:
    """The calls a partial response makes: identify, then each track; never ``page`` (TikTok's
    SDK sends a Pageview by itself when a page changes the URL through the History API)."""
    return [call for call in page_calls(settings, identity, events) if call.method != "page"]


#: The call that has the client script empty TikTok's SDK of the identity it holds, after
#: :meth:`TikTokPixel.forget <pixel_embed.TikTokPixel.forget>`, on a page that did not reload.
FORGET_CALL = PixelCall("forget")


def forget_first(state: _RequestState, calls: list[PixelCall]) -> list[PixelCall]:
    """``calls``, after :data:`FORGET_CALL` when the visitor was forgotten since the last page."""
    if not state.forget_browser:
        return calls
    state.forget_browser = False
    return [FORGET_CALL, *calls]


def encode_calls(calls: Sequence[PixelCall]) -> str:
    """``calls`` as the JSON :data:`HEADER` and the fragment carry (ASCII, HTML-safe)."""
    return "[" + ",".join(to_js(call.as_list) for call in calls) + "]"


def encode_to_fit(calls: Sequence[PixelCall], limit: int) -> tuple[str, int]:
    """The JSON of the leading calls that fit in ``limit`` bytes (see :func:`encode_calls`),
    and how many calls did not fit.

    Calls keep their order: once one does not fit, neither do those after it.
    """
    parts: list[str] = []
    size = 2  # the brackets
    for call in calls:
        part = to_js(call.as_list)
        size += len(part) + (1 if parts else 0)
        if size > limit:
            break
        parts.append(part)
    return "[" + ",".join(parts) + "]", len(calls) - len(parts)


class PartialPages:
    """The extension's support for partial responses, made by :meth:`init_app` when
    ``TIKTOK_PIXEL_PARTIAL`` is on."""

    def __init__(self, settings: PixelSettings) -> None:
        self._settings = settings

    @classmethod
    def init_app(cls, app: Flask, settings: PixelSettings | None) -> PartialPages | None:
        """Serve the client script and return the partial support, when the setting asks."""
        value = app.config["TIKTOK_PIXEL_PARTIAL"]
        if not isinstance(value, bool):
            raise ConfigurationError(f"TIKTOK_PIXEL_PARTIAL must be True or False, not {value!r}")
        if not value or settings is None:
            return None
        blueprint = Blueprint("pixel_embed_partial", __name__, url_prefix="/_pixel_embed")
        blueprint.add_url_rule(f"/{SCRIPT_NAME}", "script", _serve_script)
        app.register_blueprint(blueprint)
        return cls(settings)

    @staticmethod
    def wants(current: Request) -> bool:
        """Whether this request's calls travel in the response rather than in a page script."""
        return request_kind(current) is not None

    def placeholder(self) -> Markup:
        """What ``tiktok_pixel()`` renders for a partial request: no second bootstrap (the page
        that made the request has one); the calls go in the response header."""
        _partial_state(request._get_current_object()).page = True  # type: ignore[attr-defined]
        return Markup(f"<!-- TikTok Pixel: this response's calls are in its {HEADER} header -->")

    def script_tag(self, nonce: str | None) -> Markup:
        """The client script's loader, put after the pixel's inline script on every full page:
        an inline script whose ``data-src`` is the client script's URL."""
        src = url_for("pixel_embed_partial.script", v=_SCRIPT_VERSION)
        settings = self._settings
        attributes = [f'data-src="{escape(src)}"']
        if nonce:
            attributes.append(f'nonce="{escape(nonce)}"')
        if settings.consent != "none":
            attributes.append(f'data-consent="{settings.consent}"')
        if len(settings.codes) > 1:
            attributes.append(f'data-pixels="{escape(to_js(list(settings.codes)))}"')
        if settings.debug:
            attributes.append('data-debug="true"')
        return Markup(f"\n<script {' '.join(attributes)}>{_LOADER}</script>")

    def deliver(self, pixel: TikTokPixel, state: _RequestState, response: Response) -> None:
        """Put the calls of a partial request in :data:`HEADER` (an ``after_request`` step).

        What does not fit in :data:`MAX_HEADER_BYTES` is deferred to the next full page, with a
        warning; a response the browser's script cannot read (a redirect, a download) is left
        alone, so the usual warning about events never rendered still applies.
        """
        current = request._get_current_object()  # type: ignore[attr-defined]
        partial: _PartialState | None = getattr(current, _STATE_KEY, None)
        placeholder = partial is not None and partial.page
        if placeholder or state.shown is not None:
            vary = response.vary
            for name in _VARY:
                vary.add(name)
            if placeholder:
                # A page without the bootstrap must never reach a shared cache, whatever it
                # does with Vary (some CDNs ignore it): one htmx request would otherwise take
                # the pixel off the page for every visitor.
                state.private = True
        kind = request_kind(current)
        if kind is None or state.rendered:
            return
        config = state.config
        if config.settings is None or pixel._is_internal(config) or not _readable(response):
            return
        if kind == "htmx" and _leaves_page(response):
            # htmx loads a whole page next: calls run on the page it leaves could be lost with
            # it, so they wait for that page, as track(..., defer=True) would have them.
            if state.events and state.app.secret_key:
                state.deferred = [*state.deferred, *state.events]
                state.events = []
            return
        if not (state.events or state.deferred or placeholder):
            return  # nothing of its own: the session (and what it keeps) is left alone
        # Events deferred by earlier requests wait for a response the client script reads by
        # itself: htmx's, but not any fetch() (a widget's polling could take them).
        identity, older = pixel._pop_deferred(state.app) if kind == "htmx" else (NO_IDENTITY, [])
        events = [*older, *state.deferred, *state.events]
        identity = identity.merged(state.identity)
        if not events and not (placeholder and identity) and not state.forget_browser:
            return
        calls = forget_first(state, partial_calls(config.settings, identity, events))
        value, left = encode_to_fit(calls, MAX_HEADER_BYTES)
        left = min(left, len(events))  # the identity comes first, and always fits
        state.events = []
        state.deferred = events[len(events) - left :] if left else []
        if left:
            log.warning(
                "TikTok pixel: %d event(s) did not fit in the %s header (%d bytes at most) of "
                "%s; they fire on the next full page",
                left,
                HEADER,
                MAX_HEADER_BYTES,
                safe_repr(current.path, 200),
            )
            if not state.app.secret_key:
                log.warning(
                    "TikTok pixel: no SECRET_KEY to keep them in the session: %d dropped", left
                )
                state.deferred = []
        state.rendered = True
        if left < len(calls):
            response.headers[HEADER] = value
            state.private = True


def render_fragment(pixel: TikTokPixel) -> Markup:
    """This request's pending calls (identify and track, with deferred events; no bootstrap, no
    ``page``) as a JSON data block that the client script runs once when it is inserted.

    For HTML that a Turbo Frame or Stream, an htmx swap or the site's own script puts into a
    page that has the pixel. Calls rendered here are not sent again in the response header.
    """
    state = pixel._state("tiktok_pixel_calls")
    config = state.config
    if config.settings is None:
        return render_disabled("TIKTOK_PIXEL_ENABLED is False")
    if config.partial is None:
        return render_disabled("tiktok_pixel_calls() needs TIKTOK_PIXEL_PARTIAL = True")
    if state.rendered:
        return Markup("")
    if pixel._is_internal(config):
        return render_disabled("request from an internal address (TIKTOK_PIXEL_INTERNAL_IPS)")
    identity, older = pixel._pop_deferred(state.app)
    events = [*older, *state.deferred, *state.events]
    identity = identity.merged(state.identity)
    state.events = []
    state.deferred = []
    if not events and not identity and not state.forget_browser:
        return Markup("")
    state.private = True
    nonce = pixel._current_nonce(state.config)
    nonce_attribute = f' nonce="{escape(nonce)}"' if nonce else ""
    calls = forget_first(state, partial_calls(config.settings, identity, events))
    return Markup(
        f'<script type="application/json" data-pixel-embed-calls{nonce_attribute}>'
        f"{encode_calls(calls)}</script>"
    )


def _readable(response: Response) -> bool:
    """Whether the page's script can read this response's headers: not a redirect (the browser
    follows it and shows only the last response), not a file download."""
    if 300 <= response.status_code < 400 or response.direct_passthrough:
        return False
    disposition = response.headers.get("Content-Disposition", "")
    return not disposition.lower().startswith("attachment")


def _leaves_page(response: Response) -> bool:
    """Whether htmx answers ``response`` by loading a whole page (``HX-Redirect``, or
    ``HX-Refresh: true``) rather than by changing this one."""
    headers = response.headers
    return "HX-Redirect" in headers or headers.get("HX-Refresh") == "true"


def _serve_script() -> Response:
    response = Response(_SCRIPT, mimetype="text/javascript")
    # The tag's URL carries the file's hash: a new version is a new URL.
    if request.args.get("v") == _SCRIPT_VERSION:
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    else:
        response.headers["Cache-Control"] = "no-cache"
    response.set_etag(_SCRIPT_VERSION)
    response.make_conditional(request)
    return response
