"""The outbox file's layout (``PRAGMA user_version``) and its migrations, one per version: a file
an earlier release wrote is brought to this release's layout when it is opened; a newer one is
left alone (the outbox refuses it)."""

from __future__ import annotations

import sqlite3

from .quality import QUALITY_TABLE

#: The layout of the file this release writes; older files are migrated when opened
#: (:data:`_MIGRATIONS`), newer ones refused.
SCHEMA_VERSION = 3

# The columns an event keeps, waiting or dead, after its id.
_EVENT = (
    "pixel_code TEXT NOT NULL, event_id TEXT NOT NULL, event TEXT NOT NULL, "
    "event_time INTEGER NOT NULL, body BLOB NOT NULL, size INTEGER NOT NULL, "
    "created REAL NOT NULL, tries INTEGER NOT NULL DEFAULT 0"
)
# AUTOINCREMENT: an id is never given twice, even once the row that held the highest has gone.
# Version 1 reused them, and copied an event's id into the dead letters, so the second dead
# letter of a drained outbox collided with the first and was never recorded (issue 21).
_EVENTS_TABLE = (
    f"CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, {_EVENT}, due REAL NOT NULL, "
    "owner TEXT NOT NULL DEFAULT '', problem TEXT NOT NULL DEFAULT '')"
)
# A dead letter has its own number (what `events retry --id` takes), never an event's id.
_DEAD_TABLE = (
    f"CREATE TABLE dead (id INTEGER PRIMARY KEY AUTOINCREMENT, {_EVENT}, failed REAL NOT NULL, "
    "reason TEXT NOT NULL)"
)
_SCHEMA = (
    "CREATE TABLE totals (one INTEGER PRIMARY KEY CHECK (one = 1), events INTEGER NOT NULL, "
    "bytes INTEGER NOT NULL, delivered INTEGER NOT NULL, dead INTEGER NOT NULL, "
    "dropped INTEGER NOT NULL, retried INTEGER NOT NULL)",
    "INSERT INTO totals VALUES (1, 0, 0, 0, 0, 0, 0)",
    _EVENTS_TABLE,
    "CREATE INDEX events_due ON events (due)",
    _DEAD_TABLE,
)
# Each migration takes a file from the version before it to its own, inside the transaction that
# opens the file; a table whose key changes is copied (SQLite cannot alter a primary key). Rows
# keep their ids, so a dead letter keeps its number and a claimed event its lease.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: (
        "ALTER TABLE events RENAME TO events_v1",
        "DROP INDEX events_due",
        _EVENTS_TABLE,
        "INSERT INTO events SELECT * FROM events_v1",
        "DROP TABLE events_v1",
        "CREATE INDEX events_due ON events (due)",
        "ALTER TABLE dead RENAME TO dead_v1",
        _DEAD_TABLE,
        "INSERT INTO dead SELECT * FROM dead_v1",
        "DROP TABLE dead_v1",
    ),
    # The match-quality counters (issue 29). Events of CRM and offline sources need no new
    # column: pixel_code holds an event's destination key (a pixel code, or "crm:<event set
    # id>", "offline:<event set id>"), so a process of the previous release still running
    # during a rolling upgrade keeps writing and delivering its web events, and a CRM event it
    # happens to claim keeps its key when TikTok refuses it as a web event (a dead letter that
    # `events retry` sends right, once the old processes are gone).
    3: (QUALITY_TABLE,),
}
#: The version _SCHEMA builds; a new file then takes every later migration, so that a new file
#: and a migrated one have the very same layout.
_SCHEMA_BUILDS = 2


def migrate(connection: sqlite3.Connection) -> int:
    """Bring the file to :data:`SCHEMA_VERSION`, inside the caller's write transaction (so
    that processes opening it at once wait for the one that migrates it, and none does it
    twice).

    :returns: the version the file had (0: a new file; above :data:`SCHEMA_VERSION`: a newer
        release's, left as it is).
    """
    version: int = connection.execute("PRAGMA user_version").fetchone()[0]
    if version >= SCHEMA_VERSION:
        return version
    # One statement at a time: executescript() would commit first.
    if version == 0:
        for statement in _SCHEMA:
            connection.execute(statement)
    for step in range((version or _SCHEMA_BUILDS) + 1, SCHEMA_VERSION + 1):
        for statement in _MIGRATIONS[step]:
            connection.execute(statement)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return version
