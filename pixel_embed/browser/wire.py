"""What TikTok receives: the beacons TikTok's real SDK sent, parsed.

In real-SDK mode (``install_recorder(context, sdk="real")``) every beacon the SDK posts to a
TikTok host is answered locally and kept as a :class:`WireEvent`, in the order it was sent.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..events import WIRE_EVENT_NAMES, wire_event_name
from .calls import compact_json

#: The page-side event names TikTok's SDK renames before sending: the library's own table
#: (:data:`pixel_embed.events.WIRE_EVENT_NAMES`), which the server events use too.
WIRE_NAMES = WIRE_EVENT_NAMES

#: The identity fields whose arrival TikTok grades in ``_inspection.identity_params``.
_GRADED = {"email": "email_is_hashed", "phone_number": "phone_is_hashed"}


def wire_name(event: str) -> str:
    """The name TikTok's SDK sends for page-side ``event`` (``"CompletePayment"`` ->
    ``"Purchase"``); other names go on the wire unchanged."""
    return wire_event_name(event)


def arrival(grades: Sequence[str]) -> str:
    """One word for how TikTok says an identity value arrived, from its grades
    (``["hashed"]``, ``["plain_email", "plain_mdn_email"]``, ``["unknown_invalid"]``,
    ``["empty_value"]``): ``hashed``, ``plain``, ``invalid``, ``missing``, or the grade itself."""
    if any("invalid" in grade for grade in grades):
        return "invalid"
    if any(grade.startswith("plain") for grade in grades):
        return "plain"
    if "hashed" in grades:
        return "hashed"
    if not grades or all(grade == "empty_value" for grade in grades):
        return "missing"
    return ",".join(grades)


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


@dataclass(frozen=True)
class WireEvent:
    """One beacon TikTok's SDK sent (and the kit answered locally).

    :ivar url: where the SDK sent it (``https://analytics.tiktok.com/api/v2/pixel`` …).
    :ivar text: the body as sent.
    :ivar body: the body parsed from JSON (``{}`` when it is not a JSON object).
    """

    url: str
    text: str
    body: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_beacon(cls, url: str, text: str) -> WireEvent:
        """Parse a beacon's body; a body that is not a JSON object is kept as text only."""
        try:
            body = json.loads(text) if text else {}
        except ValueError:
            body = {}
        return cls(url=url, text=text, body=_dict(body))

    @property
    def endpoint(self) -> str:
        """The host and path the beacon went to (``analytics.tiktok.com/api/v2/pixel``)."""
        parts = urlsplit(self.url)
        return f"{parts.hostname or ''}{parts.path}"

    @property
    def event(self) -> str:
        """The event name as sent (``"Purchase"`` for ``ttq.track("CompletePayment")``); for an
        ``/act`` beacon, its action (``"Metadata"``)."""
        return str(self.body.get("event") or self.body.get("action") or "")

    @property
    def event_id(self) -> str:
        """The ``event_id`` as sent (``""`` when the page gave none)."""
        return str(self.body.get("event_id") or "")

    @property
    def properties(self) -> dict[str, Any]:
        """The event's parameters as sent (``value``, ``currency``, ``contents`` …)."""
        return _dict(self.body.get("properties"))

    @property
    def context(self) -> dict[str, Any]:
        return _dict(self.body.get("context"))

    @property
    def user(self) -> dict[str, Any]:
        """``context.user``: the identity as sent (hashes, ``external_id``, ``anonymous_id``)."""
        return _dict(self.context.get("user"))

    @property
    def pixel(self) -> str:
        """The pixel code the beacon was sent for."""
        return str(_dict(self.context.get("pixel")).get("code") or "")

    @property
    def page_url(self) -> str:
        """The URL of the page the SDK reported the event for."""
        return str(_dict(self.context.get("page")).get("url") or "")

    @property
    def inspection(self) -> dict[str, Any]:
        """TikTok's ``_inspection`` block (its own diagnostics of the beacon)."""
        return _dict(self.body.get("_inspection"))

    @property
    def identity_params(self) -> dict[str, list[str]]:
        """``_inspection.identity_params``: for each identity field, how it arrived
        (``{"email_is_hashed": ["hashed"], "sha256_phone": ["empty_value"], …}``)."""
        found = _dict(self.inspection.get("identity_params"))
        return {
            key: [str(item) for item in value] if isinstance(value, list) else [str(value)]
            for key, value in found.items()
        }

    @property
    def signal_labels(self) -> dict[str, str]:
        """``signal_diagnostic_labels`` flattened: ``{"raw_email": "missing",
        "hashed_phone": "valid", …}``."""
        labels = _dict(self.body.get("signal_diagnostic_labels"))
        return {key: str(_dict(value).get("label", value)) for key, value in labels.items()}

    @property
    def identity(self) -> dict[str, str]:
        """How TikTok says each graded identity field arrived: ``{"email": "hashed",
        "phone_number": "plain"}`` (``hashed``, ``plain``, ``invalid``); missing ones are left
        out."""
        params = self.identity_params
        found = {name: arrival(params[key]) for name, key in _GRADED.items() if key in params}
        return {name: how for name, how in found.items() if how != "missing"}

    @property
    def limited_data_use(self) -> bool | None:
        """The Limited Data Use flag at the top of the beacon, ``None`` when absent."""
        value = self.body.get("limited_data_use")
        return None if value is None else bool(value)

    @property
    def is_event(self) -> bool:
        """Whether this is an event beacon (``/api/v2/pixel``), rather than metadata
        (``/act``) or the IPv6 enrichment host's."""
        return self.endpoint.endswith("/api/v2/pixel") and bool(self.body.get("event"))


def page_path(url: str) -> str:
    """``url`` from its path on: ``"/search?q=mug"`` for ``"http://127.0.0.1:8000/search?q=mug"``."""
    parts = urlsplit(url)
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return f"{path}{query}{fragment}"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def format_wire(events: Sequence[WireEvent], *, width: int = 60) -> str:
    """The beacons as a readable table: what TikTok received, one row per event beacon
    (metadata and IPv6 enrichment beacons are left out), with the page each was reported for
    (from its path on when every page is on one host), so an event sent for the wrong page shows.

    :param width: the widest the properties column gets; the full values are in
        :attr:`WireEvent.body`.
    """
    shown = [event for event in events if event.is_event]
    if not shown:
        others = len(events)
        return (
            f"  (TikTok received no event beacon{f'; {others} other beacon(s)' if others else ''})"
        )
    rows = [("#", "pixel", "event (as sent)", "event_id", "page", "properties", "identity", "ldu")]
    one_host = len({_origin(event.page_url) for event in shown}) == 1
    for number, event in enumerate(shown, 1):
        page = event.page_url
        if page and one_host:
            page = page_path(page)
        identity = " ".join(f"{name}:{how}" for name, how in event.identity.items())
        ldu = {None: "", True: "on", False: "off"}[event.limited_data_use]
        rows.append(
            (
                str(number),
                event.pixel or "-",
                event.event,
                event.event_id,
                page or "-",
                compact_json(event.properties, width),
                identity,
                ldu,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        ("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row))).rstrip()
        for row in rows
    )
