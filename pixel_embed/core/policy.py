"""What a response must carry, decided from the request and the page: returned as data.

The core never touches a response. Its after-request step
(:meth:`~pixel_embed.core.view.PixelCore.finish`) returns a :class:`ResponsePolicy`; the
integration applies it to its framework's response. This module also holds the request
tests the policy rests on (a prefetch, htmx's history restore, a partial request).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol


class _HasHeaders(Protocol):
    @property
    def headers(self) -> Mapping[str, str]: ...


#: Request headers by which browsers and Turbo mark a prefetch: Chromium's speculation rules
#: and ``<link rel=prefetch>`` (``Sec-Purpose: prefetch``, ``prefetch;prerender``), Turbo 8's
#: hover prefetch (``X-Sec-Purpose``), older browsers (``Purpose``, ``X-Moz``).
PREFETCH_HEADERS = ("Sec-Purpose", "X-Sec-Purpose", "Purpose", "X-Moz")
#: The request header by which htmx (1.x and 2.x) asks for a page again to restore it from
#: history when its history cache has no copy (back, forward, a reload of a pushed URL).
#: Turbo sends no such header: see docs/partial-pages.md.
RESTORE_HEADER = "HX-History-Restore-Request"
#: Headers that tell a CDN how to cache regardless of ``Cache-Control`` (RFC 9213; Fastly's,
#: Akamai's and Varnish's ``Surrogate-Control``; Cloudflare's own): on a personal page, each
#: one present is replaced by ``no-store``.
CDN_CACHE_HEADERS = ("CDN-Cache-Control", "Cloudflare-CDN-Cache-Control", "Surrogate-Control")
#: The request headers that decide what ``tiktok_pixel()`` renders with partial pages on:
#: :func:`request_kind`'s (the bootstrap or a placeholder) and htmx's history restore (no
#: events). Every variant of such a page names them in ``Vary``, the full page included: a
#: cache that stored the full page under a key without them would serve it for an htmx
#: request, and the other way round.
PARTIAL_VARY = (
    "HX-Request",
    "HX-History-Restore-Request",
    "Sec-Fetch-Dest",
    "Sec-Fetch-Mode",
    "X-Requested-With",
)

#: How a request can take calls: ``htmx`` (the client script reads every response), ``fetch``
#: (a browser ``fetch()``/XHR, Turbo's included: the site's script reads the header).
RequestKind = Literal["htmx", "fetch"]


def is_prefetch(request: _HasHeaders) -> bool:
    """Whether ``request`` is a prefetch, which the visitor may never see."""
    headers = request.headers
    return any("prefetch" in (headers.get(name) or "") for name in PREFETCH_HEADERS)


def is_history_restore(request: _HasHeaders) -> bool:
    """Whether ``request`` is htmx's history restore: a page the visitor saw, drawn again."""
    return request.headers.get(RESTORE_HEADER) == "true"


class _HasMethod(_HasHeaders, Protocol):
    @property
    def method(self) -> str: ...


def is_unseen(request: _HasMethod) -> bool:
    """Whether the visitor may never see what ``request``'s page fires: a prefetch, htmx's
    history restore (a page already seen, drawn again) or a ``HEAD`` request (no body for a
    browser to run). Deferred events and the carried identity stay in the session for the
    next page; a ``once`` key is not spent."""
    return request.method == "HEAD" or is_prefetch(request) or is_history_restore(request)


def request_kind(request: _HasHeaders) -> RequestKind | None:
    """Whether ``request`` comes from htmx or a browser's ``fetch()``/XHR, or neither (a page
    load, a form post, a client that is not a browser)."""
    headers = request.headers
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


@dataclass(frozen=True, slots=True)
class ResponsePolicy:
    """What the integration does to the response.

    :param private: keep it out of shared caches (one visitor's hashes and purchases must
        never be served to another): ``Cache-Control`` loses ``public`` and ``s-maxage`` and
        gains ``private`` (``private`` alone when it had none); each of
        :data:`CDN_CACHE_HEADERS` present becomes ``no-store``.
    :param no_store: then set ``Cache-Control: no-store`` (a ``once`` event was sent: back and
        forward must ask the server again).
    :param vary: names to add to ``Vary`` (those already there stay).
    :param headers: headers to set (the partial-page calls).
    """

    private: bool = False
    no_store: bool = False
    vary: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)

    def header_changes(self, current: Mapping[str, str]) -> dict[str, str]:
        """The headers to set on a response whose headers are ``current`` (``get`` in any
        case), for integrations that apply the policy header by header (Django's and
        Starlette's responses; Flask uses Werkzeug's own parsers)."""
        changes = dict(self.headers)
        if self.vary:
            vary = current.get("Vary") or ""
            names = [name.strip() for name in vary.split(",") if name.strip()]
            if "*" not in names:
                known = {name.lower() for name in names}
                names += [name for name in self.vary if name.lower() not in known]
                changes["Vary"] = ", ".join(names)
        if self.private:
            changes["Cache-Control"] = private_cache_control(current.get("Cache-Control"))
            for name in CDN_CACHE_HEADERS:
                if current.get(name) is not None:
                    changes[name] = "no-store"
        if self.no_store:
            changes["Cache-Control"] = "no-store"
        return changes


#: The policy of a response that needs nothing (most pages without a visitor's data): ``finish``
#: returns this one object, so ``policy is NO_POLICY`` tells the integration it has nothing to do.
NO_POLICY = ResponsePolicy()


def private_cache_control(value: str | None) -> str:
    """The ``Cache-Control`` value of a private response, from the one the view set (``None``:
    none): its other directives kept, ``public`` and ``s-maxage`` dropped, ``private`` added.
    For integrations whose framework has no parser of its own (Flask uses Werkzeug's)."""
    if not value:
        return "private"
    kept = []
    for directive in value.split(","):
        name = directive.split("=", 1)[0].strip().lower()
        if name and name not in ("public", "private", "s-maxage"):
            kept.append(directive.strip())
    return ", ".join([*kept, "private"])
