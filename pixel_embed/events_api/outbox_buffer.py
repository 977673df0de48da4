"""What a request does when the outbox file is locked: it waits a few milliseconds at most, then
leaves its events in a bounded in-process buffer that a writer thread writes to the file once
the lock is free. A page never waits for another process's write (a long ``events purge``, a
backup, a stuck worker).

Events are lost only when the buffer is full or the process ends before the file takes them;
both are counted (``lost``, and the file's ``dropped`` counter once it can be written) and
logged.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .delivery import describe
from .outbox import Outbox

log = logging.getLogger("pixel_embed.events_api")

#: Seconds a request waits for another process's write lock before it buffers its events:
#: SQLite's busy handler sleeps 1, 2, then 2 ms, so a locked file costs a request about 5 ms,
#: once; while events wait in the buffer, later requests add to it without trying the file.
REQUEST_WAIT = 0.005
#: Events a process keeps at most while the file is locked; beyond, they are lost (counted).
BUFFER_EVENTS = 10_000
#: Events the writer thread writes per transaction.
_WRITE_BATCH = 500
#: The writer's first and longest pause between tries, in seconds.
_FIRST_PAUSE, _LONGEST_PAUSE = 0.01, 1.0

_Item = tuple[str, Mapping[str, Any]]


class WriteBuffer:
    """Writes a request's events to the outbox, or keeps them for a writer thread.

    :param outbox: the file.
    :param max_events: events kept at most while the file is locked.
    :param written: called (from the writer thread) after it wrote buffered events.
    :ivar lost: events this process lost (buffer full, or left at :meth:`close`).
    """

    def __init__(
        self,
        outbox: Outbox,
        *,
        max_events: int = BUFFER_EVENTS,
        written: Callable[[], None] = lambda: None,
    ) -> None:
        self.outbox = outbox
        self.max_events = max_events
        self.written = written
        self.lost = 0
        self._uncounted = 0  # lost events not in the file's counters yet
        self._items: deque[_Item] = deque()
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    def write(self, items: Sequence[_Item]) -> bool:
        """Write a request's events: to the file if it takes them within
        :data:`REQUEST_WAIT`, else to the buffer. Never raises, never waits longer.

        :returns: whether they are in the file now.
        """
        if not self._items:  # while events wait in the buffer, the file is known to be busy
            try:
                self.outbox.add(items, wait=REQUEST_WAIT)
                return True
            except sqlite3.Error as exc:
                problem = type(exc).__name__
        else:
            problem = "events before them still wait"
        self._keep(items, problem)
        return False

    def _keep(self, items: Sequence[_Item], problem: str) -> None:
        with self._lock:
            room = 0 if self._closed else max(0, self.max_events - len(self._items))
            kept = list(items[:room])
            refused = len(items) - len(kept)
            first = not self._items
            self._items.extend(kept)
            self.lost += refused
            self._uncounted += refused
            lost = self.lost
            if kept and self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="pixel-embed-outbox-writer", daemon=True
                )
                self._thread.start()
            self._ready.notify()
        if first and kept:
            log.warning(
                "TikTok Events API: the outbox %s is busy (%s): events wait in this process "
                "until it can be written (%d at most)",
                self.outbox.path,
                problem,
                self.max_events,
            )
        if refused:
            log.error(
                "TikTok Events API: the outbox %s is busy and this process's buffer is full "
                "(%d events): lost %d event(s) (%s), %d lost so far",
                self.outbox.path,
                self.max_events,
                refused,
                describe([data for _, data in items[room:]]),
                lost,
            )

    def _run(self) -> None:
        pause = _FIRST_PAUSE
        while True:
            with self._lock:
                while not self._items and not self._closed:
                    self._ready.wait()
                if not self._items:
                    self._thread = None
                    return
                batch = [self._items[n] for n in range(min(_WRITE_BATCH, len(self._items)))]
                uncounted = self._uncounted
            try:
                # SQLite's full busy time-out here: this thread has nobody waiting on it.
                self.outbox.add(batch, dropped=uncounted)
            except sqlite3.Error:
                time.sleep(pause)
                pause = min(2 * pause, _LONGEST_PAUSE)
                continue
            pause = _FIRST_PAUSE
            with self._lock:
                for _ in batch:
                    self._items.popleft()
                self._uncounted -= uncounted
                left = len(self._items)
            if not left:
                log.info(
                    "TikTok Events API: the outbox %s took the waiting events", self.outbox.path
                )
            self.written()

    def flush(self, timeout: float) -> bool:
        """Wait until the buffer is empty, for at most ``timeout`` seconds."""
        end = time.monotonic() + timeout
        while self._items and time.monotonic() < end:
            time.sleep(0.005)
        return not self._items

    def close(self, timeout: float) -> None:
        """Write what waits for at most ``timeout`` seconds; what is left is lost (logged)."""
        self.flush(timeout)
        with self._lock:
            self._closed = True
            left = len(self._items)
            self._items.clear()
            self.lost += left
            self._ready.notify()
        if left:
            log.error(
                "TikTok Events API: the outbox %s stayed busy: lost %d event(s) this process "
                "kept for it, %d lost so far",
                self.outbox.path,
                left,
                self.lost,
            )

    def after_fork(self) -> None:
        """In a forked child: the parent writes what its buffer holds; start empty."""
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._items = deque()
        self._thread = None
        self.lost = self._uncounted = 0
