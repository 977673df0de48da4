"""The end of a request, framework-free: what :meth:`PixelCore.finish
<pixel_embed.core.view.PixelCore.finish>` does, and the warnings that watch over a page.

The warnings are shown once per endpoint (and place): an app has a bounded set of routes, and
the sets that remember them are bounded all the same.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..csp import CspBlocksPixel, describe_problems, policy_problems
from ..errors import safe_repr
from ..partial import deliver_partial
from .policy import NO_POLICY, ResponsePolicy, is_history_restore, is_prefetch, request_kind

if TYPE_CHECKING:
    from .request import ResponseFacts
    from .state import RequestState
    from .view import PixelCore

log = logging.getLogger("pixel_embed")

# How the warning about events that never reached the page names a request_kind().
_KIND_NAMES = {
    "htmx": "an htmx request (HX-Request)",
    "fetch": "a fetch() or XMLHttpRequest request (Sec-Fetch-Dest: empty, or X-Requested-With)",
}
# The most endpoints (and places) each warning remembers.
_WARNED_MAX = 1000


def first_warning(seen: set[str], key: str) -> bool:
    """Whether the warning for ``key`` was not shown yet; remembers it."""
    if key in seen:
        return False
    if len(seen) < _WARNED_MAX:
        seen.add(key)
    return True


def finish_request(
    pixel: PixelCore, state: RequestState, response: ResponseFacts
) -> ResponsePolicy:
    """``pixel.finish(state, response)``: the end of the request (an after-request step): the
    partial-page calls, the CSP check, the server events, the deferred events saved; returns
    what the response needs (:data:`~.policy.NO_POLICY` when nothing).

    :raises ~pixel_embed.csp.CspBlocksPixel: in strict mode, the response's policy blocks
        TikTok.
    """
    state.responded = True
    vary: tuple[str, ...] = ()
    headers: dict[str, str] = {}
    request = state.request
    setup = state.setup
    if is_history_restore(request):
        # htmx redraws a page the visitor saw (its history cache had no copy): that page's
        # events fired then; its deferred events wait for a real page.
        state.events = []
        state.server_events = []
        state.rendered = True
        state.private = True
    if setup.partial is not None:
        vary = deliver_partial(pixel, state, response, headers)
    if state.shown:  # the pixel is on the page: can it reach TikTok?
        _check_csp(pixel, state, response)
    server_events = setup.server_events
    if (
        server_events is not None
        and state.server_events
        and not pixel.is_internal(state)
        # A prefetched page may never be seen: its browser events fire only if the visitor
        # follows the link, so a server copy could count a view that never happened.
        and not is_prefetch(request)
    ):
        consent = pixel.consent_of(state.config, request.cookies)
        server_events.send(state.server_events, state.identity, consent, request)
    # The cheap tests first: an Identity's truth looks at each of its fields.
    carry_identity = state.defer_identity is True and bool(state.identity)
    if state.deferred or carry_identity:
        store = pixel.store(state)
        if store is not None:
            # This request's identity goes with its deferred events unless it is for this
            # request only (defer=False).
            carried = state.defer_identity is not False and bool(state.identity)
            store.save(state.identity, carried, state.deferred)
    elif not state.rendered and state.defer_identity is None and state.identity:
        _identity_lost(pixel, state, response)
    if state.events and not state.rendered:
        _never_rendered(pixel, state, len(state.events))
    private = state.private or state.once_sent
    if not (private or vary or headers):
        return NO_POLICY
    # Back and forward would show the stored copy of a page with a once event and run its
    # calls again: the server, which knows the key was sent, must answer (no_store).
    return ResponsePolicy(private, state.once_sent, vary, headers)


def _check_csp(pixel: PixelCore, state: RequestState, response: ResponseFacts) -> None:
    """Warn, once per endpoint, when the page's Content Security Policy (enforced or
    report-only) blocks TikTok; raise :class:`~pixel_embed.csp.CspBlocksPixel` in strict
    mode. Each distinct policy is parsed once (nonces aside). The nonce judged is the one the
    pixel's script carries (the nonce function is not asked again: one that makes a new nonce
    per call would be judged by another)."""
    problems = policy_problems(response.header_items(), state.nonce or None)
    if not problems:
        return
    request = state.request
    endpoint = request.endpoint or "(no endpoint)"
    where = f"{safe_repr(request.path, 200)} (endpoint {safe_repr(endpoint, 100)})"
    message = describe_problems(problems, where)
    fix = "pixel.csp_sources() lists TikTok's sources; pixel_embed.merge_csp(policy) adds them"
    if state.config.strict:
        raise CspBlocksPixel(f"{message}\n{fix}")
    if first_warning(pixel.csp_warned, endpoint):
        log.warning("TikTok pixel: %s\n%s (this warning is shown once per endpoint)", message, fix)


def _never_rendered(pixel: PixelCore, state: RequestState, count: int) -> None:
    request = state.request
    kind = request_kind(request)
    if kind is not None and state.setup.partial is None:
        log.warning(
            "TikTok pixel: %d event(s) queued on %s were never rendered: this was %s, "
            "whose response does not reload the page; set TIKTOK_PIXEL_PARTIAL = True to "
            "send its events with it, or track(..., defer=True) to fire them on the next "
            "full page",
            count,
            safe_repr(request.path, 200),
            _KIND_NAMES[kind],
        )
        return
    log.warning(
        "TikTok pixel: %d event(s) queued on %s were never rendered: put %s in the page's "
        "template, or track(..., defer=True) before a redirect",
        count,
        safe_repr(request.path, 200),
        pixel.template_hint,
    )


def _identity_lost(pixel: PixelCore, state: RequestState, response: ResponseFacts) -> None:
    """Warn, once per endpoint, that an identity was set on a redirect or on a page without
    the pixel: it reaches no page unless ``identify(..., defer=True)``."""
    redirect = 300 <= response.status < 400
    if not redirect and (response.mimetype != "text/html" or response.streamed):
        # Data (JSON, files): the next page identifies the visitor itself. A streamed page
        # renders later: tiktok_pixel() raises StreamingError then.
        return
    request = state.request
    endpoint = request.endpoint or "(no endpoint)"
    if not first_warning(pixel.warned, endpoint):
        return
    log.warning(
        "TikTok pixel: the identity set on %s (endpoint %s) reaches no page: %s. Where it "
        "is set on every request, pass defer=False; where this request ends the visitor's "
        "session (a logout), %s; only where the visitor is identified for the next page (a "
        "login that redirects) call identify(..., defer=True) (this warning is shown once "
        "per endpoint)",
        safe_repr(request.path, 200),
        safe_repr(endpoint, 100),
        "the response is a redirect" if redirect else f"the page has no {pixel.template_hint}",
        pixel.logout_hint,
    )
