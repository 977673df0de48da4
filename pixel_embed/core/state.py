"""One site's set-up and one request's state, as the view API keeps them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..events import Event
from ..events_api.delivery import Sender
from ..events_api.hooks import FlaggedEvent, ServerEvents
from ..matching import NO_IDENTITY, Identity
from ..partial import PartialPages
from ..render import PixelCall
from .config import PixelConfig

if TYPE_CHECKING:
    from .request import RequestFacts


@dataclass(frozen=True)
class AppSetup:
    """What an integration made of one site's settings at start-up.

    :param config: the settings, checked.
    :param server_events: the Events API copy; ``None`` when off.
    :param partial: the partial-pages support; ``None`` when ``TIKTOK_PIXEL_PARTIAL`` is off.
    """

    config: PixelConfig
    server_events: ServerEvents | None = None
    partial: PartialPages | None = None

    @classmethod
    def build(
        cls,
        config: PixelConfig,
        *,
        sender: Sender | None = None,
        instance_path: str,
        start_waiting: bool = True,
    ) -> AppSetup:
        """The set-up ``config`` describes (see
        :meth:`~pixel_embed.events_api.hooks.ServerEvents.from_config` for the arguments).

        :raises ConfigurationError: the Events API's queue cannot be opened.
        """
        server_events = ServerEvents.from_config(
            config, sender, instance_path=instance_path, start_waiting=start_waiting
        )
        partial = (
            PartialPages(config.pixel) if config.partial and config.pixel is not None else None
        )
        return cls(config, server_events, partial)


@dataclass(slots=True)
class RequestState:
    """One request's calls and what became of them.

    :param owner: the pixel that made it (two pixels on one site keep two states).
    :param native: the integration's own object (Flask: the app; Django: the request).
    """

    owner: object
    setup: AppSetup
    config: PixelConfig
    request: RequestFacts
    native: Any = None
    identity: Identity = NO_IDENTITY
    #: identify(..., defer=True): the identity goes to the next page; False: it is not
    #: carried, knowingly; None: not said (a warning if it is lost).
    defer_identity: bool | None = None
    events: list[Event] = field(default_factory=list)
    deferred: list[Event] = field(default_factory=list)
    server_events: list[FlaggedEvent] = field(default_factory=list)
    rendered: bool = False
    private: bool = False
    #: What render() put on the page: the deferred events it popped are no longer in the
    #: session.
    shown: list[PixelCall] | None = None
    #: A track(..., once=KEY) was sent on this response: no copy of it may be kept anywhere.
    once_sent: bool = False
    #: forget() was called: the session holds nothing of the visitor's from before.
    forgotten: bool = False
    #: This page tells TikTok's SDK to forget the identity it holds (a page that does not
    #: reload).
    forget_browser: bool = False
    #: The response's headers are sent (a streamed page renders too late).
    responded: bool = False
    #: The nonce put on the pixel's script, for the CSP check (which must not ask again).
    nonce: str | None = None
    #: tiktok_pixel() rendered the partial placeholder: the identity travels with the calls.
    partial_page: bool = False
