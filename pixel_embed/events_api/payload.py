"""The Events API request body, built from the same :class:`Event` the browser fires.

Framework-free. The shape is TikTok's Events API 2.0 endpoint (web events shown; CRM and
offline events differ in ``event_source``, their id and a CRM event's ``lead``: :mod:`.sources`),
``POST https://business-api.tiktok.com/open_api/v1.3/event/track/`` with the header
``Access-Token`` (TikTok for Business API reference, portal/docs?id=1771101303285761)::

    {"event_source": "web", "event_source_id": "<pixel code>", "test_event_code": "…",
     "data": [{"event": "Purchase", "event_time": 1700000000, "event_id": "<id>",
               "user": {"email": "<sha256>", "phone": "<sha256>", "external_id": "<sha256>",
                        "ttclid": "…", "ttp": "…", "ip": "…", "user_agent": "…"},
               "page": {"url": "…", "referrer": "…"},
               "properties": {"contents": […], "value": 42.5, "currency": "USD", …},
               "limited_data_use": false}]}

What each source sends, and what we take from it:

- TikTok's API reference allows ``email``, ``phone`` and ``external_id`` as one string or a
  list. We send one string each: the page's ``ttq.identify`` holds one value per field, and the
  server event carries the very same hashes.
- Segment's TikTok Conversions destination (segmentio/action-destinations,
  ``packages/destination-actions/src/destinations/tiktok-conversions/reportWebEvent/utils.ts``)
  sends those three as lists, always sends ``contents`` (``[]`` when empty) and adds
  ``"partner_name": "Segment"``, the name TikTok gives an integration partner. We are not
  Segment, and TikTok has no partner name for us, so we send none.
- TikTok's own Events API template for Google Tag Manager builds ``contents[0]`` from an event's
  single-product fields; Segment's and TikTok's WooCommerce payloads only ever use
  ``contents``. So do we: ``content_id``, ``content_name``, ``content_category``, ``price``,
  ``quantity`` and ``brand`` tracked at the top level go to the server as ``contents[0]``.
- ``event`` is the name TikTok's SDK puts on the wire for the page's event (see
  :data:`~pixel_embed.events.WIRE_EVENT_NAMES`): ``CompletePayment`` goes out as
  ``Purchase``, ``SubmitForm`` as ``Lead``. TikTok deduplicates a pixel event and a server
  event when they have the identical ``event`` and ``event_id`` ("Event deduplication",
  ads.tiktok.com/help/article/event-deduplication), and says nowhere that an old name and its
  new name count as identical.

``event_id`` is the very string the page passes to ``ttq.track``: TikTok keeps one of the pair.
It is never turned into a number or given a suffix, or the pair would not be deduplicated.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..events import Event, wire_event_name
from ..matching import Identity
from ..screening import scrub_url
from .sources import Destination, destination

#: Fields of one product that a page may track at the top level (``ttq.track("ViewContent",
#: {"content_id": …})``); the Events API reads them from ``contents``.
SINGLE_PRODUCT_FIELDS = (
    "content_id",
    "content_name",
    "content_category",
    "price",
    "quantity",
    "brand",
)


def server_properties(params: Mapping[str, Any]) -> dict[str, Any]:
    """An event's parameters as the Events API reads them: a single product tracked at the top
    level (with a ``content_id``, and no ``contents``) becomes ``contents[0]``."""
    properties = dict(params)
    if "contents" not in properties and "content_id" in properties:
        item = {key: properties.pop(key) for key in SINGLE_PRODUCT_FIELDS if key in properties}
        properties["contents"] = [item]
    return properties


#: ``Identity`` fields and their names in the Events API ``user`` object (only the phone differs).
_USER_FIELDS = {
    "email": "email",
    "phone_number": "phone",
    "external_id": "external_id",
    "first_name": "first_name",
    "last_name": "last_name",
    "city": "city",
    "state": "state",
    "country": "country",
    "zip_code": "zip_code",
}


@dataclass(frozen=True)
class RequestContext:
    """What the server knows about the browser that made the request.

    :param ip: the client's address (behind a proxy, configure Werkzeug's ``ProxyFix``).
    :param user_agent: the ``User-Agent`` header.
    :param url: the page's URL.
    :param referrer: the ``Referer`` header.
    :param ttp: the ``_ttp`` cookie TikTok's SDK sets in the browser.
    :param ttclid: the TikTok click id the visitor landed with (see :mod:`.clickid`).
    """

    ip: str | None = None
    user_agent: str | None = None
    url: str | None = None
    referrer: str | None = None
    ttp: str | None = None
    ttclid: str | None = None


def _present(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value not in (None, "")}


def server_event(
    event: Event,
    identity: Identity,
    context: RequestContext,
    *,
    event_time: float | None = None,
    limited_data_use: bool = False,
    lead: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One entry of the request body's ``data`` list.

    :param event_time: when the event happened (Unix seconds); now by default.
    :param limited_data_use: TikTok's Limited Data Use flag, as set on the pixel.
    :param lead: a CRM event's ``lead`` object (``lead_id``, ``lead_event_source``; see
        :mod:`.sources`).
    """
    hashed = identity.as_params()
    user = {_USER_FIELDS[name]: value for name, value in hashed.items()}
    user.update(
        _present(
            {
                "ttclid": context.ttclid,
                "ttp": context.ttp,
                "ip": context.ip,
                "user_agent": context.user_agent,
            }
        )
    )
    data: dict[str, Any] = {
        "event": wire_event_name(event.name),
        "event_time": int(time.time() if event_time is None else event_time),
        "event_id": event.event_id,
        "user": user,
    }
    # Query strings carry reset tokens and typed-in e-mail addresses: see scrub_url.
    page = _present({"url": scrub_url(context.url), "referrer": scrub_url(context.referrer)})
    if page:
        data["page"] = page
    data["properties"] = server_properties(event.params)
    if lead:
        data["lead"] = _present(dict(lead))
    data["limited_data_use"] = limited_data_use
    return data


def request_body(
    pixel_code: str | Destination,
    data: Iterable[Mapping[str, Any]],
    *,
    test_event_code: str | None = None,
) -> dict[str, Any]:
    """The JSON body of one Events API request: a batch of events for one destination.

    :param pixel_code: the destination (a pixel code is a web destination; see
        :func:`.sources.destination`).
    """
    where = destination(pixel_code)
    body: dict[str, Any] = {"event_source": where.source, "event_source_id": where.source_id}
    if test_event_code:
        body["test_event_code"] = test_event_code
    body["data"] = [dict(item) for item in data]
    return body
