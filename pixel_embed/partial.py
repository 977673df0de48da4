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
from typing import TYPE_CHECKING

from markupsafe import Markup, escape

from .core.policy import PARTIAL_VARY, request_kind
from .core.policy import RequestKind as RequestKind
from .errors import safe_repr
from .events import Event
from .matching import NO_IDENTITY, Identity
from .render import PixelCall, PixelSettings, page_calls, render_disabled, to_js
from .resources import STATIC_DIR

if TYPE_CHECKING:
    from .core.request import RequestFacts, ResponseFacts
    from .core.state import RequestState
    from .core.view import PixelCore

log = logging.getLogger("pixel_embed")

#: The response header carrying a partial response's calls: a JSON array of
#: ``[method, [arguments…]]``, ASCII only (non-ASCII as ``\\u`` escapes, since header values are
#: Latin-1) and HTML-safe.
HEADER = "PixelEmbed-Calls"
#: The most :data:`HEADER` may hold, in bytes. nginx keeps all of a proxied response's headers
#: in one 4 KB buffer by default (``proxy_buffer_size``) and fails the response beyond it, so
#: the calls take at most half of it; events beyond it wait for the next full page.
MAX_HEADER_BYTES = 2048
#: The client script, served by each integration at ``/_pixel_embed/<SCRIPT_NAME>``.
SCRIPT_NAME = "pixel_embed_partial.js"
#: The client script's text.
SCRIPT = (STATIC_DIR / SCRIPT_NAME).read_bytes()
#: The client script's version, its URL's ``v`` argument: served with ``v`` equal to it, the
#: script may be cached for a year (``immutable``); otherwise ``no-cache``
#: (:func:`script_cache_control`). Its ETag too.
SCRIPT_VERSION = hashlib.sha256(SCRIPT).hexdigest()[:12]
#: The inline loader that requests the client script: its file less the opening comment and
#: the indentation (it has no multi-line string).
LOADER_NAME = "pixel_embed_partial_loader.js"
_LOADER = "\n".join(
    line.strip()
    for line in (STATIC_DIR / LOADER_NAME).read_text().split("*/\n", 1)[1].strip().splitlines()
)


def partial_calls(
    settings: PixelSettings, identity: Identity, events: Sequence[Event]
) -> list[PixelCall]:
    """The calls a partial response makes: identify, then each track; never ``page`` (TikTok's
    SDK sends a Pageview by itself when a page changes the URL through the History API)."""
    return [call for call in page_calls(settings, identity, events) if call.method != "page"]


#: The call that has the client script empty TikTok's SDK of the identity it holds, after
#: :meth:`TikTokPixel.forget <pixel_embed.TikTokPixel.forget>`, on a page that did not reload.
FORGET_CALL = PixelCall("forget")


def forget_first(state: RequestState, calls: list[PixelCall]) -> list[PixelCall]:
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


def script_cache_control(version: str | None) -> str:
    """The ``Cache-Control`` of the client script asked for with ``?v=version``: a year,
    ``immutable``, for this version's URL (a new version is a new URL); else ``no-cache``."""
    if version == SCRIPT_VERSION:
        return "public, max-age=31536000, immutable"
    return "no-cache"


class PartialPages:
    """The support for partial responses, made at start-up when ``TIKTOK_PIXEL_PARTIAL`` is
    on. The integration serves :data:`SCRIPT` (see :data:`SCRIPT_VERSION`)."""

    def __init__(self, settings: PixelSettings) -> None:
        self._settings = settings

    @staticmethod
    def wants(request: RequestFacts) -> bool:
        """Whether this request's calls travel in the response rather than in a page script."""
        return request_kind(request) is not None

    @staticmethod
    def placeholder() -> Markup:
        """What ``tiktok_pixel()`` renders for a partial request: no second bootstrap (the page
        that made the request has one); the calls go in the response header."""
        return Markup(f"<!-- TikTok Pixel: this response's calls are in its {HEADER} header -->")

    def script_tag(self, nonce: str | None, src: str) -> Markup:
        """The client script's loader, put after the pixel's inline script on every full page:
        an inline script whose ``data-src`` is the client script's URL, ``src``."""
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


def deliver_partial(
    pixel: PixelCore, state: RequestState, response: ResponseFacts, headers: dict[str, str]
) -> tuple[str, ...]:
    """Put the calls of a partial request in :data:`HEADER` (a step of the end of the
    request: the header goes into ``headers``, the names to add to ``Vary`` are returned).

    What does not fit in :data:`MAX_HEADER_BYTES` is deferred to the next full page, with a
    warning; a response the browser's script cannot read (a redirect, a download) is left
    alone, so the usual warning about events never rendered still applies.
    """
    placeholder = state.partial_page
    vary: tuple[str, ...] = ()
    if placeholder or state.shown is not None:
        vary = PARTIAL_VARY
        if placeholder:
            # A page without the bootstrap must never reach a shared cache, whatever it does
            # with Vary (some CDNs ignore it): one htmx request would otherwise take the pixel
            # off the page for every visitor.
            state.private = True
    request = state.request
    kind = request_kind(request)
    if kind is None or state.rendered:
        return vary
    settings = state.config.pixel
    if settings is None or pixel.is_internal(state) or not _readable(response):
        return vary
    # The session is asked for only where it is written: touching it adds Vary: Cookie.
    if kind == "htmx" and _leaves_page(response):
        # htmx loads a whole page next: calls run on the page it leaves could be lost with it,
        # so they wait for that page, as track(..., defer=True) would have them.
        if state.events and pixel.session(state, write=True) is not None:
            state.deferred = [*state.deferred, *state.events]
            state.events = []
        return vary
    if not (state.events or state.deferred or placeholder):
        return vary  # nothing of its own: the session (and what it keeps) is left alone
    # Events deferred by earlier requests wait for a response the client script reads by
    # itself: htmx's, but not any fetch() (a widget's polling could take them).
    identity, older = pixel.pop_deferred(state) if kind == "htmx" else (NO_IDENTITY, [])
    events = [*older, *state.deferred, *state.events]
    identity = identity.merged(state.identity)
    if not events and not (placeholder and identity) and not state.forget_browser:
        return vary
    calls = forget_first(state, partial_calls(settings, identity, events))
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
            safe_repr(request.path, 200),
        )
        if pixel.session(state, write=True) is None:
            log.warning("TikTok pixel: no SECRET_KEY to keep them in the session: %d dropped", left)
            state.deferred = []
    state.rendered = True
    if left < len(calls):
        headers[HEADER] = value
        state.private = True
    return vary


def render_fragment(pixel: PixelCore, state: RequestState) -> Markup:
    """This request's pending calls (identify and track, with deferred events; no bootstrap, no
    ``page``) as a JSON data block that the client script runs once when it is inserted.

    For HTML that a Turbo Frame or Stream, an htmx swap or the site's own script puts into a
    page that has the pixel. Calls rendered here are not sent again in the response header.
    """
    config = state.config
    if config.pixel is None:
        return render_disabled("TIKTOK_PIXEL_ENABLED is False")
    if state.setup.partial is None:
        return render_disabled("tiktok_pixel_calls() needs TIKTOK_PIXEL_PARTIAL = True")
    if state.rendered:
        return Markup("")
    if pixel.is_internal(state):
        return render_disabled("request from an internal address (TIKTOK_PIXEL_INTERNAL_IPS)")
    identity, older = pixel.pop_deferred(state)
    events = [*older, *state.deferred, *state.events]
    identity = identity.merged(state.identity)
    state.events = []
    state.deferred = []
    if not events and not identity and not state.forget_browser:
        return Markup("")
    state.private = True
    nonce = pixel.current_nonce(state)
    nonce_attribute = f' nonce="{escape(nonce)}"' if nonce else ""
    calls = forget_first(state, partial_calls(config.pixel, identity, events))
    return Markup(
        f'<script type="application/json" data-pixel-embed-calls{nonce_attribute}>'
        f"{encode_calls(calls)}</script>"
    )


def _readable(response: ResponseFacts) -> bool:
    """Whether the page's script can read this response's headers: not a redirect (the browser
    follows it and shows only the last response), not a file download."""
    if 300 <= response.status < 400 or response.passthrough:
        return False
    disposition = response.headers.get("Content-Disposition") or ""
    return not disposition.lower().startswith("attachment")


def _leaves_page(response: ResponseFacts) -> bool:
    """Whether htmx answers ``response`` by loading a whole page (``HX-Redirect``, or
    ``HX-Refresh: true``) rather than by changing this one."""
    headers = response.headers
    return headers.get("HX-Redirect") is not None or headers.get("HX-Refresh") == "true"
