"""A durable outbox for server events: one SQLite file that survives restarts and crashes,
shared by every process of a site on one machine.

A request writes its events in one transaction at its end (:meth:`Outbox.add`). A delivery
thread in each process (:class:`OutboxSender`) claims due events with a lease
(:meth:`Outbox.claim`), posts them, and records the outcome: delivered rows are deleted, a
failure is retried later (back-off and ``Retry-After`` are kept in the row, so they carry
across restarts), and an event that cannot be delivered moves to the ``dead`` table with the
reason. A process killed mid-delivery leaves its lease to expire; then another process (or
the restarted one) claims the events again.

The lease is the ``due`` column: claiming an event sets ``due`` to the end of the lease, so
one condition, ``due <= now``, finds what is waiting and what a dead process left behind.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson

from ..core.checks import screened
from ..errors import ConfigurationError, safe_repr
from .outbox_schema import SCHEMA_VERSION as SCHEMA_VERSION
from .outbox_schema import migrate
from .quality import count_in_file, counts_in_file
from .sources import MAX_AGE as SOURCE_MAX_AGE
from .sources import destination, source_of

log = logging.getLogger("pixel_embed.events_api")

#: Events waiting at most; further events are refused (and counted) while it is full.
MAX_EVENTS = 100_000
#: Bytes of events waiting at most (the JSON as sent); further events are refused too.
MAX_BYTES = 256 * 1024 * 1024
#: Dead letters kept at most; the oldest are deleted (and logged) beyond it.
MAX_DEAD = 10_000
#: Seconds after a web event happened when it is no longer sent but dead-lettered (CRM and
#: offline events have their own limits: :data:`.sources.MAX_AGE`).
MAX_AGE = SOURCE_MAX_AGE["web"]
#: The oldest SQLite the outbox runs on (UPDATE … RETURNING, 2021).
MIN_SQLITE = (3, 35)
#: Seconds SQLite waits for another process's write before a write fails.
BUSY_TIMEOUT = 5.0

_COUNTERS = frozenset({"events", "bytes", "delivered", "dead", "dropped", "retried"})
_IN_IDS = " WHERE id IN (SELECT value FROM json_each(?))"
_EVENT_COLUMNS = "pixel_code, event_id, event, event_time, body, size, created, tries"


@dataclass(frozen=True)
class Claimed:
    """An event claimed for delivery (a row of the outbox).

    :ivar key: its destination, as senders name it (:attr:`.sources.Destination.key`): a pixel
        code, or ``"crm:<event set id>"``, ``"offline:<event set id>"``.
    """

    id: int
    key: str
    event_id: str
    event: str
    event_time: int
    body: bytes
    size: int
    created: float
    tries: int

    @property
    def source(self) -> str:
        """Its source: ``"web"``, ``"crm"`` or ``"offline"``."""
        return source_of(self.key)

    @property
    def data(self) -> dict[str, Any]:
        """The event as TikTok gets it (an entry of the request's ``data``)."""
        value: dict[str, Any] = orjson.loads(self.body)
        return value


@dataclass(frozen=True)
class DeadLetter:
    """An event given up on, and why."""

    id: int
    key: str
    event_id: str
    event: str
    event_time: int
    tries: int
    failed: float
    reason: str

    @property
    def source(self) -> str:
        """Its source: ``"web"``, ``"crm"`` or ``"offline"``."""
        return source_of(self.key)

    @property
    def pixel_code(self) -> str:
        """Its destination key (the pixel code of a web event; the name before CRM and
        offline events)."""
        return self.key


@dataclass(frozen=True)
class DeliveryStats:
    """Counters for monitoring a sender; every sender reports the ones it knows.

    :param waiting: events not delivered yet (in delivery included).
    :param in_delivery: of those, events claimed by a process right now.
    :param delivered: events TikTok accepted (since the outbox was created, or the process
        started for the memory queue).
    :param dead: events given up on (dead letters; for the outbox, those still kept).
    :param dropped: events refused because the queue was full or closed.
    :param retried: failed attempts that were retried.
    :param oldest_waiting: seconds the oldest waiting event has waited, or ``None``.
    :param waiting_bytes: bytes of waiting events.
    :param buffered: events this process keeps for the outbox file while another process
        holds its lock (not in ``waiting`` yet).
    """

    waiting: int = 0
    in_delivery: int = 0
    delivered: int = 0
    dead: int = 0
    dropped: int = 0
    retried: int = 0
    oldest_waiting: float | None = None
    waiting_bytes: int = 0
    buffered: int = 0


def _event_fields(data: Mapping[str, Any]) -> tuple[str, str, int]:
    event_time = data.get("event_time")
    return (
        str(data.get("event", "")),
        str(data.get("event_id", "")),
        event_time if isinstance(event_time, int) else int(time.time()),
    )


class Outbox:
    """The outbox file: schema, writes, claims and outcomes. No thread, no HTTP.

    Safe to use from several threads and processes at once (one SQLite connection per thread
    and process, WAL mode, writes in ``BEGIN IMMEDIATE`` transactions).

    :param path: the SQLite file (created with its folder's permissions, mode 0600).
    :param max_events: events waiting at most.
    :param max_bytes: bytes of events waiting at most.
    :param max_dead: dead letters kept at most.
    :param clock: the time in Unix seconds (tests pass a simulated one).
    :raises ConfigurationError: the file cannot be opened, or a newer release wrote it.
    """

    def __init__(
        self,
        path: str,
        *,
        max_events: int = MAX_EVENTS,
        max_bytes: int = MAX_BYTES,
        max_dead: int = MAX_DEAD,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.max_dead = max_dead
        self.clock = clock
        self._local = threading.local()
        self._create()

    def __repr__(self) -> str:
        return f"Outbox({self.path!r})"

    def _connect(self) -> sqlite3.Connection:
        local = self._local
        connection: sqlite3.Connection | None = getattr(local, "connection", None)
        if connection is None or local.pid != os.getpid():
            connection = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
            # WAL: readers never block the writer; NORMAL: a commit survives a killed process
            # (not a power cut) without an fsync per request.
            connection.execute("PRAGMA synchronous = NORMAL")
            # No checkpoint (with its fsync) inside a request: the delivery thread runs them
            # (checkpoint()).
            connection.execute("PRAGMA wal_autocheckpoint = 0")
            local.connection, local.pid = connection, os.getpid()
        return connection

    @contextmanager
    def _write(self, wait: float | None = None) -> Iterator[sqlite3.Connection]:
        connection = self._connect()
        if wait is None:
            connection.execute("BEGIN IMMEDIATE")
        else:
            connection.execute(f"PRAGMA busy_timeout = {max(0, round(wait * 1000))}")
            try:
                connection.execute("BEGIN IMMEDIATE")
            finally:
                connection.execute(f"PRAGMA busy_timeout = {round(BUSY_TIMEOUT * 1000)}")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def _create(self) -> None:
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise ConfigurationError(
                f"TIKTOK_PIXEL_EVENTS_QUEUE: the outbox needs SQLite "
                f"{'.'.join(map(str, MIN_SQLITE))} or later (RETURNING); this Python has "
                f"{sqlite3.sqlite_version}: use 'memory' or a task queue"
            )
        folder = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(folder, exist_ok=True)
            if not os.path.exists(self.path):
                # Hashed identities and IP addresses: readable by the site's user only.
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            connection = self._connect()
            connection.execute("PRAGMA journal_mode = WAL")
            with self._write() as connection:
                version = migrate(connection)
            if 0 < version < SCHEMA_VERSION:
                log.info(
                    "TikTok Events API: the outbox %s migrated from schema version %d to %d",
                    self.path,
                    version,
                    SCHEMA_VERSION,
                )
        except (OSError, sqlite3.Error) as exc:
            # An OSError's own text repeats the path: its strerror does not.
            cause = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigurationError(
                screened(
                    f"TIKTOK_PIXEL_EVENTS_QUEUE: cannot open the outbox {safe_repr(self.path)} "
                    f"({type(exc).__name__}: {safe_repr(cause, 200)[1:-1]})"
                )
            ) from None
        if version > SCHEMA_VERSION:
            raise ConfigurationError(
                screened(
                    f"TIKTOK_PIXEL_EVENTS_QUEUE: the outbox {safe_repr(self.path)} has schema "
                    f"version {version}, written by a newer pixel_embed; this release reads "
                    f"version {SCHEMA_VERSION}"
                )
            )

    @property
    def schema_version(self) -> int:
        """The file's schema version."""
        value: int = self._connect().execute("PRAGMA user_version").fetchone()[0]
        return value

    def add(
        self,
        items: Sequence[tuple[str, Mapping[str, Any]]],
        *,
        wait: float | None = None,
        dropped: int = 0,
    ) -> int:
        """Write events (destination key, Events API data) in one transaction, and count
        their matching keys (:mod:`.quality`).

        When the outbox is full the events that do not fit are refused, counted as dropped
        and logged: what is already waiting is older, closer to being delivered, and kept.

        :param wait: seconds to wait at most for another writer's lock (SQLite's busy
            time-out, :data:`BUSY_TIMEOUT`, by default).
        :param dropped: events lost elsewhere, counted as dropped in the same transaction.
        :returns: how many events were written.
        :raises sqlite3.Error: the file could not be written (disk full, locked too long).
        """
        now = self.clock()
        rows = []
        for key, data in items:
            body = orjson.dumps(data)
            name, event_id, event_time = _event_fields(data)
            to = destination(key)
            rows.append((to.key, event_id, name, event_time, body, len(body), now, now, to.source))
        with self._write(wait) as connection:
            count, size = connection.execute("SELECT events, bytes FROM totals").fetchone()
            room = self.max_events - count
            kept = []
            for row in rows:
                if room > 0 and size + row[5] <= self.max_bytes:
                    kept.append(row)
                    room -= 1
                    size += row[5]
            if kept:
                connection.executemany(
                    "INSERT INTO events (pixel_code, event_id, event, event_time, body, size,"
                    " created, due) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [row[:8] for row in kept],
                )
                self._count(connection, events=len(kept), bytes=sum(row[5] for row in kept))
                kept_ids = {id(row) for row in kept}
                count_in_file(
                    connection,
                    self._local,
                    [
                        (row[8], row[2], data)
                        for row, (_, data) in zip(rows, items, strict=True)
                        if id(row) in kept_ids
                    ],
                    now,
                )
            refused = len(rows) - len(kept)
            if refused + dropped:
                self._count(connection, dropped=refused + dropped)
                total = connection.execute("SELECT dropped FROM totals").fetchone()[0]
        if refused:
            log.warning(
                "TikTok Events API: the outbox is full (%d events or %d bytes at most): "
                "refused %d event(s) (%s), %d refused so far",
                self.max_events,
                self.max_bytes,
                refused,
                ", ".join(f"{row[2]} {row[1]}" for row in rows[len(kept) :][:5]),
                total,
            )
        return len(kept)

    def quality_counts(self, since: float, until: float) -> list[tuple[str, str, list[int]]]:
        """Match-quality counts summed over the hours in [since, until] (see :mod:`.quality`)."""
        return counts_in_file(self._connect(), since, until)

    @staticmethod
    def _count(connection: sqlite3.Connection, **changes: int) -> None:
        # One statement for every counter: the totals row is written once per transaction.
        assert set(changes) <= _COUNTERS
        connection.execute(
            "UPDATE totals SET " + ", ".join(f"{name} = {name} + ?" for name in changes),
            tuple(changes.values()),
        )

    def claim(self, owner: str, limit: int, lease: float) -> list[Claimed]:
        """Claim up to ``limit`` due events, oldest first, for ``lease`` seconds."""
        now = self.clock()
        with self._write() as connection:
            rows = connection.execute(
                f"UPDATE events SET due = ?, owner = ?, tries = tries + 1 WHERE id IN "
                f"(SELECT id FROM events WHERE due <= ? ORDER BY due, id LIMIT ?) "
                f"RETURNING id, {_EVENT_COLUMNS}",
                (now + lease, owner, now, limit),
            ).fetchall()
        return sorted((Claimed(*row) for row in rows), key=lambda claimed: claimed.id)

    def delivered(self, owner: str, events: Sequence[Claimed]) -> None:
        """Delete events TikTok accepted."""
        with self._write() as connection:
            sizes = connection.execute(
                "DELETE FROM events WHERE owner = ? AND id IN (SELECT value FROM json_each(?)) "
                "RETURNING size",
                (owner, _ids(events)),
            ).fetchall()
            # Rows another process took after this lease ran out are its to count.
            self._count(
                connection,
                delivered=len(sizes),
                events=-len(sizes),
                bytes=-sum(size for (size,) in sizes),
            )

    def retry_later(
        self, owner: str, events: Sequence[Claimed], problem: str, due: float | Sequence[float]
    ) -> None:
        """Put events back, to be tried again from ``due`` (Unix seconds: one for all, or one
        per event, in order: events that failed together need not be tried together)."""
        dues = [due] * len(events) if isinstance(due, int | float) else list(due)
        with self._write() as connection:
            connection.executemany(
                "UPDATE events SET due = ?, owner = '', problem = ? WHERE owner = ? AND id = ?",
                [
                    (when, problem, owner, event.id)
                    for event, when in zip(events, dues, strict=True)
                ],
            )
            self._count(connection, retried=len(events))

    def bury(self, owner: str | None, events: Sequence[Claimed], reason: str) -> None:
        """Move events to the dead letters with ``reason`` (only those still under
        ``owner``'s lease, unless it is ``None``)."""
        now = self.clock()
        with self._write() as connection:
            rows = connection.execute(
                f"DELETE FROM events WHERE (? IS NULL OR owner = ?) AND id IN "
                f"(SELECT value FROM json_each(?)) RETURNING {_EVENT_COLUMNS}",
                (owner, owner, _ids(events)),
            ).fetchall()
            connection.executemany(
                f"INSERT INTO dead ({_EVENT_COLUMNS}, failed, reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(*row, now, reason) for row in rows],
            )
            self._count(
                connection, dead=len(rows), events=-len(rows), bytes=-sum(row[5] for row in rows)
            )
            excess = connection.execute("SELECT count(*) FROM dead").fetchone()[0] - self.max_dead
            if excess > 0:
                connection.execute(
                    "DELETE FROM dead WHERE id IN (SELECT id FROM dead ORDER BY failed, id "
                    "LIMIT ?)",
                    (excess,),
                )
        if excess > 0:
            log.error(
                "TikTok Events API: deleted the %d oldest dead letter(s): %d are kept at most",
                excess,
                self.max_dead,
            )

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the file, without blocking writers (PASSIVE)."""
        self._connect().execute("PRAGMA wal_checkpoint(PASSIVE)")

    def next_due(self) -> float | None:
        """When the next event is due (Unix seconds), or ``None`` when none waits."""
        value: float | None = self._connect().execute("SELECT min(due) FROM events").fetchone()[0]
        return value

    def stats(self) -> DeliveryStats:
        """Counts by state, from the file (every process's work)."""
        connection = self._connect()
        now = self.clock()
        row = connection.execute(
            "SELECT events, bytes, delivered, dropped, retried FROM totals"
        ).fetchone()
        meta = dict(zip(("events", "bytes", "delivered", "dropped", "retried"), row, strict=True))
        in_delivery, oldest = connection.execute(
            "SELECT count(*) FILTER (WHERE owner != '' AND due > ?), min(created) FROM events",
            (now,),
        ).fetchone()
        dead = connection.execute("SELECT count(*) FROM dead").fetchone()[0]
        return DeliveryStats(
            waiting=meta["events"],
            in_delivery=in_delivery,
            delivered=meta["delivered"],
            dead=dead,
            dropped=meta["dropped"],
            retried=meta["retried"],
            oldest_waiting=None if oldest is None else max(0.0, now - oldest),
            waiting_bytes=meta["bytes"],
        )

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The most recent dead letters, newest first."""
        rows = self._connect().execute(
            "SELECT id, pixel_code, event_id, event, event_time, tries, failed, reason "
            "FROM dead ORDER BY failed DESC, id DESC LIMIT ?",
            (limit,),
        )
        return [DeadLetter(*row) for row in rows]

    def reasons(self) -> list[tuple[str, int]]:
        """Each dead-letter reason with how many events it holds, commonest first."""
        rows = self._connect().execute(
            "SELECT reason, count(*) FROM dead GROUP BY reason ORDER BY count(*) DESC, reason"
        )
        return [(reason, count) for reason, count in rows]

    def retry_dead(self, ids: Sequence[int] | None = None) -> int:
        """Put dead letters (all, or those ``ids``) back in the outbox, due now, their tries
        reset. One that is still too old will be dead-lettered again.

        :returns: how many were put back.
        """
        now = self.clock()
        where, args = ("", ()) if ids is None else (_IN_IDS, (orjson.dumps(list(ids)).decode(),))
        with self._write() as connection:
            rows = connection.execute(
                f"DELETE FROM dead{where} RETURNING pixel_code, event_id, event, event_time, "
                "body, size, created",
                args,
            ).fetchall()
            connection.executemany(
                "INSERT INTO events (pixel_code, event_id, event, event_time, body, size, "
                "created, due) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(*row, now) for row in rows],
            )
            self._count(
                connection, events=len(rows), bytes=sum(row[5] for row in rows), dead=-len(rows)
            )
        return len(rows)

    def purge_dead(self, older_than: float | None = None) -> int:
        """Delete dead letters (all, or those that failed more than ``older_than`` seconds
        ago), and give the space back to the file system.

        :returns: how many were deleted.
        """
        limit = float("inf") if older_than is None else self.clock() - older_than
        with self._write() as connection:
            count = connection.execute(
                "DELETE FROM dead WHERE failed <= ?", (min(limit, 1e300),)
            ).rowcount
        self._connect().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return count


def _ids(events: Sequence[Claimed]) -> str:
    return orjson.dumps([event.id for event in events]).decode()


def new_owner() -> str:
    """A name for one delivering thread, unique across processes and restarts."""
    return f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
