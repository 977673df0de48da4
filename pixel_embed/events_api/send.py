"""Server events from anywhere: a payment provider's webhook, a Celery or RQ task, a CRM sync, a
script. No request, no framework: :func:`send_event` validates, screens and hashes as
``track()`` and ``identify()`` do, and hands the event to the same queue (the outbox, the memory
queue, Celery or RQ) as the server copies of page events.

::

    # checkout view: keep what matches the visitor with the order
    order.matching_context = pixel.matching_context()

    # the payment provider's webhook, minutes later, without the visitor
    send_event(app, "CompletePayment", value=order.total, currency="EUR",
               order_id=order.id, context=order.matching_context)

With ``order_id`` and no ``event_id``, a purchase event's id is
:func:`~pixel_embed.events.order_event_id`, exactly as the browser side derives it, so the
webhook's event and the success page's browser event deduplicate at TikTok whichever arrives
first.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import InvalidEvent, InvalidInput
from ..events import validate_event
from ..matching import NO_IDENTITY, Identity
from .context import CLOCK_SKEW, StoredContext, read
from .payload import RequestContext, server_event
from .quality import MemoryQuality
from .sources import MAX_AGE, SOURCES, Destination, missing_fields

log = logging.getLogger("pixel_embed.events_api")

#: Match-quality counts of events handed to a sender that keeps none itself (Celery, RQ, a
#: site's own sender): this process's (:mod:`.quality`).
PROCESS_QUALITY = MemoryQuality()
# What identify() takes, the raw fields of an Identity.
_IDENTITY_FIELDS = tuple(field.name for field in dataclasses.fields(Identity))


def quality_store(sender: object) -> Any:
    """Where the match-quality counts of events handed to ``sender`` are kept."""
    return getattr(sender, "quality", None) or PROCESS_QUALITY


def enqueue(sender: Any, items: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
    """Hand events (destination key, Events API data) to ``sender``, all at once where it can
    take them so (the outbox: one transaction), and count their matching keys where the
    sender keeps no counts itself.

    :raises Exception: what the sender raises (a task queue's broker unreachable).
    """
    if not items:
        return
    send_many = getattr(sender, "send_many", None)
    taken: Sequence[tuple[str, Mapping[str, Any]]] = items
    failure: Exception | None = None
    if send_many is not None:
        send_many(items)
    else:  # one by one: one that fails does not keep the others from the sender
        taken = []
        for key, data in items:
            try:
                sender.send(key, data)
            except Exception as exc:
                failure = failure or exc
            else:
                taken.append((key, data))
    if getattr(sender, "quality", None) is None:
        PROCESS_QUALITY.count(taken)
    if failure is not None:
        raise failure


def _raise(error: InvalidInput) -> None:
    raise error


class _Target:
    """What :func:`send_event` needs of its first argument."""

    def __init__(
        self,
        server: Any,
        *,
        on_error: Callable[[InvalidInput], None] = _raise,
        region: str | None = None,
        strict: bool = True,
        internal: tuple[Any, ...] = (),
    ) -> None:
        self.server = server
        self.region = region
        self.on_error = on_error
        self.strict = strict
        #: TIKTOK_PIXEL_INTERNAL_IPS: a visit from them sends no server event, later either.
        self.internal = internal

    def is_internal(self, address: str | None) -> bool:
        if not self.internal or not address:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.internal)


# Set-ups built from plain settings (a script's dict, Django's settings), by the mapping's id:
# one sender per mapping, not one per event. The mapping is kept, so its id is not reused.
_BUILT: dict[int, tuple[object, Any]] = {}
_BUILT_LIMIT = 8


def _setup_of(settings: Mapping[str, Any]) -> Any:
    from ..core.config import PixelConfig
    from ..core.state import AppSetup

    built = _BUILT.get(id(settings))
    if built is None:
        if len(_BUILT) >= _BUILT_LIMIT:
            raise RuntimeError(
                f"send_event() was given {_BUILT_LIMIT} different settings mappings: pass one "
                "long-lived mapping (or the app), not a new dict per event"
            )
        setup = AppSetup.build(
            PixelConfig.from_mapping(settings), instance_path=os.getcwd(), start_waiting=False
        )
        built = _BUILT[id(settings)] = (settings, setup)
    return built[1]


def _target(target: Any) -> _Target | None:
    from ..core.config import PixelConfig
    from ..core.state import AppSetup
    from .hooks import EXTENSION_KEY, ServerEvents

    if isinstance(target, ServerEvents):
        return _Target(target)
    extensions = getattr(target, "extensions", None)
    config = getattr(target, "config", None)
    if isinstance(extensions, Mapping) and isinstance(config, Mapping):  # a Flask app
        server = extensions.get(EXTENSION_KEY)
        if server is None:
            return None
        pixel = extensions.get("tiktok_pixel")
        if pixel is None:
            return _Target(server)
        read = PixelConfig.from_mapping(config)
        return _Target(
            server,
            on_error=read.on_error,
            region=read.region,
            strict=read.strict,
            internal=read.internal_networks,
        )
    if isinstance(target, Mapping):
        target = _setup_of(target)
    if isinstance(target, AppSetup):
        if target.server_events is None:
            return None
        config = target.config
        return _Target(
            target.server_events,
            on_error=config.on_error,
            region=config.region,
            strict=config.strict,
            internal=config.internal_networks,
        )
    raise TypeError(
        "send_event() sends through a Flask app that set up TikTokPixel, an AppSetup, a "
        f"ServerEvents, or a mapping of TIKTOK_PIXEL_* settings; got {type(target).__name__}"
    )


def _identity(given: object, target: _Target) -> Identity:
    if given is None:
        return NO_IDENTITY
    if isinstance(given, Identity):
        return given
    if not isinstance(given, Mapping):
        raise InvalidEvent(
            "identity", type(given).__name__, "must be a mapping (email=..., phone_number=...)"
        )
    unknown = [key for key in given if key not in _IDENTITY_FIELDS]
    if unknown:
        raise InvalidEvent(
            f"identity.{unknown[0]}" if isinstance(unknown[0], str) else "identity",
            None,
            f"is not one of {', '.join(_IDENTITY_FIELDS)}",
        )
    return Identity.from_raw(**dict(given), region=target.region, on_error=target.on_error)


def _event_time(value: object, source: str, now: float) -> float:
    if value is None:
        return now
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise InvalidEvent(
                "event_time", str(value), "has no time zone: give an aware datetime (UTC)"
            )
        seconds = value.timestamp()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise InvalidEvent(
            "event_time", type(value).__name__, "must be Unix seconds or an aware datetime"
        )
    if seconds != seconds or seconds > now + CLOCK_SKEW:
        raise InvalidEvent("event_time", value, "is in the future")
    limit = MAX_AGE[source]
    if now - seconds > limit:
        raise InvalidEvent(
            "event_time",
            value,
            f"is more than {limit / 86400:g} days ago: TikTok attributes no {source} event "
            "that old",
        )
    return seconds


def send_event(
    target: Any,
    event: str,
    params: Mapping[str, Any] | None = None,
    /,
    *,
    context: object = None,
    identity: Identity | Mapping[str, Any] | None = None,
    event_id: str | None = None,
    event_time: float | dt.datetime | None = None,
    source: str = "web",
    source_id: str | None = None,
    lead: Mapping[str, str] | None = None,
    **properties: Any,
) -> str | None:
    """Send one server event, with no request: through the queue the app's settings name.

    :param target: a Flask app that set up ``TikTokPixel`` (its settings: strict mode, the
        default region, the queue), or a :class:`~.hooks.ServerEvents`.
    :param event: the event's name, as ``track()`` takes it (``"CompletePayment"``).
    :param params: its parameters, as ``track()`` takes them (or as keyword arguments).
    :param context: what ``pixel.matching_context()`` returned in the visitor's request (or
        its JSON): their click id, ``_ttp``, IP address, user agent, page URL, hashed identity,
        consent choice and Limited Data Use, as they were. A field that is not what it
        captured is refused by itself (strict mode: raised; else logged and left out).
    :param identity: raw or :class:`~pixel_embed.matching.Identity` matching fields
        (``{"email": ..., "phone_number": ...}``), normalised and hashed as ``identify()``
        does; they win over the context's.
    :param event_id: the deduplication id; by default, for a purchase event with an
        ``order_id``, :func:`~pixel_embed.events.order_event_id` (the browser's id for that
        order), else a new one.
    :param event_time: when it happened: Unix seconds or an aware datetime (now by default);
        at most 48 hours ago for a web event, 28 days for CRM and offline ones.
    :param source: ``"web"`` (the app's pixel codes), ``"crm"`` or ``"offline"`` (with
        ``source_id``, the event set id; see :mod:`.sources`).
    :param source_id: a web event's pixel code (every configured one by default), or the
        CRM or offline event set id.
    :param lead: a CRM event's ``{"lead_id": ..., "lead_event_source": ...}``.
    :returns: the event id; ``None`` when nothing was sent: server events are off, the
        visitor declined (or, in ``strict`` consent mode, never accepted), the visit came from
        ``TIKTOK_PIXEL_INTERNAL_IPS`` (the context's address), or lenient mode dropped an
        invalid event.
    :raises InvalidEvent: a bad argument (strict mode: any; lenient: the source, its id, the
        time, the identity's shape, or a field the source requires, without which TikTok
        cannot take the event).
    :raises Exception: what the queue raises when it cannot take the event (a task queue's
        broker unreachable): a webhook answering an error is retried by its provider, and the
        derived ``event_id`` keeps a retry from counting twice.
    """
    from ..core.view import given_params
    from .hooks import consent_allows

    resolved = _target(target)
    if resolved is None:
        log.debug("TikTok Events API: server events are off; %s not sent", event)
        return None
    server = resolved.server
    now = time.time()
    if source not in SOURCES:
        raise InvalidEvent("source", source, f"is not one of {', '.join(SOURCES)}")
    if source == "web":
        keys = list(server.codes) if source_id is None else [Destination("web", source_id).key]
    else:
        if source_id is None:
            raise InvalidEvent("source_id", None, f"is required: the {source} event set id")
        keys = [Destination(source, source_id).key]
    when = _event_time(event_time, source, now)
    try:
        checked = validate_event(
            event, given_params(params, properties), event_id=event_id, on_error=resolved.on_error
        )
    except InvalidEvent as exc:
        if resolved.strict or exc.field != "event":
            raise
        log.warning("TikTok Events API: send_event dropped an event: %s", exc.redacted())
        return None
    stored = (
        read(context, on_error=resolved.on_error, now=now)
        if context is not None
        else StoredContext(RequestContext(), NO_IDENTITY, None, False, now)
    )
    if stored.consent == "denied" or (
        source == "web" and not consent_allows(server.consent, stored.consent)
    ):
        log.info(
            "TikTok Events API: %s %s not sent: the visitor's consent (%s) does not allow it",
            checked.name,
            checked.event_id,
            stored.consent or "not given",
        )
        return None
    if resolved.is_internal(stored.request.ip):
        log.info(
            "TikTok Events API: %s %s not sent: the visit came from TIKTOK_PIXEL_INTERNAL_IPS",
            checked.name,
            checked.event_id,
        )
        return None
    who = stored.identity.extended(_identity(identity, resolved))
    data = server_event(
        checked,
        who,
        stored.request,
        event_time=when,
        limited_data_use=server.ldu or stored.ldu,
        lead=lead,
    )
    missing = missing_fields(source, data)
    if missing is not None:
        raise missing
    enqueue(server.sender, [(key, data) for key in keys])
    return checked.event_id
