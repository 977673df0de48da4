"""Every ``TIKTOK_PIXEL_*`` setting: its default, its check, its error, read from any mapping.

An integration hands :meth:`PixelConfig.from_mapping` its framework's settings as a mapping
(Flask's ``app.config``; Django's settings, their upper-case names; Starlette's dict) and keeps
the frozen result. Keys that are absent take :data:`DEFAULTS`. Every error is a
:class:`~pixel_embed.errors.ConfigurationError` that names the key and says what is wrong with
the value. The page's settings are checked while the pixel is enabled; the Events API's when
``TIKTOK_PIXEL_ACCESS_TOKEN`` is set (until then none of them is read).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigurationError, InvalidInput, PersonalDataInText
from ..events_api.client import DEFAULT_TIMEOUT, EVENTS_API_URL, EventsApiClient
from ..events_api.delivery import CLOSE_TIMEOUT, RetryPolicy
from ..events_api.outbox import MAX_AGE
from ..events_api.queues import DEFAULT_QUEUE, DELIVERY_MODES, QUEUE_KINDS
from ..matching import is_region_code
from ..render import CONSENT_COOKIE, PixelSettings
from ..segment.adapter import mappings_from_config
from ..segment.presets import SegmentMappings

log = logging.getLogger("pixel_embed")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

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

_TOKEN_PROBLEM = (
    "TIKTOK_PIXEL_ACCESS_TOKEN must be a string of printable characters without spaces, "
    "as shown in TikTok Events Manager (the value is not repeated here)"
)


class _Settings:
    """The mapping being read, with the defaults under it; each check names its key."""

    def __init__(self, mapping: Mapping[str, Any]) -> None:
        self._mapping = mapping

    def __getitem__(self, key: str) -> Any:
        try:
            return self._mapping[key]
        except KeyError:
            return DEFAULTS[key]

    def flag(self, key: str) -> bool:
        value = self[key]
        if not isinstance(value, bool):
            raise ConfigurationError(f"{key} must be True or False, not {value!r}")
        return value

    def checked(self, key: str, ok: Callable[[Any], bool], problem: str) -> Any:
        value = self[key]
        if not ok(value):
            raise ConfigurationError(f"{key} {value!r} {problem}")
        return value

    def above_zero(self, key: str, *, whole: bool = False) -> Any:
        """A number above 0, or ``None`` (the default for its kind)."""
        kind = "a whole number" if whole else "a number"
        return self.checked(
            key,
            lambda v: v is None or (_is_number(v, whole=whole) and v > 0),
            f"must be {kind} above 0",
        )


def _is_number(value: object, *, whole: bool = False) -> bool:
    kind = int if whole else int | float
    return isinstance(value, kind) and not isinstance(value, bool)


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
        settings = _Settings(mapping)
        token = settings["TIKTOK_PIXEL_ACCESS_TOKEN"]
        if token is None:
            return None
        if not _is_printable(token) or " " in token:
            raise ConfigurationError(_TOKEN_PROBLEM)

        def whole_or_none(v: object) -> bool:
            return v is None or (_is_number(v, whole=True) and v >= 1)  # type: ignore[operator]

        config = cls(
            access_token=token,
            url=settings.checked(
                "TIKTOK_PIXEL_EVENTS_API_URL",
                _is_endpoint,
                "is not an https URL (plain http is only for a test server on this machine)",
            ),
            test_event_code=settings.checked(
                "TIKTOK_PIXEL_TEST_EVENT_CODE",
                lambda v: v is None or _is_printable(v),
                "must be None or the code shown under Test events in TikTok Events Manager",
            ),
            timeout=settings.checked(
                "TIKTOK_PIXEL_EVENTS_API_TIMEOUT",
                lambda v: _is_number(v) and v > 0,
                "must be a number of seconds above 0",
            ),
            max_tries=settings.checked(
                "TIKTOK_PIXEL_EVENTS_API_MAX_TRIES", whole_or_none, "must be a whole number >= 1"
            ),
            backoff=settings.checked(
                "TIKTOK_PIXEL_EVENTS_API_BACKOFF",
                lambda v: _is_number(v) and v >= 0,
                "must be a number of seconds, 0 or more",
            ),
            queue_size=settings.checked(
                "TIKTOK_PIXEL_EVENTS_API_QUEUE_SIZE", whole_or_none, "must be a whole number >= 1"
            ),
            queue=settings.checked(
                "TIKTOK_PIXEL_EVENTS_QUEUE",
                lambda v: v is None or isinstance(v, str),
                f"must be one of {QUEUE_KINDS}",
            ),
            shutdown_timeout=settings.above_zero("TIKTOK_PIXEL_EVENTS_SHUTDOWN_TIMEOUT")
            or CLOSE_TIMEOUT,
            max_age=settings.above_zero("TIKTOK_PIXEL_EVENTS_MAX_AGE") or MAX_AGE,
            delivery=settings.checked(
                "TIKTOK_PIXEL_EVENTS_DELIVERY",
                lambda v: v in DELIVERY_MODES,
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
                f"TIKTOK_PIXEL_EVENTS_QUEUE is {queue!r}"
            )
        if queue == "celery" and self.celery is None:
            raise ConfigurationError(
                "TIKTOK_PIXEL_EVENTS_QUEUE 'celery' needs TIKTOK_PIXEL_CELERY, the Celery app "
                "whose workers run pixel_embed.events_api.celery.register(...)"
            )
        if queue == "rq" and self.rq_queue is None:
            raise ConfigurationError(
                "TIKTOK_PIXEL_EVENTS_QUEUE 'rq' needs TIKTOK_PIXEL_RQ_QUEUE, an rq.Queue"
            )
        if not sqlite and queue not in ("memory", "celery", "rq"):
            raise ConfigurationError(
                f"TIKTOK_PIXEL_EVENTS_QUEUE {queue!r} must be one of {QUEUE_KINDS}"
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
    def from_mapping(cls, mapping: Mapping[str, Any]) -> PixelConfig:
        """Read and check every ``TIKTOK_PIXEL_*`` key of ``mapping`` (absent keys take
        :data:`DEFAULTS`).

        :raises ConfigurationError: a setting is invalid; the message names the key.
        """
        settings = _Settings(mapping)
        enabled = settings.flag("TIKTOK_PIXEL_ENABLED")
        region = settings["TIKTOK_PIXEL_DEFAULT_REGION"]
        if region is not None and not is_region_code(region):
            raise ConfigurationError(
                f"TIKTOK_PIXEL_DEFAULT_REGION {region!r} is not an ISO 3166 alpha-2 code "
                "such as 'US'"
            )
        pixel = None
        if enabled:
            code = settings["TIKTOK_PIXEL_CODE"]
            pixel = PixelSettings(
                codes=(code,) if isinstance(code, str) else tuple(code or ()),
                ldu=settings.flag("TIKTOK_PIXEL_LDU"),
                use_existing=settings.flag("TIKTOK_PIXEL_USE_EXISTING"),
                auto_page=settings.flag("TIKTOK_PIXEL_AUTO_PAGE"),
                consent=settings["TIKTOK_PIXEL_CONSENT"],
                debug=settings.flag("TIKTOK_PIXEL_DEBUG"),
                consent_cookie=settings["TIKTOK_PIXEL_CONSENT_COOKIE"],
                load=settings["TIKTOK_PIXEL_LOAD"],
            )
        max_age = settings["TIKTOK_PIXEL_IDENTITY_MAX_AGE"]
        if not (_is_number(max_age) and max_age > 0):
            raise ConfigurationError(
                f"TIKTOK_PIXEL_IDENTITY_MAX_AGE must be a number of seconds above 0, not "
                f"{max_age!r}"
            )
        return cls(
            pixel=pixel,
            region=region.upper() if region else None,
            strict=settings.flag("TIKTOK_PIXEL_STRICT"),
            internal_networks=_networks(settings["TIKTOK_PIXEL_INTERNAL_IPS"]),
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
