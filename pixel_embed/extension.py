"""The Flask extension: configuration, the per-request queue, and the ``tiktok_pixel()`` global."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import ipaddress
import json
import logging
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from flask import (
    Blueprint,
    Flask,
    Request,
    Response,
    current_app,
    has_request_context,
    request,
    session,
)
from flask.sessions import SecureCookieSessionInterface
from markupsafe import Markup

from .csp import CspBlocksPixel, describe_problems, policy_problems, tiktok_sources
from .errors import (
    ConfigurationError,
    InvalidEvent,
    InvalidInput,
    PersonalDataInText,
    PersonalDataInUrl,
    StreamingError,
    safe_repr,
)
from .events import Event, validate_event, wire_event_name
from .events_api.delivery import Sender
from .events_api.hooks import FlaggedEvent, ServerEvents
from .matching import NO_IDENTITY, Identity, is_region_code
from .partial import PartialPages, render_fragment, request_kind
from .render import (
    CONSENT_COOKIE,
    ConsentState,
    PixelCall,
    PixelSettings,
    page_calls,
    render_calls,
    render_disabled,
)
from .resources import TEMPLATES_DIR
from .screening import may_hold_phone, personal_data_in_url
from .segment.adapter import SegmentAdapter

log = logging.getLogger("pixel_embed")

#: Deferred events kept for the next page at most; the oldest beyond it are dropped (a signed
#: cookie session holds about 4 KB).
MAX_DEFERRED = 20
#: The most bytes of JSON the deferred identity and events take in the session; the oldest
#: events beyond it are dropped with a warning. Flask's signed cookie adds about a third
#: (base64, signature), leaving the site's own session data room below browsers' 4 KB.
MAX_DEFERRED_BYTES = 2000
#: The session's one key for pixel_embed. Its value is a mapping that several parts share,
#: each its own keys, each leaving the others' alone:
#:
#: - ``identity``: the carried identity (``identify(..., defer=True)``), digests and the
#:   clear fields, with ``identity_at``, when it was carried (seconds since the epoch), for
#:   ``TIKTOK_PIXEL_IDENTITY_MAX_AGE``;
#: - ``events``: the deferred events (``track(..., defer=True)``);
#: - ``forget``: ``1`` after :meth:`TikTokPixel.forget`, until a page that does not reload
#:   has told TikTok's SDK to forget too;
#: - ``once``: the keys of ``track(..., once=KEY)``, short digests, newest last, at most
#:   :data:`MAX_ONCE_KEYS` (about 400 bytes);
#: - sibling keys of other parts, within :data:`SIBLING_SESSION_BYTES`.
#:
#: Identity and events take at most :data:`MAX_DEFERRED_BYTES`, ``once`` and siblings at most
#: :data:`SIBLING_SESSION_BYTES`: about 3.4 KB in Flask's signed cookie at worst.
SESSION_KEY = "_tiktok_pixel"
_SESSION_KEY = SESSION_KEY
#: The bytes of JSON left in :data:`SESSION_KEY` for keys other than this module's.
SIBLING_SESSION_BYTES = 500
# This module's keys in the session's mapping (see SESSION_KEY).
_OWN_SESSION_KEYS = ("identity", "identity_at", "events", "forget")
#: The most ``once`` keys kept per visitor; the oldest beyond it are forgotten (that event
#: could then fire again: for a purchase, with the same :func:`~pixel_embed.events.order_event_id`).
MAX_ONCE_KEYS = 20
#: Hex digits kept of each key's SHA-256: 64 bits, no collision among a visitor's keys, and no
#: order number readable in the (signed, not encrypted) session cookie.
_ONCE_DIGEST_CHARS = 16
_STATE_KEY = "_tiktok_pixel"
# Set on the request once the after-request hook ran: a later render is a streamed page's.
_RESPONDED_KEY = "_tiktok_pixel_responded"
# The nonce put on the pixel's script, on the request.
_NONCE_KEY = "_tiktok_pixel_nonce"
#: Headers that tell a CDN how to cache regardless of ``Cache-Control`` (RFC 9213; Fastly's,
#: Akamai's and Varnish's ``Surrogate-Control``; Cloudflare's own): on a personal page, each
#: one present is replaced by ``no-store``.
CDN_CACHE_HEADERS = ("CDN-Cache-Control", "Cloudflare-CDN-Cache-Control", "Surrogate-Control")
_CDN_CACHE_NAMES = frozenset(name.lower() for name in CDN_CACHE_HEADERS)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class _AppConfig:
    settings: PixelSettings | None  # None while TIKTOK_PIXEL_ENABLED is False
    region: str | None
    strict: bool
    internal_networks: tuple[IPNetwork, ...]
    server_events: ServerEvents | None = None  # None: no Events API
    partial: PartialPages | None = None  # None: TIKTOK_PIXEL_PARTIAL is off
    # The app's template globals (the dict itself: a CSP extension may register its nonce
    # function after us): ``app.jinja_env`` is a property, looked up on every page otherwise.
    template_globals: Mapping[str, Any] = field(default_factory=dict)
    identity_max_age: float = 1800.0  # seconds a carried identity waits for its page

    def on_error(self, error: InvalidInput) -> None:
        """What becomes of a bad field: raised in strict mode, else dropped (or, for personal
        data in free text, masked) with a warning that withholds personal data."""
        if self.strict:
            raise error
        verb = "masked" if isinstance(error, PersonalDataInText) else "dropped"
        log.warning("TikTok pixel: %s %s", verb, error.redacted())


@dataclass(slots=True)
class _RequestState:
    pixel: TikTokPixel
    app: Flask
    config: _AppConfig
    identity: Identity = NO_IDENTITY
    # identify(..., defer=True): the identity goes to the next page; False: it is not carried,
    # knowingly; None: not said (a warning if it is lost).
    defer_identity: bool | None = None
    events: list[Event] = field(default_factory=list)
    deferred: list[Event] = field(default_factory=list)
    server_events: list[FlaggedEvent] = field(default_factory=list)
    rendered: bool = False
    private: bool = False
    # What render() put on the page: the deferred events it popped are no longer in the session.
    shown: list[PixelCall] | None = None
    # A track(..., once=KEY) was sent on this response: no copy of it may be kept anywhere.
    once_sent: bool = False
    # forget() was called: the session holds nothing of the visitor's from before.
    forgotten: bool = False
    # This page tells TikTok's SDK to forget the identity it holds (a page that does not reload).
    forget_browser: bool = False


def _flag(app: Flask, key: str) -> bool:
    value = app.config[key]
    if not isinstance(value, bool):
        raise ConfigurationError(f"{key} must be True or False, not {value!r}")
    return value


def _networks(value: object) -> tuple[IPNetwork, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple | set | frozenset):
        raise ConfigurationError(
            f"TIKTOK_PIXEL_INTERNAL_IPS must be a list of addresses or networks, not {value!r}"
        )
    networks = []
    for item in value:
        try:
            networks.append(ipaddress.ip_network(str(item), strict=False))
        except ValueError:
            raise ConfigurationError(
                f"TIKTOK_PIXEL_INTERNAL_IPS entry {item!r} is not an IP address or network "
                "such as '10.0.0.0/8'"
            ) from None
    return tuple(networks)


class TikTokPixel:
    """Puts the TikTok Pixel on a Flask site's pages.

    ::

        pixel = TikTokPixel(app)          # or TikTokPixel() and pixel.init_app(app)

        @app.post("/checkout")
        def checkout():
            pixel.identify(email=user.email)
            pixel.track("CompletePayment", value=42.5, currency="USD", defer=True)
            return redirect("/thank-you")

    and once in the base layout: ``{{ tiktok_pixel() }}``.

    :param nonce: returns the request's CSP nonce. By default Flask-Talisman's ``csp_nonce``
        template global is used when it is registered.
    :param sender: delivers server-side Events API events (with ``TIKTOK_PIXEL_ACCESS_TOKEN``
        set); a background thread by default. See :mod:`pixel_embed.events_api`.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        nonce: Callable[[], str | None] | None = None,
        sender: Sender | None = None,
    ) -> None:
        self._nonce = nonce
        self._sender = sender
        self._configs: weakref.WeakKeyDictionary[Flask, _AppConfig] = weakref.WeakKeyDictionary()
        self._warned_endpoints: set[str] = set()
        self._csp_warned: set[str] = set()
        #: Segment-spec ``track`` / ``identify`` / ``page`` (see :mod:`pixel_embed.segment`).
        self.segment = SegmentAdapter(self)
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Read and check the ``TIKTOK_PIXEL_*`` config, and register the template global.

        :raises RuntimeError: the app already has a TikTokPixel.
        :raises ConfigurationError: a setting is invalid.
        """
        if "tiktok_pixel" in app.extensions:
            raise RuntimeError(
                "A 'TikTokPixel' instance has already been registered on this Flask app. "
                "Import and use that instance instead."
            )
        #: The pixel code from TikTok Events Manager, or a list of codes.
        app.config.setdefault("TIKTOK_PIXEL_CODE", None)
        #: Render the pixel at all (off: an HTML comment says so).
        app.config.setdefault("TIKTOK_PIXEL_ENABLED", True)
        #: TikTok's Limited Data Use flag.
        app.config.setdefault("TIKTOK_PIXEL_LDU", False)
        #: The page already has TikTok's snippet: render only the calls.
        app.config.setdefault("TIKTOK_PIXEL_USE_EXISTING", False)
        #: Call ttq.page() on every page.
        app.config.setdefault("TIKTOK_PIXEL_AUTO_PAGE", True)
        #: Region (ISO 3166 alpha-2) for phone numbers written without a country code.
        app.config.setdefault("TIKTOK_PIXEL_DEFAULT_REGION", None)
        #: "none", "hold" or "strict".
        app.config.setdefault("TIKTOK_PIXEL_CONSENT", "none")
        #: The first-party cookie holding the visitor's consent choice.
        app.config.setdefault("TIKTOK_PIXEL_CONSENT_COOKIE", CONSENT_COOKIE)
        #: Addresses or networks that never get the pixel (your office, your monitoring).
        app.config.setdefault("TIKTOK_PIXEL_INTERNAL_IPS", [])
        #: Bad input raises; otherwise the bad field is dropped with a warning.
        app.config.setdefault("TIKTOK_PIXEL_STRICT", False)
        #: Print each call to the browser console.
        app.config.setdefault("TIKTOK_PIXEL_DEBUG", False)
        #: Segment mappings for ``pixel.segment``: None (the destination's presets), the path of
        #: a .toml or .json file, or a ``pixel_embed.segment.SegmentMappings``.
        app.config.setdefault("TIKTOK_PIXEL_MAPPINGS", None)
        #: Send the calls of htmx and fetch() responses with them (see pixel_embed.partial).
        app.config.setdefault("TIKTOK_PIXEL_PARTIAL", False)
        #: When the SDK is requested: "async" (TikTok's snippet) or "idle" (after the page loaded).
        app.config.setdefault("TIKTOK_PIXEL_LOAD", "async")
        #: Seconds a carried identity (identify(..., defer=True)) waits in the session for its
        #: page; older, it is dropped.
        app.config.setdefault("TIKTOK_PIXEL_IDENTITY_MAX_AGE", 1800)

        config = self._read_config(app)
        self.segment.init_app(app)
        app.extensions["tiktok_pixel"] = self
        app.jinja_env.globals["tiktok_pixel"] = self.render
        app.jinja_env.globals["_pixel_embed_render"] = self.render
        app.register_blueprint(Blueprint("pixel_embed", __name__, template_folder=TEMPLATES_DIR))
        # First in the app's list, so it runs last (Flask runs them last registered first): an
        # app's own hook that marks pages public cannot undo Cache-Control: private.
        app.after_request_funcs.setdefault(None, []).insert(0, self._after_request)
        # Registered after ours, the Events API's click-id hook runs before it (Flask runs
        # after-request functions last registered first).
        server_events = ServerEvents.init_app(app, config.settings, self._sender)
        partial = PartialPages.init_app(app, config.settings)
        app.jinja_env.globals["tiktok_pixel_calls"] = self.fragment
        self._configs[app] = dataclasses.replace(
            config,
            server_events=server_events,
            partial=partial,
            template_globals=app.jinja_env.globals,
        )
        self._forget_on_logout(app)

    def _forget_on_logout(self, app: Flask) -> None:
        """With Flask-Login installed, :meth:`forget` runs when ``logout_user()`` is called in
        one of ``app``'s requests (its ``user_logged_out`` signal); and ``login_user()`` drops
        what earlier requests carried for the next page (``user_logged_in``): a login without
        a logout before it (a shared computer) must not fire the last person's deferred
        purchase on the new one's page."""
        try:
            from flask_login import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
                user_logged_in,
                user_logged_out,
            )
        except ImportError:
            return

        def forget_on_logout(sender: Flask, **extra: object) -> None:
            if has_request_context():
                self.forget()

        def forget_carried_on_login(sender: Flask, **extra: object) -> None:
            if has_request_context():
                self._forget_carried(self._state("forget"))

        user_logged_out.connect(forget_on_logout, app, weak=False)
        user_logged_in.connect(forget_carried_on_login, app, weak=False)

    @staticmethod
    def _read_config(app: Flask) -> _AppConfig:
        enabled = _flag(app, "TIKTOK_PIXEL_ENABLED")
        region = app.config["TIKTOK_PIXEL_DEFAULT_REGION"]
        if region is not None and not is_region_code(region):
            raise ConfigurationError(
                f"TIKTOK_PIXEL_DEFAULT_REGION {region!r} is not an ISO 3166 alpha-2 code "
                "such as 'US'"
            )
        settings = None
        if enabled:
            code = app.config["TIKTOK_PIXEL_CODE"]
            settings = PixelSettings(
                codes=(code,) if isinstance(code, str) else tuple(code or ()),
                ldu=_flag(app, "TIKTOK_PIXEL_LDU"),
                use_existing=_flag(app, "TIKTOK_PIXEL_USE_EXISTING"),
                auto_page=_flag(app, "TIKTOK_PIXEL_AUTO_PAGE"),
                consent=app.config["TIKTOK_PIXEL_CONSENT"],
                debug=_flag(app, "TIKTOK_PIXEL_DEBUG"),
                consent_cookie=app.config["TIKTOK_PIXEL_CONSENT_COOKIE"],
                load=app.config["TIKTOK_PIXEL_LOAD"],
            )
        max_age = app.config["TIKTOK_PIXEL_IDENTITY_MAX_AGE"]
        if isinstance(max_age, bool) or not isinstance(max_age, int | float) or not max_age > 0:
            raise ConfigurationError(
                f"TIKTOK_PIXEL_IDENTITY_MAX_AGE must be a number of seconds above 0, not "
                f"{max_age!r}"
            )
        return _AppConfig(
            settings=settings,
            region=region.upper() if region else None,
            strict=_flag(app, "TIKTOK_PIXEL_STRICT"),
            internal_networks=_networks(app.config["TIKTOK_PIXEL_INTERNAL_IPS"]),
            identity_max_age=float(max_age),
        )

    # -- per-request state -------------------------------------------------------------------

    # Flask's proxies (``g``, ``session``…) cost about a microsecond per attribute; these run on
    # every track() and page, so each resolves the proxy to its object once.

    def _config(self, app: Flask) -> _AppConfig:
        try:
            return self._configs[app]
        except KeyError:
            raise RuntimeError(
                "This TikTokPixel is not registered on the current app: call "
                "pixel.init_app(app) in the app factory."
            ) from None

    def _state(self, caller: str) -> _RequestState:
        """This request's state, kept on the request object: ``g`` can outlive a request (it
        belongs to the app context, which a test may hold open around several requests)."""
        # Each track() runs this: the request resolved here, and no further call when the
        # state exists (_current_request and _state_of, inlined).
        try:
            current = request._get_current_object()  # type: ignore[attr-defined]
        except RuntimeError:
            raise _no_request(caller) from None
        state: _RequestState | None = getattr(current, _STATE_KEY, None)
        if state is None or state.pixel is not self:
            return self._new_state(current)
        return state

    def _state_of(self, current: Request) -> _RequestState:
        """The state kept on ``current``, this request (see :meth:`_state`)."""
        state: _RequestState | None = getattr(current, _STATE_KEY, None)
        if state is None or state.pixel is not self:
            return self._new_state(current)
        return state

    def _new_state(self, current: Request) -> _RequestState:
        app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
        state = _RequestState(self, app, self._config(app))
        setattr(current, _STATE_KEY, state)
        return state

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
            browser call nor the server copy. The visitor's last :data:`MAX_ONCE_KEYS` keys are
            kept in the session (needs ``SECRET_KEY``), and the page that sends it is not
            stored by the browser (``no-store``), so going back asks the server again.
        :returns: the event id (also when ``once`` held the event back); an empty string when
            lenient mode dropped the event (its name is invalid).
        :raises InvalidEvent: in strict mode, for a bad event name or parameter.
        :raises ConfigurationError: ``defer`` or ``once`` without a secret key.
        """
        state = self._state("track")
        config = state.config
        try:
            checked = validate_event(
                event,
                _given_params(params, properties),
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
        if defer and not state.app.secret_key:
            raise ConfigurationError(
                "track(..., defer=True) keeps the event in the session until the next page: "
                "set app.secret_key (SECRET_KEY) to use it"
            )
        if once is not None and not self._first_time(state, checked, once):
            return checked.event_id
        (state.deferred if defer else state.events).append(checked)
        if config.server_events is not None and config.server_events.wanted(server):
            state.server_events.append((checked, time.time()))
        return checked.event_id

    def _first_time(self, state: _RequestState, event: Event, once: object) -> bool:
        """Whether ``event`` with key ``once`` was never sent to this visitor; remembers it
        (except on a prefetch or a history restore, which the visitor may never see)."""
        if isinstance(once, bool) or not isinstance(once, str | int) or not str(once).strip():
            state.config.on_error(
                InvalidEvent("once", once, "must be a non-empty string or an integer; ignored")
            )
            return True
        if not state.app.secret_key:
            raise ConfigurationError(
                "track(..., once=...) remembers the key in the session: set app.secret_key "
                "(SECRET_KEY) to use it"
            )
        text = f"{wire_event_name(event.name)}\x1f{once}"
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        digest = digest[:_ONCE_DIGEST_CHARS]
        shared = session.get(_SESSION_KEY)
        shared = shared if isinstance(shared, dict) else {}
        saved = shared.get("once")
        keys = [key for key in saved if isinstance(key, str)] if isinstance(saved, list) else []
        if digest in keys:
            log.debug("TikTok pixel: %s already sent once for this key; not again", event.name)
            return False
        current = request._get_current_object()  # type: ignore[attr-defined]
        if not (is_prefetch(current) or is_history_restore(current)):
            # A sibling in the shared mapping (see SESSION_KEY): the deferred store, forget()
            # and the next page's pop keep it.
            session[_SESSION_KEY] = {**shared, "once": [*keys, digest][-MAX_ONCE_KEYS:]}
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
        request_state = self._state("identify")
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
            if not request_state.app.secret_key:
                raise ConfigurationError(
                    "identify(..., defer=True) keeps the identity in the session until the next "
                    "page: set app.secret_key (SECRET_KEY) to use it"
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
        state = self._state("forget")
        state.identity = NO_IDENTITY
        state.defer_identity = None
        state.events = []
        state.deferred = []
        state.server_events = []
        state.forgotten = True
        self._forget_carried(state)

    def _forget_carried(self, state: _RequestState) -> None:
        """Drop what earlier requests left in the session for the next page (identity,
        deferred events), and have the next partial page empty TikTok's SDK."""
        if not state.app.secret_key:
            return  # no session: nothing was carried
        saved = session.get(_SESSION_KEY)
        kept = (
            {key: value for key, value in saved.items() if key not in _OWN_SESSION_KEYS}
            if isinstance(saved, dict)
            else {}
        )
        session[_SESSION_KEY] = {**kept, "forget": 1}

    @property
    def consent(self) -> ConsentState | None:
        """The visitor's recorded consent choice (``"granted"``, ``"denied"``), or ``None``."""
        app = cast(Flask, current_app._get_current_object())  # type: ignore[attr-defined]
        return self._consent(self._config(app))

    @staticmethod
    def _consent(config: _AppConfig) -> ConsentState | None:
        name = config.settings.consent_cookie if config.settings else CONSENT_COOKIE
        value = request.cookies.get(name)
        return cast(ConsentState, value) if value in ("granted", "denied") else None

    def page_calls(self) -> list[PixelCall]:
        """The calls this request's page makes (or made), for an inspector or a log: copies,
        which the caller may change without touching the events (their server copies too)."""
        state = self._state("page_calls")
        settings = state.config.settings
        if state.shown is not None:
            calls = state.shown
        elif settings is None:
            return []
        else:
            identity, events = self._peek_deferred()
            calls = page_calls(settings, identity.merged(state.identity), [*events, *state.events])
        return copy.deepcopy(calls)

    # -- rendering -----------------------------------------------------------------------------

    def render(self) -> Markup:
        """The pixel's HTML for this page: the ``tiktok_pixel()`` template global.

        A streamed page (``stream_template``) must call it in the view, before streaming, and
        pass the HTML to the template: once the response has started, the page can no longer
        be marked private nor its deferred events taken out of the session.

        :raises StreamingError: the response's headers are already sent.
        """
        current = _current_request("render")
        state = self._state_of(current)
        if state.rendered:
            return render_disabled("already rendered on this page")
        if getattr(current, _RESPONDED_KEY, False):
            raise StreamingError(
                "tiktok_pixel() was called while a streamed response was being sent: its "
                "headers and session cookie are gone, so the page could be cached with the "
                "visitor's data and deferred events would fire again. Call pixel.render() in "
                "the view before stream_template(...) and pass the HTML to the template."
            )
        config = state.config
        if is_history_restore(current):
            state.rendered = True
            return render_disabled(f"a history restore ({RESTORE_HEADER}) is not a visit")
        partial = config.partial
        if partial is not None and partial.wants(current):
            return partial.placeholder()
        state.rendered = True
        state.shown = []
        if config.settings is not None and self._url_refused(current, config):
            # Deferred events wait for a page whose address TikTok may see.
            return render_disabled(
                "the URL of this page holds what looks like personal data (TIKTOK_PIXEL_STRICT)"
            )
        # Deferred events are used up by the next page, whether it shows the pixel or not.
        identity, deferred = self._pop_deferred(state.app, current)
        settings = config.settings
        if settings is None:
            return render_disabled("TIKTOK_PIXEL_ENABLED is False")
        if config.internal_networks and self._is_internal(config):
            return render_disabled("request from an internal address (TIKTOK_PIXEL_INTERNAL_IPS)")
        # Nothing deferred (the usual page): this request's identity as it is, tested once.
        identity = state.identity if identity is NO_IDENTITY else identity.merged(state.identity)
        identified = bool(identity)  # an Identity's truth looks at each field: once
        state.private = identified or bool(deferred)
        state.shown = page_calls(
            settings, identity if identified else None, [*deferred, *state.events]
        )
        nonce = self._current_nonce(config)
        setattr(current, _NONCE_KEY, nonce)  # for the CSP check, which must not ask again
        html = render_calls(
            settings,
            state.shown,
            nonce=nonce,
            # Only the consent modes' script reads the choice: no cookie parsing otherwise.
            consent_state=None if settings.consent == "none" else self._consent(config),
        )
        if config.partial is not None:
            html += config.partial.script_tag(nonce)
        return html

    def fragment(self) -> Markup:
        """This request's pending calls, for HTML inserted into a page that has the pixel: the
        ``tiktok_pixel_calls()`` template global (see :func:`pixel_embed.partial.render_fragment`).
        """
        return render_fragment(self)

    def _current_nonce(self, config: _AppConfig) -> str | None:
        if self._nonce is not None:
            return self._nonce()
        talisman = config.template_globals.get("csp_nonce")
        return cast(str | None, talisman()) if callable(talisman) else None

    def _is_internal(self, config: _AppConfig) -> bool:
        if not config.internal_networks:
            return False
        try:
            address = ipaddress.ip_address(request.remote_addr or "")
        except ValueError:
            return False
        return any(address in network for network in config.internal_networks)

    # -- deferred events, in the signed session ------------------------------------------------

    @staticmethod
    def _read_deferred(saved: object, max_age: float) -> tuple[Identity, list[Event]]:
        if not isinstance(saved, dict):
            return NO_IDENTITY, []
        try:
            events = [Event.from_dict(item) for item in saved.get("events", [])]
            identity = Identity.from_params(saved.get("identity", {}))
            carried_at = saved.get("identity_at", 0)
            if identity and not time.time() - float(carried_at) <= max_age:
                identity = NO_IDENTITY  # too old (or of a version without a time): dropped
        except (KeyError, TypeError, ValueError, AttributeError):
            log.warning("TikTok pixel: ignored unreadable deferred events in the session")
            return NO_IDENTITY, []
        return identity, events

    def _peek_deferred(self) -> tuple[Identity, list[Event]]:
        app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
        return self._read_deferred(session.get(_SESSION_KEY), self._config(app).identity_max_age)

    def _pop_deferred(
        self, app: Flask, current: Request | None = None
    ) -> tuple[Identity, list[Event]]:
        # Flask's own cookie session holds nothing when the browser sent no session cookie;
        # looking at the session anyway would add "Vary: Cookie" to every page (~7 us).
        interface = app.session_interface
        if type(interface) is SecureCookieSessionInterface:
            if current is None:
                current = request._get_current_object()  # type: ignore[attr-defined]
            # No Cookie header at all (a first visit): no cookie to parse.
            if not current.environ.get("HTTP_COOKIE") or (
                interface.get_cookie_name(app) not in current.cookies
            ):
                return NO_IDENTITY, []
        saved = session._get_current_object()  # type: ignore[attr-defined]
        # pop() only when the key is there: it marks the session modified (a new cookie), and
        # a session without a secret key (NullSession) refuses it.
        if _SESSION_KEY not in saved:
            return NO_IDENTITY, []
        # A prefetch (a link the mouse rests on, speculation rules) may never be shown: the
        # deferred events wait in the session for a page the visitor does see.
        current = current or request._get_current_object()  # type: ignore[attr-defined]
        if is_prefetch(current) or is_history_restore(current):
            return NO_IDENTITY, []
        value = saved[_SESSION_KEY]
        if not isinstance(value, dict):
            saved.pop(_SESSION_KEY)
            return NO_IDENTITY, []
        kept = {key: item for key, item in value.items() if key not in _OWN_SESSION_KEYS}
        if kept:  # the other parts' keys stay (and the session is marked modified)
            saved[_SESSION_KEY] = kept
        else:
            saved.pop(_SESSION_KEY)
        if value.get("forget"):
            state: _RequestState | None = getattr(current, _STATE_KEY, None)
            if state is not None:
                state.forget_browser = True
        return self._read_deferred(value, self._config(app).identity_max_age)

    def _after_request(self, response: Response) -> Response:
        current = request._get_current_object()  # type: ignore[attr-defined]
        setattr(current, _RESPONDED_KEY, True)
        state: _RequestState | None = getattr(current, _STATE_KEY, None)
        if state is None or state.pixel is not self:
            return response
        config = state.config
        if is_history_restore(current):
            # htmx redraws a page the visitor saw (its history cache had no copy): that page's
            # events fired then; its deferred events wait for a real page.
            state.events = []
            state.server_events = []
            state.rendered = True
            state.private = True
        if config.partial is not None:
            config.partial.deliver(self, state, response)
        if state.shown:  # the pixel is on the page: can it reach TikTok?
            self._check_csp(config, response, getattr(current, _NONCE_KEY, None) or None)
        server_events = config.server_events
        if (
            server_events is not None
            and state.server_events
            and not self._is_internal(config)
            # A prefetched page may never be seen: its browser events fire only if the visitor
            # follows the link, so a server copy could count a view that never happened.
            and not is_prefetch(current)
        ):
            server_events.send(state.server_events, state.identity, self._consent(config))
        # The cheap tests first: an Identity's truth looks at each of its fields.
        carry_identity = state.defer_identity is True and bool(state.identity)
        if state.deferred or carry_identity:
            self._save_deferred(state)
        elif not state.rendered and state.defer_identity is None and state.identity:
            self._identity_lost(response)
        if state.events and not state.rendered:
            self._never_rendered(current, config, len(state.events))
        if state.private or state.once_sent:
            _make_private(response)
            if state.once_sent:
                # Back and forward would show the stored copy and run its calls again: the
                # server, which knows the key was sent, must answer.
                response.headers["Cache-Control"] = "no-store"
        return response

    def csp_sources(self) -> dict[str, list[str]]:
        """The sources each Content Security Policy directive must allow for TikTok's SDK to
        load and deliver: ``{"script-src": [...], "connect-src": [...], "img-src": [...]}``
        (see :data:`pixel_embed.csp.TIKTOK_CSP` for what each is for). Merge them into a
        policy with :func:`pixel_embed.merge_csp`."""
        return tiktok_sources()

    def _check_csp(self, config: _AppConfig, response: Response, nonce: str | None) -> None:
        """Warn, once per endpoint, when the page's Content Security Policy (enforced or
        report-only) blocks TikTok; raise :class:`~pixel_embed.csp.CspBlocksPixel` in strict
        mode. Each distinct policy is parsed once (nonces aside).

        :param nonce: the nonce the pixel's script carries (the nonce function is not asked
            again: one that makes a new nonce per call would be judged by another).
        """
        problems = policy_problems(response.headers, nonce)
        if not problems:
            return
        endpoint = request.endpoint or "(no endpoint)"
        where = f"{safe_repr(request.path, 200)} (endpoint {safe_repr(endpoint, 100)})"
        message = describe_problems(problems, where)
        fix = "pixel.csp_sources() lists TikTok's sources; pixel_embed.merge_csp(policy) adds them"
        if config.strict:
            raise CspBlocksPixel(f"{message}\n{fix}")
        if endpoint in self._csp_warned:
            return
        if len(self._csp_warned) < 1000:  # an app's routes; bounded all the same
            self._csp_warned.add(endpoint)
        log.warning("TikTok pixel: %s\n%s (this warning is shown once per endpoint)", message, fix)

    @staticmethod
    def _never_rendered(current: Request, config: _AppConfig, count: int) -> None:
        kind = request_kind(current)
        if kind is not None and config.partial is None:
            log.warning(
                "TikTok pixel: %d event(s) queued on %s were never rendered: this was %s, "
                "whose response does not reload the page; set TIKTOK_PIXEL_PARTIAL = True to "
                "send its events with it, or track(..., defer=True) to fire them on the next "
                "full page",
                count,
                safe_repr(current.path, 200),
                _KIND_NAMES[kind],
            )
            return
        log.warning(
            "TikTok pixel: %d event(s) queued on %s were never rendered: put "
            "{{ tiktok_pixel() }} in the page's template, or track(..., defer=True) "
            "before a redirect",
            count,
            safe_repr(current.path, 200),
        )

    def _url_refused(self, current: Request, config: _AppConfig) -> bool:
        """Whether the page's URL holds personal data and strict mode leaves the pixel out:
        TikTok's SDK sends the URL with every event as ``context.page.url``, and as the next
        page's referrer. Lenient mode warns and renders; strict mode logs an error and
        refuses. Neither raises: a visitor chooses the URL, and could turn any page into an
        HTTP 500."""
        environ = current.environ
        path: str = environ.get("PATH_INFO", "")
        query: str = environ.get("QUERY_STRING", "")
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
            current.url,
            f"of the page's URL holds what looks like {what}, which TikTok's SDK sends with "
            "every event (context.page.url) and the next page as its referrer: send the form "
            'with POST, or keep it out of the address (hx-push-url="false")',
        )
        key = f"url {current.endpoint} {place}"
        if key not in self._warned_endpoints:
            if len(self._warned_endpoints) < 1000:
                self._warned_endpoints.add(key)
            log.log(
                logging.ERROR if config.strict else logging.WARNING,
                "TikTok pixel: %s%s (endpoint %s; shown once per endpoint and place)",
                error.redacted(),
                "; the pixel is left out of such pages (TIKTOK_PIXEL_STRICT)"
                if config.strict
                else "",
                safe_repr(current.endpoint or "(no endpoint)", 100),
            )
        return config.strict

    def _identity_lost(self, response: Response) -> None:
        """Warn, once per endpoint, that an identity was set on a redirect or on a page
        without the pixel: it reaches no page unless ``identify(..., defer=True)``."""
        redirect = 300 <= response.status_code < 400
        if not redirect and (response.mimetype != "text/html" or response.is_streamed):
            # Data (JSON, files): the next page identifies the visitor itself. A streamed
            # page renders later: tiktok_pixel() raises StreamingError then.
            return
        endpoint = request.endpoint or "(no endpoint)"
        if endpoint in self._warned_endpoints:
            return
        if len(self._warned_endpoints) < 1000:  # an app's routes; bounded all the same
            self._warned_endpoints.add(endpoint)
        log.warning(
            "TikTok pixel: the identity set on %s (endpoint %s) reaches no page: %s. Where it "
            "is set on every request, pass defer=False; where this request ends the visitor's "
            "session (a logout), call pixel.forget() (Flask-Login's logout_user() does); only "
            "where the visitor is identified for the next page (a login that redirects) call "
            "identify(..., defer=True) (this warning is shown once per endpoint)",
            safe_repr(request.path, 200),
            safe_repr(endpoint, 100),
            "the response is a redirect" if redirect else "the page has no {{ tiktok_pixel() }}",
        )

    def _save_deferred(self, state: _RequestState) -> None:
        """Keep this request's deferred events (and identity) for the next page, within
        :data:`MAX_DEFERRED` events and :data:`MAX_DEFERRED_BYTES` bytes: the oldest go first."""
        identity, events = self._peek_deferred()
        # This request's identity goes with its deferred events unless it is for this request
        # only (defer=False).
        carried = state.defer_identity is not False and bool(state.identity)
        identity = identity.merged(state.identity) if carried else identity
        waiting = [event.to_dict() for event in [*events, *state.deferred][-MAX_DEFERRED:]]
        dropped = len(events) + len(state.deferred) - len(waiting)
        # The size of each event, as Flask's session writes it (compact JSON, ASCII only).
        sizes = [len(json.dumps(event, separators=(",", ":"))) + 1 for event in waiting]
        room = MAX_DEFERRED_BYTES - len(json.dumps(identity.as_params())) - 30
        kept = [(e, size) for e, size in zip(waiting, sizes, strict=True) if size <= room]
        total = sum(size for _, size in kept)
        while total > room:  # the oldest go first
            total -= kept.pop(0)[1]
        saved = [event for event, _ in kept]
        dropped += len(waiting) - len(saved)
        previous = session.get(_SESSION_KEY)
        data: dict[str, Any] = (
            {key: value for key, value in previous.items() if key not in _OWN_SESSION_KEYS}
            if isinstance(previous, dict)
            else {}
        )
        if isinstance(previous, dict) and previous.get("forget"):
            data["forget"] = 1
        if identity:
            data["identity"] = identity.as_params()
            data["identity_at"] = (
                int(time.time())
                if carried or not isinstance(previous, dict)
                else previous.get("identity_at", 0)
            )
        data["events"] = saved
        if dropped:
            log.warning(
                "TikTok pixel: too many deferred events for the session (at most %d, %d "
                "bytes); dropped %d, the oldest and any too big alone",
                MAX_DEFERRED,
                MAX_DEFERRED_BYTES,
                dropped,
            )
        session[_SESSION_KEY] = data


def _given_params(
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


def _current_request(caller: str) -> Request:
    """The request being handled; ``caller`` names the method that needs it in the error."""
    try:
        current: Request = request._get_current_object()  # type: ignore[attr-defined]
    except RuntimeError:
        raise _no_request(caller) from None
    return current


def _no_request(caller: str) -> RuntimeError:
    return RuntimeError(
        f"pixel.{caller}() needs a request: call it from a view (or a before_request "
        "function), not at import time or in a background job."
    )


#: Request headers by which browsers and Turbo mark a prefetch: Chromium's speculation rules
#: and ``<link rel=prefetch>`` (``Sec-Purpose: prefetch``, ``prefetch;prerender``), Turbo 8's
#: hover prefetch (``X-Sec-Purpose``), older browsers (``Purpose``, ``X-Moz``).
PREFETCH_HEADERS = ("Sec-Purpose", "X-Sec-Purpose", "Purpose", "X-Moz")


def is_prefetch(current: Request) -> bool:
    """Whether ``current`` is a prefetch, which the visitor may never see."""
    headers = current.headers
    return any("prefetch" in headers.get(name, "") for name in PREFETCH_HEADERS)


#: The request header by which htmx (1.x and 2.x) asks for a page again to restore it from
#: history when its history cache has no copy (back, forward, a reload of a pushed URL).
#: Turbo sends no such header: see docs/partial-pages.md.
RESTORE_HEADER = "HX-History-Restore-Request"

# How the warning about events that never reached the page names a request_kind().
_KIND_NAMES = {
    "htmx": "an htmx request (HX-Request)",
    "fetch": "a fetch() or XMLHttpRequest request (Sec-Fetch-Dest: empty, or X-Requested-With)",
}


def is_history_restore(current: Request) -> bool:
    """Whether ``current`` is htmx's history restore: a page the visitor saw, drawn again."""
    return current.headers.get(RESTORE_HEADER) == "true"


def _make_private(response: Response) -> None:
    """Keep ``response`` out of shared caches: one visitor's hashes and purchases must never be
    served to another."""
    headers = response.headers
    # One pass over the few headers: "name in headers" raises and catches an exception when
    # the name is absent, which costs more than this.
    names = {name.lower() for name, _ in headers}
    if "cache-control" not in names:
        headers.add("Cache-Control", "private")  # set() would look for it again
    else:  # keep the view's other directives (parsing them costs ~10 us)
        cache_control = response.cache_control
        cache_control.public = False
        cache_control.private = True
        cache_control.s_maxage = None
    if not names.isdisjoint(_CDN_CACHE_NAMES):
        for name in CDN_CACHE_HEADERS:
            if name.lower() in names:
                headers[name] = "no-store"
