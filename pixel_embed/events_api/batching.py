"""Cutting events into the requests TikTok takes, and isolating the events it refuses.

One ``/event/track/`` request carries the events of one destination (:mod:`.sources`), at most
:data:`MAX_BATCH_EVENTS` of them and :data:`MAX_BATCH_BYTES` of JSON (:func:`batches`); a
request TikTok refuses is posted again in halves until only the refused events are left
(:func:`post_isolating`). Every queue uses them: the memory queue, Celery and RQ through
:func:`post_isolating`, the outbox through :func:`batches` and its own halving.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import orjson

from ..errors import InvalidEvent
from .client import DeliveryError, EventsApiClient
from .sources import destination

#: Events at most in one request: TikTok's limit for the ``data`` list of one
#: ``/event/track/`` request is 1,000 (see docs/server-events.md for the sources, which
#: differ). A batch TikTok refuses is halved down to the refused events (:func:`post_isolating`),
#: so a large batch no longer fails large.
MAX_BATCH_EVENTS = 1000
#: Bytes at most in one request body. TikTok's public pages state no limit; 1 MB is the limit
#: Tealium's TikTok Events connector batches to, well under the request sizes HTTP gateways
#: refuse, and above what 1,000 typical events take (about 600 bytes each).
MAX_BATCH_BYTES = 1_000_000
# Bytes of a request body that are not events: the envelope, a test event code, the commas.
_ENVELOPE_BYTES = 1024

_T = TypeVar("_T")


def batches(
    items: Sequence[_T],
    sizes: Sequence[int],
    *,
    max_events: int = MAX_BATCH_EVENTS,
    max_bytes: int = MAX_BATCH_BYTES,
) -> list[list[_T]]:
    """``items`` (events of one destination, of ``sizes`` bytes as JSON) cut into requests of
    at most ``max_events`` events and ``max_bytes`` bytes, in order. An event larger than
    ``max_bytes`` by itself goes alone (TikTok refuses it, or not: it says)."""
    budget = max(1, max_bytes - _ENVELOPE_BYTES)
    cut: list[list[_T]] = []
    current: list[_T] = []
    used = 0
    for item, size in zip(items, sizes, strict=True):
        if current and (len(current) >= max_events or used + size + 1 > budget):
            cut.append(current)
            current, used = [], 0
        current.append(item)
        used += size + 1
    if current:
        cut.append(current)
    return cut


def where(key: str) -> str:
    """A destination key as a log line names it ("pixel code C…", "CRM event set id 7…")."""
    try:
        return str(destination(key))
    except InvalidEvent:
        return repr(key)


def post_isolating(
    client: EventsApiClient, pixel_code: str, data: Sequence[Mapping[str, Any]]
) -> list[tuple[list[Mapping[str, Any]], DeliveryError]]:
    """Post a batch (cut first into requests TikTok takes, :func:`batches`); when TikTok
    refuses one (a 4xx, or a non-zero ``code``: it names no event), post it again in halves,
    down to single events, so that one bad event does not take its batch-mates with it.

    :param pixel_code: the destination's key (:attr:`.sources.Destination.key`).
    :returns: the events that failed, with why (none: all accepted).
    """
    if len(data) > 1:
        parts = batches(data, [len(orjson.dumps(item)) for item in data])
        if len(parts) > 1:
            return [
                failure for part in parts for failure in post_isolating(client, pixel_code, part)
            ]
    try:
        client.post(pixel_code, data)
    except DeliveryError as exc:
        if exc.retryable or exc.whole_request or len(data) == 1:
            return [(list(data), exc)]
        half = len(data) // 2
        return post_isolating(client, pixel_code, data[:half]) + post_isolating(
            client, pixel_code, data[half:]
        )
    return []


def by_pixel(items: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Events grouped by pixel code, as plain JSON-ready dicts (one job per pixel)."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for pixel_code, data in items:
        grouped.setdefault(pixel_code, []).append(dict(data))
    return grouped
