"""Server events at the end of a request, for any framework: which events go, with which
request context, to which :class:`~.delivery.Sender`.

Events flagged for the server are turned into Events API data at the end of the request that
tracked them (the integration's after-request step calls :meth:`ServerEvents.send`), not inside
``track()``: a view may call ``identify()`` after ``track()``, and the server event should carry
the whole identity, as the page's ``ttq.identify`` does. A deferred event goes to the server
then too, with the same event id as the browser call the next page makes.

Nothing here imports a web framework: the integration hands over the request as
:class:`~pixel_embed.core.request.RequestFacts` and sets the click-id cookie itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ..events import Event
from ..matching import Identity
from ..render import ConsentMode, ConsentState
from .clickid import TTP_COOKIE as TTP_COOKIE
from .clickid import request_ttclid
from .clickid import ttp_cookie as ttp_cookie
from .client import EventsApiClient
from .delivery import Sender
from .payload import RequestContext, server_event
from .queues import sender_factory
from .send import enqueue

if TYPE_CHECKING:
    from ..core.config import PixelConfig
    from ..core.request import RequestFacts

log = logging.getLogger("pixel_embed.events_api")

#: Where an app's :class:`ServerEvents` is kept: ``app.extensions[EXTENSION_KEY]`` in Flask.
EXTENSION_KEY = "tiktok_pixel_events_api"
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


def client_from_config(app: Any) -> EventsApiClient:
    """The :class:`EventsApiClient` the app's settings describe, e.g. for a task-queue worker.

    :param app: a Flask app (its ``config``), or any mapping of ``TIKTOK_PIXEL_*`` settings.
    :raises ConfigurationError: a setting is invalid, or the access token is not set.
    """
    from ..core.config import EventsApiConfig

    mapping: Mapping[str, Any] = getattr(app, "config", app)
    config = EventsApiConfig.from_mapping(mapping)
    if config is None:
        raise ConfigurationError("TIKTOK_PIXEL_ACCESS_TOKEN is not set")
    return config.client()


def request_context(request: RequestFacts) -> RequestContext:
    """What the Events API is told of the browser's request."""
    return RequestContext(
        ip=request.remote_addr,
        user_agent=request.headers.get("User-Agent"),
        url=request.url,
        referrer=request.headers.get("Referer"),
        ttp=ttp_cookie(request.cookies.get(TTP_COOKIE)),
        ttclid=request_ttclid(request),
    )


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
    def from_config(
        cls,
        config: PixelConfig,
        sender: Sender | None = None,
        *,
        instance_path: str,
        start_waiting: bool = True,
    ) -> ServerEvents | None:
        """The server events ``config`` describes; ``None`` when they are off (no access
        token, or the pixel disabled). The default sender's queue is opened now, even with the
        pixel disabled, so that a queue that cannot be opened fails at start-up.

        :param sender: delivers the events; by default the one ``TIKTOK_PIXEL_EVENTS_QUEUE``
            names (a :class:`BackgroundSender` for ``"memory"``).
        :param instance_path: the folder a relative ``sqlite:///`` outbox path is in.
        :param start_waiting: see :func:`~.queues.sender_factory`.
        :raises ConfigurationError: the queue cannot be opened.
        """
        events_api = config.events_api
        if events_api is None:
            return None
        default = sender_factory(events_api, instance_path, start_waiting=start_waiting)
        if config.pixel is None:
            return None
        return cls(
            codes=config.pixel.codes,
            sender=sender if sender is not None else default(),
            all_events=config.server_events,
            ldu=config.pixel.ldu,
            consent=config.pixel.consent,
        )

    def wanted(self, server: bool | None) -> bool:
        """Whether ``track(..., server=server)`` goes to the Events API."""
        return self.all_events if server is None else server

    def start(self) -> None:
        """Start delivering in this process (the outbox's thread), if the sender has one: the
        integration calls it on each request, since a process that serves requests delivers,
        events left by an earlier run included, and a command (``flask tiktok-pixel events
        status``) does not."""
        start: Callable[[], None] | None = getattr(self.sender, "start", None)
        if start is not None:
            start()

    def send(
        self,
        events: Sequence[FlaggedEvent],
        identity: Identity,
        consent_state: ConsentState | None,
        request: RequestFacts,
    ) -> None:
        """Hand this request's flagged events to the sender, once per pixel code.

        Called at the end of a request; never raises: a failing sender is logged.
        """
        if not events or not consent_allows(self.consent, consent_state):
            return
        context = request_context(request)
        items = [
            (code, server_event(event, identity, context, event_time=at, limited_data_use=self.ldu))
            for event, at in events
            for code in self.codes
        ]
        try:
            enqueue(self.sender, items)  # and counted for the match-quality report
        except Exception as exc:  # a broken task queue must not break the page
            log.error(
                "TikTok Events API: the sender failed to take %s: %s",
                ", ".join(f"{data.get('event')} {data.get('event_id')}" for _, data in items),
                type(exc).__name__,
            )
