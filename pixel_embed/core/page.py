"""What ``tiktok_pixel()`` puts on a page: the pixel, a placeholder, or why there is none."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from markupsafe import Markup

from ..errors import PersonalDataInUrl, StreamingError, safe_repr
from ..matching import NO_IDENTITY
from ..render import page_calls, render_calls, render_disabled
from ..screening import may_hold_phone, personal_data_in_url
from .finish import first_warning
from .policy import RESTORE_HEADER, is_history_restore

if TYPE_CHECKING:
    from .state import RequestState
    from .view import PixelCore

log = logging.getLogger("pixel_embed")


def render_page(pixel: PixelCore) -> Markup:
    """``pixel.render()``: the pixel's HTML for this page, the ``tiktok_pixel()`` template
    global.

    A streamed page (``stream_template``) must call it in the view, before streaming, and
    pass the HTML to the template: once the response has started, the page can no longer
    be marked private nor its deferred events taken out of the session.

    :raises StreamingError: the response's headers are already sent.
    """
    state = pixel.request_state("render")
    if state.rendered:
        return render_disabled("already rendered on this page")
    if state.responded:
        raise StreamingError(
            "tiktok_pixel() was called while a streamed response was being sent: its "
            "headers and session cookie are gone, so the page could be cached with the "
            "visitor's data and deferred events would fire again. Call pixel.render() in "
            "the view before stream_template(...) and pass the HTML to the template."
        )
    config = state.config
    request = state.request
    if is_history_restore(request):
        state.rendered = True
        return render_disabled(f"a history restore ({RESTORE_HEADER}) is not a visit")
    partial = state.setup.partial
    if partial is not None and partial.wants(request):
        state.partial_page = True
        return partial.placeholder()
    state.rendered = True
    state.shown = []
    settings = config.pixel
    if settings is not None and refuse_url(pixel, state):
        # Deferred events wait for a page whose address TikTok may see.
        return render_disabled(
            "the URL of this page holds what looks like personal data (TIKTOK_PIXEL_STRICT)"
        )
    # Deferred events are used up by the next page, whether it shows the pixel or not.
    identity, deferred = pixel.pop_deferred(state)
    if settings is None:
        return render_disabled("TIKTOK_PIXEL_ENABLED is False")
    if config.internal_networks and pixel.is_internal(state):
        return render_disabled("request from an internal address (TIKTOK_PIXEL_INTERNAL_IPS)")
    # Nothing deferred (the usual page): this request's identity as it is, tested once.
    identity = state.identity if identity is NO_IDENTITY else identity.merged(state.identity)
    identified = bool(identity)  # an Identity's truth looks at each field: once
    # Each event carries an event_id made for this render: a page with events must not be
    # stored by a shared cache (Django's cache middleware, a CDN), or every visitor it is
    # served to sends the first visitor's ids, which TikTok deduplicates into one.
    state.private = identified or bool(deferred) or bool(state.events)
    state.shown = page_calls(settings, identity if identified else None, [*deferred, *state.events])
    nonce = state.nonce = pixel.current_nonce(state)
    html = render_calls(
        settings,
        state.shown,
        nonce=nonce,
        # Only the consent modes' script reads the choice: no cookie parsing otherwise.
        consent_state=None
        if settings.consent == "none"
        else pixel.consent_of(config, request.cookies),
    )
    if partial is not None:
        html += partial.script_tag(nonce, pixel.partial_script_url(state))
    return html


def refuse_url(pixel: PixelCore, state: RequestState) -> bool:
    """Whether the page's URL holds personal data and strict mode leaves the pixel out:
    TikTok's SDK sends the URL with every event as ``context.page.url``, and as the next
    page's referrer. Lenient mode warns and renders; strict mode logs an error and refuses.
    Neither raises: a visitor chooses the URL, and could turn any page into an HTTP 500."""
    request = state.request
    path = request.raw_path
    query = request.raw_query
    # The usual page: no query, a path without "@", "%" or 7 digits (no pattern runs).
    if not query and "@" not in path and "%" not in path and not may_hold_phone(path):
        return False
    found = personal_data_in_url(path, query)
    if not found:
        return False
    place, kind = found[0]
    what = "an e-mail address" if kind == "email" else "a phone number"
    error = PersonalDataInUrl(
        place,
        request.url,
        f"of the page's URL holds what looks like {what}, which TikTok's SDK sends with "
        "every event (context.page.url) and the next page as its referrer: send the form "
        'with POST, or keep it out of the address (hx-push-url="false")',
    )
    strict = state.config.strict
    if first_warning(pixel.warned, f"url {request.endpoint} {place}"):
        log.log(
            logging.ERROR if strict else logging.WARNING,
            "TikTok pixel: %s%s (endpoint %s; shown once per endpoint and place)",
            error.redacted(),
            "; the pixel is left out of such pages (TIKTOK_PIXEL_STRICT)" if strict else "",
            safe_repr(request.endpoint or "(no endpoint)", 100),
        )
    return strict
