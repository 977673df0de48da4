"""The Flask side of server events: the ``TIKTOK_PIXEL_*`` settings, the consent gate, the
request's context, and the after-request hand-over to the :class:`~.delivery.Sender`.

Events flagged for the server are turned into Events API data at the end of the request that
tracked them (``after_request``), not inside ``track()``: a view may call ``identify()`` after
``track()``, and the server event should carry the whole identity, as the page's
``ttq.identify`` does. A deferred event goes to the server then too, with the same event id as
the browser call the next page makes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request

from ..errors import ConfigurationError
from ..events import Event
from ..matching import Identity
from ..render import ConsentMode, ConsentState, PixelSettings
from .clickid import remember_ttclid, request_ttclid
from .client import DEFAULT_TIMEOUT, EVENTS_API_URL, EventsApiClient
from .delivery import RetryPolicy, Sender
from .payload import RequestContext, server_event
from .queues import sender_factory
from .queues import set_defaults as set_queue_defaults

log = logging.getLogger("pixel_embed.events_api")

#: Where the app's :class:`ServerEvents` is kept: ``app.extensions[EXTENSION_KEY]``.
EXTENSION_KEY = "tiktok_pixel_events_api"
#: The cookie TikTok's SDK keeps its browser id in.
TTP_COOKIE = "_ttp"
# What TikTok's SDK writes in _ttp ("01M90YT8ARXAH5PW6W18GFP0WH_.tt.3", about 32 characters):
# anything else (a 3.5 KB value another script or the visitor set) is not forwarded.
_TTP = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def ttp_cookie(value: str | None) -> str | None:
    """``value`` of a ``_ttp`` cookie if it has the shape TikTok's SDK gives it, else ``None``."""
    return value if value and _TTP.fullmatch(value) else None


_TOKEN_PROBLEM = (
    "TIKTOK_PIXEL_ACCESS_TOKEN must be a string of printable characters without spaces, "
    "as shown in TikTok Events Manager (the value is not repeated here)"
)

#: An event tracked for the server, and when (Unix seconds).
FlaggedEvent = tuple[Event, float]


def consent_allows(mode: ConsentMode, state: ConsentState | None) -> bool:
    """Whether a server event may be sent for a browser, as the pixel itself would fire.

    A browser that declined gets none, whatever the mode; in ``strict`` mode one that has
    not chosen yet gets none either (in ``hold`` mode TikTok's SDK loads before the choice).
    """
    if state == "denied":
        return False
    return mode != "strict" or state == "granted"


def _setting(app: Flask, key: str, ok: Callable[[Any], bool], problem: str) -> Any:
    value = app.config[key]
    if not ok(value):
        raise ConfigurationError(f"{key} {value!r} {problem}")
    return value


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_printable(value: object) -> bool:
    return isinstance(value, str) and bool(value) and value.isascii() and value.isprintable()


def _is_endpoint(value: object) -> bool:
    # The token travels in a header: never over plain HTTP beyond this machine.
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    if parts.scheme == "http":
        return parts.hostname in ("127.0.0.1", "localhost", "::1")
    return parts.scheme == "https" and bool(parts.hostname)


def _client(app: Flask) -> EventsApiClient:
    token = app.config["TIKTOK_PIXEL_ACCESS_TOKEN"]
    if not _is_printable(token) or " " in token:
        raise ConfigurationError(_TOKEN_PROBLEM)
    url = _setting(
        app,
        "TIKTOK_PIXEL_EVENTS_API_URL",
        _is_endpoint,
        "is not an https URL (plain http is only for a test server on this machine)",
    )
    code = _setting(
        app,
        "TIKTOK_PIXEL_TEST_EVENT_CODE",
        lambda v: v is None or _is_printable(v),
        "must be None or the code shown under Test events in TikTok Events Manager",
    )
    timeout = _setting(
        app,
        "TIKTOK_PIXEL_EVENTS_API_TIMEOUT",
        lambda v: _is_number(v) and v > 0,
        "must be a number of seconds above 0",
    )
    return EventsApiClient(access_token=token, url=url, test_event_code=code, timeout=timeout)


def _sender_factory(app: Flask, client: EventsApiClient) -> Callable[[], Sender]:
    def whole_or_none(v: object) -> bool:
        return v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 1)

    max_tries = _setting(
        app, "TIKTOK_PIXEL_EVENTS_API_MAX_TRIES", whole_or_none, "must be a whole number >= 1"
    )
    backoff = _setting(
        app,
        "TIKTOK_PIXEL_EVENTS_API_BACKOFF",
        lambda v: _is_number(v) and v >= 0,
        "must be a number of seconds, 0 or more",
    )
    queue_size = _setting(
        app, "TIKTOK_PIXEL_EVENTS_API_QUEUE_SIZE", whole_or_none, "must be a whole number >= 1"
    )
    policy = RetryPolicy(max_tries=max_tries or 0, backoff=backoff)
    return sender_factory(app, client, policy, queue_size)


def client_from_config(app: Flask) -> EventsApiClient:
    """The :class:`EventsApiClient` the app's settings describe, e.g. for a task-queue worker.

    :raises ConfigurationError: a setting is invalid, or the access token is not set.
    """
    if app.config.get("TIKTOK_PIXEL_ACCESS_TOKEN") is None:
        raise ConfigurationError("TIKTOK_PIXEL_ACCESS_TOKEN is not set")
    _set_defaults(app)
    return _client(app)


def _set_defaults(app: Flask) -> None:
    #: The Events API access token (TikTok Events Manager, pixel settings): server events on.
    app.config.setdefault("TIKTOK_PIXEL_ACCESS_TOKEN", None)
    #: Send every tracked event to the Events API too (else only track(..., server=True)).
    app.config.setdefault("TIKTOK_PIXEL_SERVER_EVENTS", False)
    #: Events Manager's "Test events" code, while testing the integration.
    app.config.setdefault("TIKTOK_PIXEL_TEST_EVENT_CODE", None)
    #: The Events API endpoint.
    app.config.setdefault("TIKTOK_PIXEL_EVENTS_API_URL", EVENTS_API_URL)
    #: Seconds to wait for TikTok's answer.
    app.config.setdefault("TIKTOK_PIXEL_EVENTS_API_TIMEOUT", DEFAULT_TIMEOUT)
    #: Attempts per batch, the first included, before giving up with a logged error (None:
    #: 5 for the memory queue; until too old, every 10 minutes at most, for durable queues).
    app.config.setdefault("TIKTOK_PIXEL_EVENTS_API_MAX_TRIES", None)
    #: The first retry's wait in seconds; it doubles each time (with jitter, at most 60 s).
    app.config.setdefault("TIKTOK_PIXEL_EVENTS_API_BACKOFF", RetryPolicy.backoff)
    #: Events waiting for delivery at most; more are dropped with a warning (None: 1,000 in
    #: memory, 100,000 in the outbox).
    app.config.setdefault("TIKTOK_PIXEL_EVENTS_API_QUEUE_SIZE", None)
    set_queue_defaults(app)


@dataclass(frozen=True)
class ServerEvents:
    """One app's server events: where they go and which are sent.

    :param codes: the pixel codes (one request per code and batch).
    :param sender: delivers each event.
    :param all_events: ``TIKTOK_PIXEL_SERVER_EVENTS``: every tracked event goes to the server.
    :param ldu: TikTok's Limited Data Use flag.
    :param consent: the consent mode.
    """

    codes: tuple[str, ...]
    sender: Sender
    all_events: bool = False
    ldu: bool = False
    consent: ConsentMode = "none"

    @classmethod
    def init_app(
        cls, app: Flask, settings: PixelSettings | None, sender: Sender | None = None
    ) -> ServerEvents | None:
        """Read and check the server-event settings; ``None`` when server events are off
        (no access token, or the pixel disabled).

        :param sender: delivers the events; by default the one ``TIKTOK_PIXEL_EVENTS_QUEUE``
            names (a :class:`BackgroundSender` for ``"memory"``).
        :raises ConfigurationError: a setting is invalid (the token's value is never shown).
        """
        _set_defaults(app)
        all_events = _setting(
            app, "TIKTOK_PIXEL_SERVER_EVENTS", lambda v: isinstance(v, bool), "must be a bool"
        )
        if app.config["TIKTOK_PIXEL_ACCESS_TOKEN"] is None:
            return None
        client = _client(app)
        default = _sender_factory(app, client)
        if settings is None:
            return None
        server = cls(
            codes=settings.codes,
            sender=sender if sender is not None else default(),
            all_events=all_events,
            ldu=settings.ldu,
            consent=settings.consent,
        )
        app.extensions[EXTENSION_KEY] = server
        app.after_request(server._remember_click)
        return server

    def wanted(self, server: bool | None) -> bool:
        """Whether ``track(..., server=server)`` goes to the Events API."""
        return self.all_events if server is None else server

    def send(
        self,
        events: Sequence[FlaggedEvent],
        identity: Identity,
        consent_state: ConsentState | None,
    ) -> None:
        """Hand this request's flagged events to the sender, once per pixel code.

        Called at the end of a request; never raises: a failing sender is logged.
        """
        if not events or not consent_allows(self.consent, consent_state):
            return
        context = RequestContext(
            ip=request.remote_addr,
            user_agent=request.headers.get("User-Agent"),
            url=request.url,
            referrer=request.referrer,
            ttp=ttp_cookie(request.cookies.get(TTP_COOKIE)),
            ttclid=request_ttclid(request),
        )
        items = [
            (code, server_event(event, identity, context, event_time=at, limited_data_use=self.ldu))
            for event, at in events
            for code in self.codes
        ]
        # A sender that can take them all at once does (the outbox: one transaction).
        send_many = getattr(self.sender, "send_many", None)
        batches = [items] if send_many is not None else [[item] for item in items]
        for batch in batches:
            try:
                if send_many is not None:
                    send_many(batch)
                else:
                    self.sender.send(*batch[0])
            except Exception as exc:  # a broken task queue must not break the page
                log.error(
                    "TikTok Events API: the sender failed to take %s: %s",
                    ", ".join(f"{data.get('event')} {data.get('event_id')}" for _, data in batch),
                    type(exc).__name__,
                )

    def _remember_click(self, response: Response) -> Response:
        # The outbox delivers from every process that serves requests, events left by an
        # earlier run included, and not from a `flask` command.
        start = getattr(self.sender, "start", None)
        if start is not None:
            start()
        # A click id is marketing data: no cookie for it where the pixel may not fire.
        consent_state = current_app.extensions["tiktok_pixel"].consent
        if consent_allows(self.consent, consent_state):
            remember_ttclid(request, response)
        return response
