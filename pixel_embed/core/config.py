"""Every ``TIKTOK_PIXEL_*`` setting: its default, its check, its error, read from any mapping.

An integration hands :meth:`PixelConfig.from_mapping` its framework's settings as a mapping
(Flask's ``app.config``; Django's settings, their upper-case names; Starlette's dict) and keeps
the frozen result. Keys that are absent take :data:`DEFAULTS`. Every error is a
:class:`~pixel_embed.errors.ConfigurationError` that names the key and says what is wrong with
the value. The page's settings are checked while the pixel is enabled; the Events API's when
``TIKTOK_PIXEL_ACCESS_TOKEN`` is set (until then none of them is read).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..errors import ConfigurationError, InvalidInput, PersonalDataInText, safe_repr
from ..events_api.client import DEFAULT_TIMEOUT, EVENTS_API_URL, EventsApiClient
from ..events_api.delivery import CLOSE_TIMEOUT, RetryPolicy
from ..events_api.outbox import MAX_AGE
from ..events_api.queues import DEFAULT_QUEUE, DELIVERY_MODES, QUEUE_KINDS
from ..render import CONSENT_COOKIE, PixelSettings
from ..segment.adapter import mappings_from_config
from ..segment.presets import SegmentMappings
from .checks import (
    MAX_WAIT,
    TOKEN_PROBLEM,
    IPNetwork,
    Settings,
    is_celery_app,
    is_endpoint,
    is_printable,
    is_rq_queue,
    is_whole_or_none,
    networks,
    phone_region,
    pixel_codes,
    withhold_secrets,
)

log = logging.getLogger("pixel_embed")

#: Every setting and its default (read-only). An integration that keeps settings in a mutable
#: mapping may copy the defaults into it (Flask ``setdefault``\s them into ``app.config``):
#: copy the list too, so that one site's change cannot reach another's.
DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        #: The pixel code from TikTok Events Manager, or a list of codes.
        "TIKTOK_PIXEL_CODE": None,
        #: Render the pixel at all (off: an HTML comment says so).
        "TIKTOK_PIXEL_ENABLED": True,
        #: TikTok's Limited Data Use flag.
        "TIKTOK_PIXEL_LDU": False,
        #: The page already has TikTok's snippet: render only the calls.
        "TIKTOK_PIXEL_USE_EXISTING": False,
        #: Call ttq.page() on every page.
        "TIKTOK_PIXEL_AUTO_PAGE": True,
        #: Region (ISO 3166 alpha-2) for phone numbers written without a country code.
        "TIKTOK_PIXEL_DEFAULT_REGION": None,
        #: "none", "hold" or "strict".
        "TIKTOK_PIXEL_CONSENT": "none",
        #: The first-party cookie holding the visitor's consent choice.
        "TIKTOK_PIXEL_CONSENT_COOKIE": CONSENT_COOKIE,
        #: Addresses or networks that never get the pixel (your office, your monitoring).
        "TIKTOK_PIXEL_INTERNAL_IPS": [],
        #: Bad input raises; otherwise the bad field is dropped with a warning.
        "TIKTOK_PIXEL_STRICT": False,
        #: Print each call to the browser console.
        "TIKTOK_PIXEL_DEBUG": False,
        #: Segment mappings for ``pixel.segment``: None (the destination's presets), the path of a
        #: .toml or .json file, or a ``pixel_embed.segment.SegmentMappings``.
        "TIKTOK_PIXEL_MAPPINGS": None,
        #: Send the calls of htmx and fetch() responses with them (see pixel_embed.partial).
        "TIKTOK_PIXEL_PARTIAL": False,
        #: When the SDK is requested: "async" (TikTok's snippet) or "idle" (after the page loaded).
        "TIKTOK_PIXEL_LOAD": "async",
        #: Seconds a carried identity (identify(..., defer=True)) waits in the session for its
        #: page; older, it is dropped.
        "TIKTOK_PIXEL_IDENTITY_MAX_AGE": 1800,
        #: The Events API access token (TikTok Events Manager, pixel settings): server events on.
        "TIKTOK_PIXEL_ACCESS_TOKEN": None,
        #: Send every tracked event to the Events API too (else only track(..., server=True)).
        "TIKTOK_PIXEL_SERVER_EVENTS": False,
        #: Events Manager's "Test events" code, while testing the integration.
        "TIKTOK_PIXEL_TEST_EVENT_CODE": None,
        #: The Events API endpoint.
        "TIKTOK_PIXEL_EVENTS_API_URL": EVENTS_API_URL,
        #: Seconds to wait for TikTok's answer.
        "TIKTOK_PIXEL_EVENTS_API_TIMEOUT": DEFAULT_TIMEOUT,
        #: Attempts per batch, the first included, before giving up with a logged error (None:
        #: 5 for the memory queue; until too old, every 10 minutes at most, for durable queues).
        "TIKTOK_PIXEL_EVENTS_API_MAX_TRIES": None,
        #: The first retry's wait in seconds; it doubles each time (with jitter, at most 60 s).
        "TIKTOK_PIXEL_EVENTS_API_BACKOFF": RetryPolicy.backoff,
        #: Events waiting for delivery at most; more are dropped with a warning (None: 1,000 in
        #: memory, 100,000 in the outbox).
        "TIKTOK_PIXEL_EVENTS_API_QUEUE_SIZE": None,
        #: Where server events wait: "memory", "sqlite:///PATH", "celery" or "rq"; None: the
        #: outbox in the instance folder, or memory (with a warning) where it cannot be written.
        "TIKTOK_PIXEL_EVENTS_QUEUE": None,
        #: Bytes of waiting events at most (None: memory 8 MB; sqlite 256 MB).
        "TIKTOK_PIXEL_EVENTS_QUEUE_BYTES": None,
        #: Seconds after an event happened when it is dead-lettered instead of sent (durable
        #: queues).
        "TIKTOK_PIXEL_EVENTS_MAX_AGE": MAX_AGE,
        #: Seconds spent delivering what waits when the process stops (SIGTERM, SIGINT, exit).
        "TIKTOK_PIXEL_EVENTS_SHUTDOWN_TIMEOUT": CLOSE_TIMEOUT,
        #: The Celery app that carries server events, with TIKTOK_PIXEL_EVENTS_QUEUE = "celery".
        "TIKTOK_PIXEL_CELERY": None,
        #: The rq.Queue that carries server events, with TIKTOK_PIXEL_EVENTS_QUEUE = "rq".
        "TIKTOK_PIXEL_RQ_QUEUE": None,
        #: Who delivers from the outbox: "thread" (a thread in each process that serves requests
        #: or opens an outbox with events waiting) or "worker" (only `flask tiktok-pixel events
        #: deliver`, run as its own process; web processes only write).
        "TIKTOK_PIXEL_EVENTS_DELIVERY": "thread",
    }
)


@dataclass(frozen=True)
class EventsApiConfig:
    """The Events API's settings, checked (see :data:`DEFAULTS` for each)."""

    access_token: str = field(repr=False)
    url: str = EVENTS_API_URL
    test_event_code: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    #: ``None``: the queue's own default.
    max_tries: int | None = None
    backoff: float = RetryPolicy.backoff
    queue_size: int | None = None
    #: ``None``: :data:`~pixel_embed.events_api.queues.DEFAULT_QUEUE`, or memory where its file
    #: cannot be written.
    queue: str | None = None
    queue_bytes: int | None = None
    max_age: float = MAX_AGE
    shutdown_timeout: float = CLOSE_TIMEOUT
    delivery: str = "thread"
    celery: Any = None
    rq_queue: Any = None

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> EventsApiConfig | None:
        """The Events API settings in ``mapping``; ``None`` when no access token is set.

        :raises ConfigurationError: a setting is invalid (the token's value is never shown).
        """
        settings = Settings(mapping, DEFAULTS)
        token = settings["TIKTOK_PIXEL_ACCESS_TOKEN"]
        if token is None:
            return None
        if not is_printable(token) or " " in token:
            raise ConfigurationError(TOKEN_PROBLEM)
        try:
            return cls._read(settings, token)
        except ConfigurationError as error:
            withhold_secrets(error, token)
            raise

    @classmethod
    def _read(cls, settings: Settings, token: str) -> EventsApiConfig:
        whole_or_none = is_whole_or_none
        config = cls(
            access_token=token,
            url=settings.checked(
                "TIKTOK_PIXEL_EVENTS_API_URL",
                is_endpoint,
                "is not an https URL (plain http is only for a test server on this machine)",
            ),
            test_event_code=settings.checked(
                "TIKTOK_PIXEL_TEST_EVENT_CODE",
                lambda v: v is None or is_printable(v),
                "must be None or the code shown under Test events in TikTok Events Manager",
            ),
            timeout=settings.seconds("TIKTOK_PIXEL_EVENTS_API_TIMEOUT", maximum=MAX_WAIT),
            max_tries=settings.checked(
                "TIKTOK_PIXEL_EVENTS_API_MAX_TRIES",
                whole_or_none,
                "must be a whole number >= 1 (or None), at most 2**53",
            ),
            backoff=settings.seconds(
                "TIKTOK_PIXEL_EVENTS_API_BACKOFF", zero=True, maximum=MAX_WAIT
            ),
            queue_size=settings.checked(
                "TIKTOK_PIXEL_EVENTS_API_QUEUE_SIZE",
                whole_or_none,
                "must be a whole number >= 1 (or None), at most 2**53",
            ),
            queue=settings.checked(
                "TIKTOK_PIXEL_EVENTS_QUEUE",
                lambda v: v is None or (isinstance(v, str) and "\x00" not in v),
                f"must be one of {QUEUE_KINDS} (a path without NUL characters)",
            ),
            shutdown_timeout=settings.seconds(
                "TIKTOK_PIXEL_EVENTS_SHUTDOWN_TIMEOUT", maximum=MAX_WAIT
            )
            if settings["TIKTOK_PIXEL_EVENTS_SHUTDOWN_TIMEOUT"] is not None
            else CLOSE_TIMEOUT,
            max_age=settings.above_zero("TIKTOK_PIXEL_EVENTS_MAX_AGE") or MAX_AGE,
            delivery=settings.checked(
                "TIKTOK_PIXEL_EVENTS_DELIVERY",
                lambda v: isinstance(v, str) and v in DELIVERY_MODES,
                "must be 'thread' or 'worker'",
            ),
            queue_bytes=settings.above_zero("TIKTOK_PIXEL_EVENTS_QUEUE_BYTES", whole=True),
            celery=settings["TIKTOK_PIXEL_CELERY"],
            rq_queue=settings["TIKTOK_PIXEL_RQ_QUEUE"],
        )
        config._check_queue()
        return config

    def _check_queue(self) -> None:
        queue = DEFAULT_QUEUE if self.queue is None else self.queue
        sqlite = queue.startswith("sqlite:///")
        if self.delivery == "worker" and not sqlite:
            raise ConfigurationError(
                f"TIKTOK_PIXEL_EVENTS_DELIVERY 'worker' delivers from the sqlite outbox; "
                f"TIKTOK_PIXEL_EVENTS_QUEUE is {safe_repr(queue)}"
            )
        if queue == "celery" and not is_celery_app(self.celery):
            raise ConfigurationError(
                "TIKTOK_PIXEL_EVENTS_QUEUE 'celery' needs TIKTOK_PIXEL_CELERY, the Celery app "
                "whose workers run pixel_embed.events_api.celery.register(...) (the app itself, "
                f"not its name), not {safe_repr(self.celery)}"
            )
        if queue == "rq" and not is_rq_queue(self.rq_queue):
            raise ConfigurationError(
                "TIKTOK_PIXEL_EVENTS_QUEUE 'rq' needs TIKTOK_PIXEL_RQ_QUEUE, an rq.Queue (the "
                f"queue itself, not its name), not {safe_repr(self.rq_queue)}"
            )
        if not sqlite and queue not in ("memory", "celery", "rq"):
            raise ConfigurationError(
                f"TIKTOK_PIXEL_EVENTS_QUEUE {safe_repr(queue)} must be one of {QUEUE_KINDS}"
            )

    def client(self) -> EventsApiClient:
        """The client these settings describe."""
        return EventsApiClient(
            access_token=self.access_token,
            url=self.url,
            test_event_code=self.test_event_code,
            timeout=self.timeout,
        )

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry settings given (``max_tries`` 0: not given, the queue's default)."""
        return RetryPolicy(max_tries=self.max_tries or 0, backoff=self.backoff)


@dataclass(frozen=True)
class PixelConfig:
    """All of pixel_embed's settings for one site, checked: see :meth:`from_mapping`."""

    #: How pages render the pixel; ``None`` while ``TIKTOK_PIXEL_ENABLED`` is False.
    pixel: PixelSettings | None
    region: str | None = None
    strict: bool = False
    internal_networks: tuple[IPNetwork, ...] = ()
    #: Seconds a carried identity waits for its page.
    identity_max_age: float = 1800.0
    #: ``TIKTOK_PIXEL_PARTIAL``: calls travel with htmx and fetch() responses.
    partial: bool = False
    #: Segment's mappings (``TIKTOK_PIXEL_MAPPINGS``), loaded.
    mappings: SegmentMappings = field(
        default_factory=SegmentMappings.presets, repr=False, compare=False
    )
    #: ``TIKTOK_PIXEL_SERVER_EVENTS``: every tracked event also goes to the Events API.
    server_events: bool = False
    #: The Events API settings; ``None`` without ``TIKTOK_PIXEL_ACCESS_TOKEN``.
    events_api: EventsApiConfig | None = None

    @classmethod
    def from_mapping(
        cls, mapping: Mapping[str, Any], *, integration_keys: Collection[str] = ()
    ) -> PixelConfig:
        """Read and check every ``TIKTOK_PIXEL_*`` key of ``mapping`` (absent keys take
        :data:`DEFAULTS`). Any other ``TIKTOK_PIXEL_*`` key warns, naming the setting it may
        be a typo of.

        :param integration_keys: ``TIKTOK_PIXEL_*`` keys the integration reads itself (a
            framework's own setting): they do not warn.
        :raises ConfigurationError: a setting is invalid; the message names the key.
        """
        settings = Settings(mapping, DEFAULTS)
        settings.unknown_keys(integration_keys)
        try:
            return cls._read(settings, mapping)
        except ConfigurationError as error:
            withhold_secrets(error, settings["TIKTOK_PIXEL_ACCESS_TOKEN"])
            raise

    @classmethod
    def _read(cls, settings: Settings, mapping: Mapping[str, Any]) -> PixelConfig:
        enabled = settings.flag("TIKTOK_PIXEL_ENABLED")
        region = phone_region(settings["TIKTOK_PIXEL_DEFAULT_REGION"])
        pixel = None
        if enabled:
            pixel = PixelSettings(
                codes=pixel_codes(settings["TIKTOK_PIXEL_CODE"]),
                ldu=settings.flag("TIKTOK_PIXEL_LDU"),
                use_existing=settings.flag("TIKTOK_PIXEL_USE_EXISTING"),
                auto_page=settings.flag("TIKTOK_PIXEL_AUTO_PAGE"),
                consent=settings.text("TIKTOK_PIXEL_CONSENT"),
                debug=settings.flag("TIKTOK_PIXEL_DEBUG"),
                consent_cookie=settings.text("TIKTOK_PIXEL_CONSENT_COOKIE"),
                load=settings.text("TIKTOK_PIXEL_LOAD"),
            )
        max_age = settings.seconds("TIKTOK_PIXEL_IDENTITY_MAX_AGE")
        return cls(
            pixel=pixel,
            region=region,
            strict=settings.flag("TIKTOK_PIXEL_STRICT"),
            internal_networks=networks(settings["TIKTOK_PIXEL_INTERNAL_IPS"]),
            identity_max_age=float(max_age),
            mappings=mappings_from_config(settings["TIKTOK_PIXEL_MAPPINGS"]),
            server_events=settings.checked(
                "TIKTOK_PIXEL_SERVER_EVENTS", lambda v: isinstance(v, bool), "must be a bool"
            ),
            events_api=EventsApiConfig.from_mapping(mapping),
            partial=settings.flag("TIKTOK_PIXEL_PARTIAL"),
        )

    def on_error(self, error: InvalidInput) -> None:
        """What becomes of a bad field: raised in strict mode, else dropped (or, for personal
        data in free text, masked) with a warning that withholds personal data."""
        if self.strict:
            raise error
        verb = "masked" if isinstance(error, PersonalDataInText) else "dropped"
        log.warning("TikTok pixel: %s %s", verb, error.redacted())
