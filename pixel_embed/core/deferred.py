"""The deferred store: events and an identity carried to the next page, in a session.

A form post that redirects, a login: what the view tracked must fire on the page the browser
shows next, exactly once. The store keeps it in any mutable mapping the integration hands it
(Flask's signed cookie session, Django's session, Starlette's ``request.session``), under one
key, :data:`SESSION_KEY`, within a byte budget that leaves a cookie session room.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping, MutableMapping
from typing import Any

from ..errors import InvalidEvent
from ..events import Event, validate_event, wire_event_name
from ..matching import (
    CLEAR_FIELDS,
    HASHED_FIELDS,
    NO_IDENTITY,
    Identity,
    is_sha256,
    normalize_field,
)

log = logging.getLogger("pixel_embed")

#: Deferred events kept for the next page at most; the oldest beyond it are dropped (a signed
#: cookie session holds about 4 KB).
MAX_DEFERRED = 20
#: The most bytes of JSON the deferred identity and events take in the session; the oldest
#: events beyond it are dropped with a warning. Flask's signed cookie adds about a third
#: (base64, signature), leaving the site's own session data room below browsers' 4 KB.
MAX_DEFERRED_BYTES = 2000
#: The session's one key for pixel_embed. Its value is a mapping that several parts share,
#: each its own keys, each leaving the others' alone:
#:
#: - ``identity``: the carried identity (``identify(..., defer=True)``), digests and the
#:   clear fields, with ``identity_at``, when it was carried (seconds since the epoch), for
#:   ``TIKTOK_PIXEL_IDENTITY_MAX_AGE``;
#: - ``events``: the deferred events (``track(..., defer=True)``);
#: - ``forget``: ``1`` after ``pixel.forget()``, until a page that does not reload has told
#:   TikTok's SDK to forget too;
#: - ``once``: the keys of ``track(..., once=KEY)``, short digests, newest last, at most
#:   :data:`MAX_ONCE_KEYS` (about 400 bytes);
#: - sibling keys of other parts, within :data:`SIBLING_SESSION_BYTES`.
#:
#: Identity and events take at most :data:`MAX_DEFERRED_BYTES`, ``once`` and siblings at most
#: :data:`SIBLING_SESSION_BYTES`: about 3.4 KB in Flask's signed cookie at worst.
SESSION_KEY = "_tiktok_pixel"
#: The bytes of JSON left in :data:`SESSION_KEY` for keys other than this module's.
SIBLING_SESSION_BYTES = 500
#: The store's own keys in the session's mapping (see :data:`SESSION_KEY`); the others are
#: siblings', which every write keeps.
OWN_KEYS = ("identity", "identity_at", "events", "forget")
#: The most ``once`` keys kept per visitor; the oldest beyond it are forgotten (that event
#: could then fire again: for a purchase, with the same :func:`~pixel_embed.events.order_event_id`).
MAX_ONCE_KEYS = 20
#: Hex digits kept of each key's SHA-256: 64 bits, no collision among a visitor's keys, and no
#: order number readable in the (signed, not encrypted) session cookie.
ONCE_DIGEST_CHARS = 16


def once_digest(event: Event, key: object) -> str:
    """What the session keeps of ``track(event, once=key)``."""
    text = f"{wire_event_name(event.name)}\x1f{key}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:ONCE_DIGEST_CHARS]


def _reported(error: InvalidEvent) -> None:
    log.warning("TikTok pixel: a deferred event read from the session: %s", error.redacted())


def _checked_again(item: Mapping[str, Any]) -> Event | None:
    """A deferred event as the session holds it, checked again as the identity is: a session
    kept on the server (Django's database, Redis) is not signed by what wrote it, so what it
    holds is screened as a view's input is (lenient: a bad parameter is left out with a
    warning, an invalid name drops the event)."""
    try:
        params = dict(item["params"])  # pairs: see Event.to_dict
        name, event_id = str(item["name"]), str(item["event_id"])
        return validate_event(name, params, event_id=event_id, on_error=_reported)
    except InvalidEvent as exc:
        _reported(exc)
        return None


def _identity_again(params: object) -> Identity:
    """The carried identity as the session holds it, checked again: a hashed field must be a
    SHA-256 digest, a clear one its own normal form (never an address, a phone number); any
    other value is left out with a warning, never rendered as it is."""
    if not isinstance(params, dict):
        return NO_IDENTITY
    kept: dict[str, str] = {}
    for key, value in params.items():
        if key not in HASHED_FIELDS and key not in CLEAR_FIELDS:
            continue  # unknown keys are ignored (as Identity.from_params does)
        try:
            ok = isinstance(value, str) and len(value) <= 256
            if ok and key in HASHED_FIELDS:
                ok = is_sha256(value)
            elif ok:
                ok = normalize_field(key, value) == value
        except Exception:  # InvalidIdentity, or a value the normaliser refuses
            ok = False
        if ok:
            kept[key] = value
        else:
            log.warning(
                "TikTok pixel: ignored %s of the identity in the session: not as identify() "
                "writes it",
                key,
            )
    return Identity.from_params(kept)


def read_deferred(saved: object, max_age: float) -> tuple[Identity, list[Event]]:
    """The identity and events a :data:`SESSION_KEY` value holds, each checked again; an
    identity older than ``max_age`` seconds is dropped, an unreadable value ignored with a
    warning."""
    if not isinstance(saved, dict):
        return NO_IDENTITY, []
    try:
        checked = (_checked_again(item) for item in saved.get("events", []))
        events = [event for event in checked if event is not None]
        identity = _identity_again(saved.get("identity", {}))
        carried_at = saved.get("identity_at", 0)
        if identity and not time.time() - float(carried_at) <= max_age:
            identity = NO_IDENTITY  # too old (or of a version without a time): dropped
    except (KeyError, TypeError, ValueError, AttributeError):
        log.warning("TikTok pixel: ignored unreadable deferred events in the session")
        return NO_IDENTITY, []
    return identity, events


def _siblings(saved: object) -> dict[str, Any]:
    if not isinstance(saved, dict):
        return {}
    return {key: value for key, value in saved.items() if key not in OWN_KEYS}


class DeferredStore:
    """What waits for the next page in ``session`` (any mutable mapping of JSON values).

    :param max_age: seconds a carried identity waits (``TIKTOK_PIXEL_IDENTITY_MAX_AGE``).
    """

    __slots__ = ("max_age", "session")

    def __init__(self, session: MutableMapping[str, Any], max_age: float) -> None:
        self.session = session
        self.max_age = max_age

    def peek(self) -> tuple[Identity, list[Event]]:
        """What waits, left in place."""
        return read_deferred(self.session.get(SESSION_KEY), self.max_age)

    def pop(self) -> tuple[Identity, list[Event], bool]:
        """Take what waits out of the session; the third value says whether ``forget()`` was
        called since the last page (the flag is taken out too). Sibling keys stay."""
        session = self.session
        # pop() only when the key is there: it marks the session modified (a new cookie), and
        # a session that cannot be written (Flask's NullSession) refuses it.
        if SESSION_KEY not in session:
            return NO_IDENTITY, [], False
        value = session[SESSION_KEY]
        if not isinstance(value, dict):
            session.pop(SESSION_KEY)
            return NO_IDENTITY, [], False
        kept = _siblings(value)
        if kept:  # the other parts' keys stay (and the session is marked modified)
            session[SESSION_KEY] = kept
        else:
            session.pop(SESSION_KEY)
        identity, events = read_deferred(value, self.max_age)
        return identity, events, bool(value.get("forget"))

    def save(self, identity: Identity, carried: bool, events: list[Event]) -> None:
        """Add ``events`` (and ``identity``, when ``carried``) to what waits, within
        :data:`MAX_DEFERRED` events and :data:`MAX_DEFERRED_BYTES` bytes: the oldest go first,
        with a warning."""
        waiting_identity, waiting_events = self.peek()
        identity = waiting_identity.merged(identity) if carried else waiting_identity
        waiting = [event.to_dict() for event in [*waiting_events, *events][-MAX_DEFERRED:]]
        dropped = len(waiting_events) + len(events) - len(waiting)
        # The size of each event, as Flask's session writes it (compact JSON, ASCII only).
        sizes = [len(json.dumps(event, separators=(",", ":"))) + 1 for event in waiting]
        room = MAX_DEFERRED_BYTES - len(json.dumps(identity.as_params())) - 30
        kept = [(e, size) for e, size in zip(waiting, sizes, strict=True) if size <= room]
        total = sum(size for _, size in kept)
        while total > room:  # the oldest go first
            total -= kept.pop(0)[1]
        saved = [event for event, _ in kept]
        dropped += len(waiting) - len(saved)
        previous = self.session.get(SESSION_KEY)
        data = _siblings(previous)
        if isinstance(previous, dict) and previous.get("forget"):
            data["forget"] = 1
        if identity:
            data["identity"] = identity.as_params()
            data["identity_at"] = (
                int(time.time())
                if carried or not isinstance(previous, dict)
                else previous.get("identity_at", 0)
            )
        data["events"] = saved
        if dropped:
            log.warning(
                "TikTok pixel: too many deferred events for the session (at most %d, %d "
                "bytes); dropped %d, the oldest and any too big alone",
                MAX_DEFERRED,
                MAX_DEFERRED_BYTES,
                dropped,
            )
        self.session[SESSION_KEY] = data

    def forget(self) -> None:
        """Drop what earlier requests left for the next page (identity, events), and mark
        the session so that the next partial page empties TikTok's SDK too."""
        self.session[SESSION_KEY] = {**_siblings(self.session.get(SESSION_KEY)), "forget": 1}

    def once_keys(self) -> list[str]:
        """The ``once`` digests kept, oldest first."""
        shared = self.session.get(SESSION_KEY)
        saved = shared.get("once") if isinstance(shared, Mapping) else None
        return [key for key in saved if isinstance(key, str)] if isinstance(saved, list) else []

    def remember_once(self, keys: list[str], digest: str) -> None:
        """Keep ``digest`` after ``keys`` (as :meth:`once_keys` returned them), the last
        :data:`MAX_ONCE_KEYS` only."""
        shared = self.session.get(SESSION_KEY)
        shared = shared if isinstance(shared, dict) else {}
        self.session[SESSION_KEY] = {**shared, "once": [*keys, digest][-MAX_ONCE_KEYS:]}
