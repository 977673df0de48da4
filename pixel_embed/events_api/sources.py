"""TikTok's event sources: where an event happened, the id TikTok files it under, the fields it
cannot be matched without, and how old it may be.

One Events API request carries events of one source and one id (``event_source``,
``event_source_id``). What each source is, from TikTok's public pages and the TikTok-maintained
Segment destinations (segmentio/action-destinations, ``tiktok-conversions`` and
``tiktok-offline-conversions``):

- ``"web"``: events of a website, filed under its **pixel code**.
- ``"crm"``: lead events of a CRM system (a lead qualified, a deal won), filed under a **CRM
  event set id** (Events Manager, "Connect data source", CRM; TikTok help "How to postback
  signals through Events API"). An event carries a ``lead`` object: ``lead_id``, the id of a
  TikTok lead-generation lead, and ``lead_event_source``, the CRM's name ("HubSpot",
  "Salesforce"; Segment's ``crm_fields.ts``, 2025). TikTok matches a CRM event by its
  ``lead_id`` or by the lead's hashed e-mail or phone: one of them is required (TikTok help
  "About signal postback for lead quality optimization", and the CSV variant's "at minimum, one
  of lead_id, email, phone").
- ``"offline"``: sales in a shop, by phone, at an event, filed under an **offline event set id**.
  Segment's offline destination refuses an event without a hashed e-mail, phone or external id
  ("requires an email address and/or phone number and or a userId"): there is no browser to
  match it by.

Event set ids are numbers of about 19 digits ("7654321098765432109"); pixel codes are 20
upper-case letters and digits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

from ..errors import InvalidEvent

EventSource = Literal["web", "crm", "offline"]
#: Every source, in the order the docs list them.
SOURCES: tuple[EventSource, ...] = get_args(EventSource)

_DAY = 24 * 3600.0
#: Seconds after it happened when an event of each source is no longer sent, but dead-lettered.
#: Web: two days (TikTok's pages state no limit that we found; other ad platforms refuse web
#: events older than 7 days). Offline and CRM: 28 days, TikTok's longest click-through
#: attribution window: "Offline events must have occurred within the previous 28 days ...
#: Offline events beyond these attribution windows are not matched to ads" (Amperity's TikTok
#: offline-events guide); TikTok states no separate limit for CRM events, whose lead changes
#: state days or weeks after the click.
MAX_AGE: dict[str, float] = {"web": 2 * _DAY, "crm": 28 * _DAY, "offline": 28 * _DAY}
#: What each source's id is called in messages.
ID_NAMES: dict[EventSource, str] = {
    "web": "pixel code",
    "crm": "CRM event set id",
    "offline": "offline event set id",
}
_PIXEL_CODE = re.compile(r"[A-Za-z0-9]{1,64}")
_EVENT_SET_ID = re.compile(r"[0-9]{1,32}")
_LEAD_TEXT = re.compile(r"[^\x00-\x1f\x7f]{1,256}")


@dataclass(frozen=True)
class Destination:
    """Where a batch of events goes: a source and its id (one Events API request each).

    Senders and queues carry it as a string, :attr:`key`: a web destination's key is its pixel
    code (as before sources existed, so queued events and jobs of earlier releases read the
    same), another's is ``"crm:<event set id>"`` or ``"offline:<event set id>"``.

    :raises InvalidEvent: the id is not one of that source's.
    """

    source: EventSource
    source_id: str

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise InvalidEvent("event_source", self.source, f"is not one of {', '.join(SOURCES)}")
        pattern = _PIXEL_CODE if self.source == "web" else _EVENT_SET_ID
        if not isinstance(self.source_id, str) or not pattern.fullmatch(self.source_id):
            kind = "letters and digits" if self.source == "web" else "digits"
            raise InvalidEvent(
                "event_source_id",
                self.source_id,
                f"is not a {ID_NAMES[self.source]} ({kind}, as shown in TikTok Events Manager)",
            )

    @property
    def key(self) -> str:
        """The string senders, queues and the outbox carry."""
        return self.source_id if self.source == "web" else f"{self.source}:{self.source_id}"

    @property
    def max_age(self) -> float:
        """Seconds after it happened when an event for this destination is given up on."""
        return MAX_AGE[self.source]

    def __str__(self) -> str:
        # "pixel C…", as log lines named web destinations before other sources existed.
        name = "pixel" if self.source == "web" else ID_NAMES[self.source].removesuffix(" id")
        return f"{name} {self.source_id}"


def source_of(key: str) -> str:
    """The source a destination key names, without checking its id (for counting and
    reading rows: a key was checked when the event was written)."""
    source, colon, _ = key.partition(":")
    return source if colon and source in ("crm", "offline") else "web"


def describe_age(seconds: float) -> str:
    """An age limit as a reason says it: ``"48 h"``, ``"28 days"``."""
    if seconds >= 3 * 86400 and seconds % 86400 == 0:
        return f"{seconds / 86400:g} days"
    return f"{seconds / 3600:g} h"


def destination(key: str | Destination) -> Destination:
    """The :class:`Destination` a sender's key names (a pixel code is a web destination)."""
    if isinstance(key, Destination):
        return key
    source, colon, source_id = key.partition(":")
    if colon and source in ("crm", "offline"):
        return Destination(cast(EventSource, source), source_id)
    return Destination("web", key)


def _hashed(user: Mapping[str, Any], field: str) -> bool:
    value = user.get(field)
    return bool(value) and isinstance(value, str | list)


def missing_fields(source: EventSource, data: Mapping[str, Any]) -> InvalidEvent | None:
    """What a source needs and an event (an entry of the request's ``data``) lacks, as the
    error to raise, naming the field; ``None`` when it has what TikTok matches it by."""
    user = data.get("user")
    user = user if isinstance(user, Mapping) else {}
    if source == "crm":
        lead = data.get("lead")
        if lead is not None:
            if not isinstance(lead, Mapping):
                return InvalidEvent("lead", lead, "must be an object (lead_id, lead_event_source)")
            for field in ("lead_id", "lead_event_source"):
                value = lead.get(field)
                if value is not None and not (
                    isinstance(value, str) and _LEAD_TEXT.fullmatch(value)
                ):
                    return InvalidEvent(
                        f"lead.{field}", value, "must be a string of 1 to 256 printable characters"
                    )
        has_lead = isinstance(lead, Mapping) and bool(lead.get("lead_id"))
        if not (has_lead or _hashed(user, "email") or _hashed(user, "phone")):
            return InvalidEvent(
                "lead.lead_id",
                None,
                "is missing: a CRM event needs the TikTok lead id, or the lead's e-mail or "
                "phone (TikTok matches CRM events by them)",
            )
    elif source == "offline":
        if not any(_hashed(user, field) for field in ("email", "phone", "external_id")):
            return InvalidEvent(
                "user.email",
                None,
                "is missing: an offline event needs the customer's e-mail, phone or external "
                "id (there is no browser to match it by)",
            )
    elif "lead" in data:
        return InvalidEvent("lead", data["lead"], "is only for CRM events (event_source 'crm')")
    return None
