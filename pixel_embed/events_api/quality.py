"""How well server events can be matched to a TikTok user: for each event name, the share of
events that carried each matching key, counted where events are enqueued, with what to do about
the weakest.

TikTok's Events Manager shows a match-quality score a day later; this counts, from what the
site itself handed to its queue, which keys its events carry. The keys are those TikTok's help
page "How to set up matching events with Events API" (February 2025) names as matching inputs:
hashed e-mail, phone and external id, the click id ``ttclid``, the ``_ttp`` cookie, the IP address
and the user agent.

Where the counts live (each bounded to :data:`KEEP_HOURS` hours of hourly buckets, and
:data:`MAX_NAMES` event names an hour; more names share the bucket ``(other)``):

- the durable outbox: a ``quality`` table in the outbox file, written in the transaction that
  writes the events, so every process of the site (and ``flask tiktok-pixel events quality``)
  sees them;
- the memory queue, Celery and RQ: this process's memory (:class:`MemoryQuality`).
"""

from __future__ import annotations

import operator
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .sources import source_of

#: The matching keys counted, as the Events API ``user`` object names them.
MATCH_KEYS = ("email", "phone", "external_id", "ttclid", "ttp", "ip", "user_agent")
#: How each key is named in a report.
KEY_LABELS = {
    "email": "hashed e-mail",
    "phone": "hashed phone",
    "external_id": "external id",
    "ttclid": "ttclid",
    "ttp": "_ttp",
    "ip": "IP",
    "user_agent": "user agent",
}
#: Hours of counts kept (31 days); older buckets are deleted as new ones are written.
KEEP_HOURS = 31 * 24
#: Event names counted per hour and source; further names are counted as :data:`OTHER`.
MAX_NAMES = 100
#: The name further event names are counted under.
OTHER = "(other)"
#: The outbox's table of counts (schema version 3).
QUALITY_TABLE = (
    "CREATE TABLE quality (hour INTEGER NOT NULL, source TEXT NOT NULL, event TEXT NOT NULL, "
    "events INTEGER NOT NULL, "
    + ", ".join(f"{key} INTEGER NOT NULL" for key in MATCH_KEYS)
    + ", PRIMARY KEY (hour, source, event)) WITHOUT ROWID"
)
QUALITY_COLUMNS = ("events", *MATCH_KEYS)
_UPSERT = (
    f"INSERT INTO quality (hour, source, event, {', '.join(QUALITY_COLUMNS)}) "
    f"VALUES (?, ?, ?, {', '.join('?' * len(QUALITY_COLUMNS))}) "
    "ON CONFLICT (hour, source, event) DO UPDATE SET "
    + ", ".join(f"{name} = {name} + excluded.{name}" for name in QUALITY_COLUMNS)
)

#: (hour, source, event) -> [events, then one count per key of MATCH_KEYS]
Counts = dict[tuple[int, str, str], list[int]]


def _present(value: Any) -> bool:
    if type(value) is str:  # the usual case first: a request pays for each key of each event
        return bool(value) and not value.isspace()
    if isinstance(value, list):
        return any(_present(item) for item in value)
    return isinstance(value, str) and bool(value.strip())


def keys_carried(data: Mapping[str, Any]) -> list[int]:
    """Which of :data:`MATCH_KEYS` an event (an entry of the request's ``data``) carries, as
    1 and 0 in that order."""
    user = data.get("user")
    if not isinstance(user, Mapping):
        return [0] * len(MATCH_KEYS)
    return [1 if _present(user.get(key)) else 0 for key in MATCH_KEYS]


def counts_by_hour(items: Iterable[tuple[str, str, Mapping[str, Any]]], now: float) -> Counts:
    """Counts of events (source, event name, data), in the hour of ``now``."""
    hour = int(now // 3600)
    counts: Counts = {}
    for source, name, data in items:
        row = counts.setdefault((hour, source, name), [0] * len(QUALITY_COLUMNS))
        row[0] += 1
        for index, carried in enumerate(keys_carried(data), start=1):
            row[index] += carried
    return counts


def prune_before(now: float) -> int:
    """The first hour still kept at ``now``."""
    return int(now // 3600) - KEEP_HOURS + 1


def count_in_file(
    connection: sqlite3.Connection,
    local: threading.local,
    items: Sequence[tuple[str, str, Mapping[str, Any]]],
    now: float,
) -> None:
    """Count events in the outbox file's ``quality`` table, in the caller's transaction (the
    one that writes the events): one upsert per event name, about 10 µs; the names this thread
    (``local``) has counted this hour need no look at the cap."""
    counts = counts_by_hour(items, now)
    hour = int(now // 3600)
    if hour != getattr(local, "quality_hour", None):
        connection.execute("DELETE FROM quality WHERE hour < ?", (prune_before(now),))
        local.quality_hour, local.quality_known = hour, set()
    known: set[tuple[int, str, str]] = local.quality_known
    for bucket, row in counts.items():
        if bucket not in known:
            if len(known) > 4 * MAX_NAMES:
                known.clear()
            named = connection.execute(
                "SELECT count(*), count(*) FILTER (WHERE event = ?) FROM quality "
                "WHERE hour = ? AND source = ?",
                (bucket[2], bucket[0], bucket[1]),
            ).fetchone()
            if not named[1] and named[0] >= MAX_NAMES:
                bucket = (bucket[0], bucket[1], OTHER)
            known.add(bucket)
        connection.execute(_UPSERT, (*bucket, *row))


def counts_in_file(
    connection: sqlite3.Connection, since: float, until: float
) -> list[tuple[str, str, list[int]]]:
    """The outbox file's counts summed over the hours in [since, until]."""
    sums = ", ".join(f"sum({name})" for name in QUALITY_COLUMNS)
    rows = connection.execute(
        f"SELECT source, event, {sums} FROM quality WHERE hour BETWEEN ? AND ? "
        "GROUP BY source, event ORDER BY source, event",
        (int(since // 3600), int(until // 3600)),
    )
    return [(source, event, list(counts)) for source, event, *counts in rows]


class QualityStore(Protocol):
    """Where counts are kept: :class:`MemoryQuality`, or an :class:`~.outbox.Outbox`."""

    def quality_counts(self, since: float, until: float) -> list[tuple[str, str, list[int]]]:
        """(source, event, [events, key counts…]) summed over the hours in [since, until)."""


class MemoryQuality:
    """Counts kept in this process (memory queue, Celery, RQ), bounded as the module says.

    :param clock: the time in Unix seconds.
    """

    def __init__(self, clock: Any = time.time) -> None:
        self.clock = clock
        self._counts: Counts = {}
        self._lock = threading.Lock()
        self._oldest = 0

    def count(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Count enqueued events (destination key, data); never raises."""
        try:
            rows = [
                (source_of(key), str(data.get("event", "")), [1, *keys_carried(data)])
                for key, data in items
            ]
            hour = int(self.clock() // 3600)
        except Exception:  # counting must never lose an event or break a page
            return
        with self._lock:
            if hour - KEEP_HOURS + 1 > self._oldest:
                self._oldest = first = hour - KEEP_HOURS + 1
                self._counts = {k: v for k, v in self._counts.items() if k[0] >= first}
            for source, name, carried in rows:
                total = self._counts.get((hour, source, name))
                if total is None:
                    bucket = (hour, source, name)
                    if self._names(hour, source) >= MAX_NAMES:
                        bucket = (hour, source, OTHER)
                    total = self._counts.setdefault(bucket, [0] * len(QUALITY_COLUMNS))
                total[:] = map(operator.add, total, carried)

    def _names(self, hour: int, source: str) -> int:
        return sum(1 for (h, s, _) in self._counts if h == hour and s == source)

    def quality_counts(self, since: float, until: float) -> list[tuple[str, str, list[int]]]:
        """See :meth:`QualityStore.quality_counts`."""
        first, last = int(since // 3600), int(until // 3600)
        summed: dict[tuple[str, str], list[int]] = {}
        with self._lock:
            for (hour, source, name), row in self._counts.items():
                if first <= hour <= last:
                    total = summed.setdefault((source, name), [0] * len(QUALITY_COLUMNS))
                    for index, value in enumerate(row):
                        total[index] += value
        return [(source, name, row) for (source, name), row in sorted(summed.items())]


#: What to do when a key is missing from an event; ``{share}`` is the share missing,
#: ``{event}`` the event's name.
ADVICE = {
    "ttclid": (
        "{share} of {event} events have no ttclid: the visitor arrived without a TikTok ad "
        "click, or the click id was not kept (the ttclid cookie is not read on the checkout's "
        "domain, or consent withheld it); for webhooks and jobs, store matching_context() "
        "with the order"
    ),
    "ttp": (
        "{share} of {event} events have no _ttp: TikTok's SDK had not set its cookie (blocked, "
        "consent not given yet), or the event was sent outside the visitor's request without "
        "a stored matching_context()"
    ),
    "email": (
        "{share} of {event} events have no hashed e-mail: call identify(email=...) wherever "
        "the visitor is known (checkout, sign-in), or send_event(..., identity=...)"
    ),
    "phone": (
        "{share} of {event} events have no hashed phone: call identify(phone_number=...) "
        "where the visitor gave one"
    ),
    "external_id": (
        "{share} of {event} events have no external id: identify(external_id=...) with your "
        "customer or account id"
    ),
    "ip": (
        "{share} of {event} events have no IP address: events sent outside the visitor's "
        "request need the stored matching_context()"
    ),
    "user_agent": (
        "{share} of {event} events have no user agent: events sent outside the visitor's "
        "request need the stored matching_context()"
    ),
}


@dataclass(frozen=True)
class QualityRow:
    """One event name's counts over the period.

    :param shares: for each of :data:`MATCH_KEYS`, the share (0 to 1) of events carrying it.
    """

    source: str
    event: str
    events: int
    shares: dict[str, float]

    @property
    def weakest(self) -> str:
        """The key the fewest of these events carry (the first of them in
        :data:`MATCH_KEYS` on a tie)."""
        return min(MATCH_KEYS, key=lambda key: self.shares[key])


@dataclass(frozen=True)
class QualityReport:
    """The share of events carrying each matching key, by event name, over a period.

    :param since: the period's start (Unix seconds, rounded down to the hour).
    :param until: its end.
    """

    since: float
    until: float
    rows: list[QualityRow] = field(default_factory=list)

    def row(self, event: str, source: str = "web") -> QualityRow:
        """The row of one event name.

        :raises KeyError: no such event was counted.
        """
        for row in self.rows:
            if row.event == event and row.source == source:
                return row
        raise KeyError(event)

    @property
    def advice(self) -> list[str]:
        """For each event name, what to do about its weakest key (none when every event
        carried every key)."""
        lines = []
        for row in self.rows:
            weakest = row.weakest
            missing = 1.0 - row.shares[weakest]
            if missing > 0:
                text = ADVICE[weakest].format(share=f"{missing:.0%}", event=row.event)
                lines.append(text if row.source == "web" else f"{row.source}: {text}")
        return lines

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (for monitoring)."""
        return {
            "since": self.since,
            "until": self.until,
            "events": [
                {
                    "event": row.event,
                    "source": row.source,
                    "events": row.events,
                    "shares": {key: round(share, 4) for key, share in row.shares.items()},
                }
                for row in self.rows
            ],
            "advice": self.advice,
        }

    def format(self) -> str:
        """The report as a table for a terminal, then the advice."""
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(self.since))
        end = time.strftime("%Y-%m-%d %H:%M", time.gmtime(self.until))
        if not self.rows:
            return f"No server events counted from {when} to {end} UTC."
        headers = ["event", "source", "events", *(KEY_LABELS[key] for key in MATCH_KEYS)]
        table = [
            [
                row.event,
                row.source,
                str(row.events),
                *(f"{row.shares[key]:.0%}" for key in MATCH_KEYS),
            ]
            for row in self.rows
        ]
        widths = [max(len(line[i]) for line in [headers, *table]) for i in range(len(headers))]
        lines = [f"Matching keys of server events, {when} to {end} UTC:"]
        for line in [headers, *table]:
            lines.append(
                "  ".join(
                    cell.ljust(width) for cell, width in zip(line, widths, strict=True)
                ).rstrip()
            )
        advice = self.advice
        if advice:
            lines += ["", "Weakest keys:", *(f"- {text}" for text in advice)]
        return "\n".join(lines)


def match_quality(
    store: QualityStore, *, hours: float = 24.0, until: float | None = None
) -> QualityReport:
    """The report for the ``hours`` before ``until`` (now by default), from ``store``: an
    :class:`~.outbox.Outbox` or a :class:`MemoryQuality`."""
    end = time.time() if until is None else until
    start = end - hours * 3600
    rows = []
    for source, event, counts in store.quality_counts(start, end):
        events = counts[0]
        if events <= 0:
            continue
        shares = {key: counts[i] / events for i, key in enumerate(MATCH_KEYS, start=1)}
        rows.append(QualityRow(source, event, events, shares))
    rows.sort(key=lambda row: (-row.events, row.source, row.event))
    return QualityReport(since=start - start % 3600, until=end, rows=rows)
