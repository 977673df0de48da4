"""``pixel.segment``: Segment-spec calls (``track``, ``identify``, ``page``) in, TikTok calls out.

Call sites read as with Segment's analytics-python; the mappings (``TIKTOK_PIXEL_MAPPINGS``)
decide what each call becomes, and the calls go through ``pixel.identify`` and ``pixel.track``,
so hashing, validation (strict or lenient), deferring and rendering are the core's.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from ..errors import ConfigurationError, safe_repr
from .presets import SegmentMappings

if TYPE_CHECKING:
    from ..core.view import PixelCore

log = logging.getLogger("pixel_embed")


def mappings_from_config(value: object) -> SegmentMappings:
    """The mappings ``TIKTOK_PIXEL_MAPPINGS`` names: ``None`` for the destination's presets, a
    path to a ``.toml`` / ``.json`` file, or a :class:`SegmentMappings`.

    :raises ConfigurationError: the value, the file, or a mapping in it is invalid.
    """
    if value is None:
        return SegmentMappings.presets()
    if isinstance(value, SegmentMappings):
        return value
    if isinstance(value, str | os.PathLike):
        return SegmentMappings.load(cast("str | os.PathLike[str]", value))
    raise ConfigurationError(
        "TIKTOK_PIXEL_MAPPINGS must be None (the Segment destination's presets), the path of "
        f"a .toml or .json file, or a SegmentMappings, not {safe_repr(value)}"
    )


def _message(**fields: Any) -> dict[str, Any]:
    # A Segment message: fields not given are absent; properties, traits, context copied.
    return {
        key: dict(value) if isinstance(value, Mapping) else value
        for key, value in fields.items()
        if value is not None
    }


class SegmentAdapter:
    """Segment's ``track`` / ``identify`` / ``page`` on a :class:`~pixel_embed.TikTokPixel`
    (or any integration's pixel); available as ``pixel.segment``::

        pixel.segment.identify("u-42", {"email": "jane@example.com"})
        pixel.segment.track("Order Completed", {"order_id": "o-1", "revenue": 42.5,
                                                "currency": "USD", "products": [...]})
    """

    def __init__(self, pixel: PixelCore) -> None:
        self._pixel = pixel

    @property
    def mappings(self) -> SegmentMappings:
        """The current site's mappings (``TIKTOK_PIXEL_MAPPINGS``, read at start-up)."""
        return self._pixel.request_state("segment.mappings").config.mappings

    def track(
        self,
        event: str,
        properties: Mapping[str, Any] | None = None,
        *,
        message_id: str | None = None,
        user_id: str | int | None = None,
        anonymous_id: str | None = None,
        context: Mapping[str, Any] | None = None,
        defer: bool = False,
    ) -> list[str]:
        """Segment's ``track``: queue what the mappings subscribed to ``event`` make of it.

        :param message_id: Segment's ``messageId``, the TikTok ``event_id`` by default (share it
            with a server-side destination to deduplicate); a new UUID when omitted.
        :param context: Segment's context; ``context.traits`` supplies e-mail, phone, name and
            address when the properties do not.
        :param defer: fire on the next page rendered for this browser (see ``pixel.track``).
        :returns: the event ids queued; empty when no mapping takes the event.
        """
        return self._send(
            _message(
                type="track",
                event=event,
                properties=properties,
                messageId=message_id,
                userId=user_id,
                anonymousId=anonymous_id,
                context=context,
            ),
            defer=defer,
            caller="track",
            label=f"track {safe_repr(event)}",
        )

    def page(
        self,
        name: str | None = None,
        properties: Mapping[str, Any] | None = None,
        *,
        message_id: str | None = None,
        user_id: str | int | None = None,
        anonymous_id: str | None = None,
        context: Mapping[str, Any] | None = None,
        defer: bool = False,
    ) -> list[str]:
        """Segment's ``page`` (by default ViewContent, with the properties as the product when
        they have a ``product_id``).

        :returns: the event ids queued.
        """
        return self._send(
            _message(
                type="page",
                name=name,
                properties=properties,
                messageId=message_id,
                userId=user_id,
                anonymousId=anonymous_id,
                context=context,
            ),
            defer=defer,
            caller="page",
            label="page" + (f" {safe_repr(name)}" if name else ""),
        )

    def identify(
        self,
        user_id: str | int | None = None,
        traits: Mapping[str, Any] | None = None,
        *,
        anonymous_id: str | None = None,
    ) -> None:
        """Segment's ``identify``: e-mail, phone, name and address from the traits, the user id
        as ``external_id``; all hashed before the page is rendered."""
        message = _message(type="identify", userId=user_id, anonymousId=anonymous_id, traits=traits)
        self._send(message, defer=False, caller="identify", label="identify")

    def _send(
        self, message: Mapping[str, Any], *, defer: bool, caller: str, label: str
    ) -> list[str]:
        # The core's error outside a request, naming this method.
        state = self._pixel.request_state(f"segment.{caller}")
        calls = state.config.mappings.calls(message)
        if not calls:
            log.debug("TikTok pixel: Segment %s matches no mapping; ignored", label)
        event_ids = []
        for call in calls:
            if call.identity:
                self._pixel.identify(**call.identity)
            if call.event is not None:
                event_id = self._pixel.track(
                    call.event, call.params, event_id=call.event_id, defer=defer
                )
                if event_id:  # "": lenient mode dropped it (an invalid event name)
                    event_ids.append(event_id)
        return event_ids
