"""The view API (``track``, ``identify``, ``forget``, ``render``...), for every integration.

:class:`PixelCore` holds what a view calls and what the end of a request decides. An
integration subclasses it and implements its public hooks: where this request's
:class:`~.state.RequestState` lives (:meth:`PixelCore.request_state`), the visitor's session
(:meth:`PixelCore.session`), where the partial-pages script is served
(:meth:`PixelCore.partial_script_url`) and, if its framework has one, the page's CSP nonce
(:meth:`PixelCore.current_nonce`). It applies the :class:`~.policy.ResponsePolicy` that
:meth:`PixelCore.finish` returns.
"""

from __future__ import annotations

import copy
import ipaddress
import logging
import time
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, cast

from markupsafe import Markup

from ..csp import tiktok_sources
from ..errors import ConfigurationError, InvalidEvent
from ..events import Event, validate_event
from ..events_api.clickid import ArgsAndCookies, ttclid_to_remember
from ..events_api.delivery import Sender
from ..events_api.hooks import ServerEvents, consent_allows
from ..matching import NO_IDENTITY, Identity
from ..partial import render_fragment
from ..render import (
    CONSENT_COOKIE,
    ConsentState,
    PixelCall,
    page_calls,
)
from ..segment.adapter import SegmentAdapter
from .config import PixelConfig
from .deferred import SESSION_KEY, DeferredStore, once_digest
from .finish import finish_request
from .page import render_page
from .policy import is_unseen
from .request import RequestFacts
from .state import AppSetup, RequestState

log = logging.getLogger("pixel_embed")


class PixelCore:
    """The TikTok Pixel's view API, framework-free: see the module's docstring.

    :param nonce: returns the request's CSP nonce (see :meth:`current_nonce`).
    :param sender: delivers server-side Events API events.
    """

    #: How the site gets a session, the end of the error raised where one is needed
    #: (``defer``, ``once``). Each integration says it in its framework's words.
    session_hint = "configure the site's sessions to use it"
    #: The pixel as a page's template writes it, for warnings ("put … in the template").
    template_hint = "{{ tiktok_pixel() }}"
    #: What a logout does about the visitor's identity, in the framework's words.
    logout_hint = "call pixel.forget() (Flask-Login's logout_user() does)"

    def __init__(
        self,
        *,
        nonce: Callable[[], str | None] | None = None,
        sender: Sender | None = None,
    ) -> None:
        self._nonce = nonce
        self._sender = sender
        # Warnings shown once per endpoint (and place): bounded, as an app's routes are.
        self.warned: set[str] = set()
        self.csp_warned: set[str] = set()
        #: Segment-spec ``track`` / ``identify`` / ``page`` (see :mod:`pixel_embed.segment`).
        self.segment = SegmentAdapter(self)

    # -- the hooks an integration implements ---------------------------------------------------

    def request_state(self, caller: str) -> RequestState:
        """This request's state, made with :meth:`new_state` on first use and kept where the
        framework keeps per-request data.

        :param caller: the method that asks, for the error outside a request.
        :raises RuntimeError: outside a request (:meth:`no_request`), or the site did not
            register this pixel.
        """
        raise NotImplementedError

    def session(self, state: RequestState, *, write: bool) -> MutableMapping[str, Any] | None:
        """The visitor's session, a mutable mapping of JSON values.

        :param write: ``True``: ``None`` only when the site has no session at all (``defer``
            and ``once`` then raise, ending with :attr:`session_hint`). ``False``, for the
            take-out on each page: also ``None`` when the browser sent no session, so that a
            first visit's page is not made to depend on the cookie (``Vary: Cookie``).
        """
        raise NotImplementedError

    def partial_script_url(self, state: RequestState) -> str:
        """The URL of the partial-pages client script
        (:data:`pixel_embed.partial.SCRIPT_NAME`), with ``v=`` its version."""
        raise NotImplementedError

    def current_nonce(self, state: RequestState) -> str | None:
        """The page's CSP nonce for the pixel's script: the ``nonce`` function given, if any.
        An integration adds its framework's usual source (Flask-Talisman's ``csp_nonce``)."""
        return self._nonce() if self._nonce is not None else None

    # -- for integrations ------------------------------------------------------------------------

    def setup(self, config: PixelConfig, *, instance_path: str, start_waiting: bool) -> AppSetup:
        """One site's :class:`~.state.AppSetup`, with this pixel's sender."""
        return AppSetup.build(
            config, sender=self._sender, instance_path=instance_path, start_waiting=start_waiting
        )

    def new_state(self, setup: AppSetup, request: RequestFacts, native: Any = None) -> RequestState:
        """A new request's state (the integration keeps it for the rest of the request)."""
        return RequestState(self, setup, setup.config, request, native)

    @staticmethod
    def no_request(caller: str) -> RuntimeError:
        """The error of a view API method called outside a request."""
        return RuntimeError(
            f"pixel.{caller}() needs a request: call it from a view (or a before_request "
            "function), not at import time or in a background job."
        )

    #: ``finish(state, response) -> ResponsePolicy``: the end of the request (an after-request
    #: step), see :func:`~pixel_embed.core.finish.finish_request`.
    finish = finish_request

    def is_internal(self, state: RequestState) -> bool:
        """Whether the request comes from ``TIKTOK_PIXEL_INTERNAL_IPS``."""
        networks = state.config.internal_networks
        if not networks:
            return False
        try:
            address = ipaddress.ip_address(state.request.remote_addr or "")
        except ValueError:
            return False
        return any(address in network for network in networks)

    def pop_deferred(self, state: RequestState) -> tuple[Identity, list[Event]]:
        """Take out of the session what earlier requests left for this page (nothing on a
        request :func:`~pixel_embed.core.policy.is_unseen` names)."""
        saved = self.session(state, write=False)
        if saved is None or SESSION_KEY not in saved:
            return NO_IDENTITY, []
        if is_unseen(state.request):
            return NO_IDENTITY, []
        identity, events, forget = DeferredStore(saved, state.config.identity_max_age).pop()
        if forget:
            state.forget_browser = True
        return identity, events

    def store(self, state: RequestState) -> DeferredStore | None:
        """The deferred store in this visitor's session; ``None`` when the site has none."""
        saved = self.session(state, write=True)
        return None if saved is None else DeferredStore(saved, state.config.identity_max_age)

    def needs_session(self, state: RequestState, what: str) -> DeferredStore:
        """:meth:`store`, or the error that says ``what`` needs a session."""
        store = self.store(state)
        if store is None:
            raise ConfigurationError(f"{what}: {self.session_hint}")
        return store

    @staticmethod
    def consent_of(config: PixelConfig, cookies: Mapping[str, str]) -> ConsentState | None:
        """The consent choice the request's cookies record."""
        name = config.pixel.consent_cookie if config.pixel else CONSENT_COOKIE
        value = cookies.get(name)
        return cast(ConsentState, value) if value in ("granted", "denied") else None

    def click_id_to_keep(
        self, server_events: ServerEvents, config: PixelConfig, request: ArgsAndCookies
    ) -> str | None:
        """The landing URL's click id for the ``ttclid`` cookie (see
        :func:`~pixel_embed.events_api.clickid.ttclid_to_remember`), where the consent mode
        lets the pixel fire (a click id is marketing data); else ``None``."""
        ttclid = ttclid_to_remember(request)
        if ttclid is None or not consent_allows(
            server_events.consent, self.consent_of(config, request.cookies)
        ):
            return None
        return ttclid

    # -- the public API for views ------------------------------------------------------------

    def track(
        self,
        event: str,
        params: Mapping[str, Any] | None = None,
        /,
        *,
        event_id: str | None = None,
        defer: bool = False,
        server: bool | None = None,
        once: str | int | None = None,
        **properties: Any,
    ) -> str:
        """Queue ``ttq.track(event, params, {event_id})`` on this request's page.

        Parameters are given as a mapping, as keyword arguments, or both.

        :param event_id: the deduplication id shared with the Events API; a new UUID if omitted,
            or for a purchase event with an ``order_id``, the order's
            :func:`~pixel_embed.events.order_event_id`.
        :param defer: fire on the next page rendered for this browser instead (e.g. after the
            redirect that follows a form POST), exactly once.
        :param server: also send it to the Events API, with the same event id, at the end of
            this request (``None``: as ``TIKTOK_PIXEL_SERVER_EVENTS`` says). Needs
            ``TIKTOK_PIXEL_ACCESS_TOKEN``; the consent gate applies.
        :param once: fire this event at most once per visitor for this key (an order number):
            a page rendered again (a refresh, back, a revisit from an e-mail) sends neither the
            browser call nor the server copy. The visitor's last
            :data:`~pixel_embed.core.deferred.MAX_ONCE_KEYS` keys are kept in the session
            (needs ``SECRET_KEY``), and the page that sends it is not stored by the browser
            (``no-store``), so going back asks the server again.
        :returns: the event id (also when ``once`` held the event back); an empty string when
            lenient mode dropped the event (its name is invalid).
        :raises InvalidEvent: in strict mode, for a bad event name or parameter.
        :raises ConfigurationError: ``defer`` or ``once`` without a secret key.
        """
        state = self.request_state("track")
        config = state.config
        try:
            checked = validate_event(
                event,
                given_params(params, properties),
                event_id=event_id,
                on_error=config.on_error,
            )
        except InvalidEvent as exc:
            if config.strict or exc.field != "event":
                raise
            log.warning("TikTok pixel: dropped an event: %s", exc.redacted())
            return ""
        if not defer and state.rendered:
            log.warning(
                "TikTok pixel: %s was tracked after the pixel was rendered on this page; "
                "it fires on the next page instead",
                checked.name,
            )
            defer = True
        if defer and self.session(state, write=True) is None:
            raise ConfigurationError(
                "track(..., defer=True) keeps the event in the session until the next page: "
                + self.session_hint
            )
        if once is not None and not self._first_time(state, checked, once):
            return checked.event_id
        (state.deferred if defer else state.events).append(checked)
        server_events = state.setup.server_events
        if server_events is not None and server_events.wanted(server):
            state.server_events.append((checked, time.time()))
        return checked.event_id

    def _first_time(self, state: RequestState, event: Event, once: object) -> bool:
        """Whether ``event`` with key ``once`` was never sent here; kept unless ``is_unseen``."""
        if isinstance(once, bool) or not isinstance(once, str | int) or not str(once).strip():
            state.config.on_error(
                InvalidEvent("once", once, "must be a non-empty string or an integer; ignored")
            )
            return True
        store = self.needs_session(state, "track(..., once=...) remembers the key in the session")
        digest = once_digest(event, once)
        keys = store.once_keys()
        if digest in keys:
            log.debug("TikTok pixel: %s already sent once for this key; not again", event.name)
            return False
        if not is_unseen(state.request):
            # A sibling in the shared mapping (see SESSION_KEY): the deferred store, forget()
            # and the next page's pop keep it.
            store.remember_once(keys, digest)
            state.once_sent = True
        return True

    def identify(
        self,
        *,
        email: str | None = None,
        phone_number: str | None = None,
        external_id: str | int | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        city: str | None = None,
        state: str | None = None,
        country: str | None = None,
        zip_code: str | int | None = None,
        region: str | None = None,
        defer: bool | None = None,
    ) -> None:
        """Identify this browser for advanced matching; the values are hashed here.

        Fields already set on this request are kept unless given again.

        :param region: for phone numbers without a country code; defaults to ``country``, then
            ``TIKTOK_PIXEL_DEFAULT_REGION``.
        :param defer: ``True``: also carry the identity to the next page rendered for this
            browser, in the session, as ``track(..., defer=True)`` carries events: for a login
            view that redirects. ``False``: this request's identity is for this request only
            (an identify in ``before_request`` on every request). ``None``: as ``False``, with
            a warning (once per endpoint) when a redirect or a page without the pixel loses it.
        :raises InvalidIdentity: in strict mode, for a field that cannot be normalised.
        """
        request_state = self.request_state("identify")
        config = request_state.config
        identity = Identity.from_raw(
            email=email,
            phone_number=phone_number,
            external_id=external_id,
            first_name=first_name,
            last_name=last_name,
            city=city,
            state=state,
            country=country,
            zip_code=zip_code,
            region=region or config.region,
            on_error=config.on_error,
        )
        current = request_state.identity
        # The first identify() of a request: its identity as it is (extended() would test both).
        request_state.identity = identity if current is NO_IDENTITY else current.extended(identity)
        if defer:
            if self.session(request_state, write=True) is None:
                raise ConfigurationError(
                    "identify(..., defer=True) keeps the identity in the session until the next "
                    "page: " + self.session_hint
                )
            request_state.defer_identity = True
        elif defer is False and request_state.defer_identity is None:
            request_state.defer_identity = False

    def forget(self) -> None:
        """Forget the visitor: for a logout, or a browser handed to someone else.

        Everything the library keeps for this browser goes: the identity carried in the
        session and this request's, the deferred events in the session and those queued by
        this request so far (for the page and the Events API). The next page that does not
        reload (htmx, ``hx-boost``) tells TikTok's SDK to drop the identity it holds; a page
        that loads anew starts with none. Calls made after this one are kept: a view may log
        the next person in.

        With Flask-Login installed, this runs by itself when ``logout_user()`` is called.
        """
        state = self.request_state("forget")
        state.identity = NO_IDENTITY
        state.defer_identity = None
        state.events = []
        state.deferred = []
        state.server_events = []
        state.forgotten = True
        self.forget_carried(state)

    def forget_carried(self, state: RequestState) -> None:
        """Drop what earlier requests left in the session for the next page (identity,
        deferred events), and have the next partial page empty TikTok's SDK."""
        store = self.store(state)
        if store is not None:  # no session: nothing was carried
            store.forget()

    @property
    def consent(self) -> ConsentState | None:
        """The visitor's recorded consent choice (``"granted"``, ``"denied"``), or ``None``."""
        state = self.request_state("consent")
        return self.consent_of(state.config, state.request.cookies)

    def matching_context(self) -> dict[str, Any]:
        """This visitor's keys, for an event sent later: :mod:`pixel_embed.events_api.context`."""
        from ..events_api.context import of_request

        state = self.request_state("matching_context")
        return of_request(state, self.consent_of(state.config, state.request.cookies))

    def page_calls(self) -> list[PixelCall]:
        """The calls this request's page makes (or made), for an inspector or a log: copies,
        which the caller may change without touching the events (their server copies too)."""
        state = self.request_state("page_calls")
        settings = state.config.pixel
        if state.shown is not None:
            calls = state.shown
        elif settings is None:
            return []
        else:
            store = self.store(state)
            identity, events = store.peek() if store is not None else (NO_IDENTITY, [])
            calls = page_calls(settings, identity.merged(state.identity), [*events, *state.events])
        return copy.deepcopy(calls)

    def csp_sources(self) -> dict[str, list[str]]:
        """The sources each Content Security Policy directive must allow for TikTok's SDK to
        load and deliver: ``{"script-src": [...], "connect-src": [...], "img-src": [...]}``
        (see :data:`pixel_embed.csp.TIKTOK_CSP` for what each is for). Merge them into a
        policy with :func:`pixel_embed.merge_csp`."""
        return tiktok_sources()

    # -- rendering -----------------------------------------------------------------------------

    #: ``render() -> Markup``: the pixel's HTML for this page, the ``tiktok_pixel()`` template
    #: global (see :func:`~pixel_embed.core.page.render_page`).
    render = render_page

    def fragment(self) -> Markup:
        """This request's pending calls, for HTML inserted into a page that has the pixel: the
        ``tiktok_pixel_calls()`` template global (see :func:`pixel_embed.partial.render_fragment`).
        """
        return render_fragment(self, self.request_state("tiktok_pixel_calls"))


def given_params(
    params: Mapping[str, Any] | None, properties: dict[str, Any]
) -> Mapping[str, Any] | None:
    """track()'s parameters, from the mapping and the keyword arguments; a mapping whose
    methods raise is handed on as it is, for validation to report."""
    if params is None or (type(params) is dict and not params):
        return properties
    if properties and isinstance(params, Mapping):
        try:
            return {**params, **properties}
        except Exception:
            return params
    return params
