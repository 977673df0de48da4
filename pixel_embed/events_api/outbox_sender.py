"""Delivering from the durable outbox: one thread per process, leases, retries that survive a
restart, dead letters with a reason. See :mod:`.outbox` for the file itself."""

from __future__ import annotations

import atexit
import dataclasses
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .batching import batches, where
from .client import DeliveryError, EventsApiClient
from .delivery import BATCH_SIZE, CLOSE_TIMEOUT, DURABLE_RETRIES, RetryPolicy, next_try, tries
from .outbox import MAX_AGE, Claimed, DeliveryStats, Outbox, new_owner
from .outbox_buffer import BUFFER_EVENTS, WriteBuffer
from .sources import MAX_AGE as SOURCE_MAX_AGE
from .sources import describe_age

log = logging.getLogger("pixel_embed.events_api")

#: Seconds between looks for events other processes wrote (this process's wake it at once).
POLL_INTERVAL = 1.0
#: Seconds between checkpoints of the write-ahead log (requests never run one).
CHECKPOINT_INTERVAL = 1.0
#: Seconds the delivery thread lets events gather after a request wrote some, so that one
#: claim and one POST carry many requests' events: delivering each request's events at once
#: cost every request about 0.2 ms more (benchmarks/events_api.py), for no gain a visitor sees.
GATHER_DELAY = 0.2


class OutboxSender:
    """Writes events to an :class:`Outbox` and delivers what is due from a daemon thread.

    Every process that uses the same file delivers from it; each event goes to one process at
    a time (a lease), and again only if that process dies or its lease runs out.

    :param outbox: the outbox file.
    :param client: the Events API client.
    :param policy: retries and back-off (tried until too old, by default).
    :param batch_size: events at most per request.
    :param max_age: seconds after a web event happened when it is dead-lettered, not sent
        (CRM and offline events: :data:`.sources.MAX_AGE`).
    :param lease: seconds a claim lasts; longer than a request can take (by default twice
        the client's timeout, plus 30 s).
    :param close_timeout: seconds :meth:`close` keeps delivering at shutdown.
    :param start: start the delivery thread now (else the first event, or :meth:`start`).
    :param deliver_in_thread: deliver from a thread of this process (``False``: only write,
        and a ``flask tiktok-pixel events deliver`` process delivers).
    :param buffer_events: events kept in this process at most while the file is locked.
    """

    def __init__(
        self,
        outbox: Outbox,
        client: EventsApiClient,
        *,
        policy: RetryPolicy = DURABLE_RETRIES,
        batch_size: int = BATCH_SIZE,
        max_age: float = MAX_AGE,
        lease: float | None = None,
        poll_interval: float = POLL_INTERVAL,
        close_timeout: float = CLOSE_TIMEOUT,
        start: bool = True,
        deliver_in_thread: bool = True,
        buffer_events: int = BUFFER_EVENTS,
    ) -> None:
        self.outbox = outbox
        self.client = client
        self.policy = policy
        self.batch_size = batch_size
        self.max_age = max_age
        #: Seconds after it happened when an event of each source is dead-lettered.
        self.max_ages = {**SOURCE_MAX_AGE}
        self.max_ages["web"] = max_age
        self.lease = 2 * client.timeout + 30.0 if lease is None else lease
        self.poll_interval = poll_interval
        self.close_timeout = close_timeout
        self.deliver_in_thread = deliver_in_thread
        #: Where a request's events wait while another process holds the file's lock.
        self.buffer = WriteBuffer(outbox, max_events=buffer_events, written=self._wake_up)
        self.owner = new_owner()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._deadline = float("inf")
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        # Held for one delivery pass (and by fork(), so that a child is never forked while
        # this process's delivery is half-done inside SQLite or urllib3).
        self._busy = threading.RLock()
        self._claimed_at = 0.0
        self._unsettled: list[tuple[Callable[..., None], Sequence[Claimed], tuple[Any, ...]]] = []
        self._forking = False
        self._closed = False
        self._exit_registered = False
        _SENDERS.add(self)
        if start:
            self.start()

    def __repr__(self) -> str:
        return f"OutboxSender({self.outbox.path!r})"

    @property
    def quality(self) -> Outbox:
        """Where the match-quality counts of the events it takes are kept: the outbox file,
        in the transaction that writes them (:mod:`.quality`)."""
        return self.outbox

    def send(self, pixel_code: str, data: Mapping[str, Any]) -> None:
        """Write one event to the outbox; returns once it is on disk."""
        self.send_many([(pixel_code, data)])

    @property
    def lost(self) -> int:
        """Events this process lost: the file stayed locked and its buffer was full, or it
        closed before the file took them (logged each time)."""
        return self.buffer.lost

    def send_many(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Write a request's events in one transaction; returns once they are on disk, or,
        when another process holds the file's lock, in this process's buffer (a request
        never waits more than a few milliseconds for the lock; see :mod:`.outbox_buffer`).
        Never raises into the request.
        """
        if self.buffer.write(items):
            self._wake_up()
        elif not self._exit_registered:
            # In every delivery mode: at exit, the buffer is written (or its loss logged).
            self._exit_registered = True
            atexit.register(self.close)

    def _wake_up(self) -> None:
        if self.deliver_in_thread:
            self.start()
            self._wake.set()

    def start(self) -> None:
        """Start the delivery thread of this process, if it is not running (and this sender
        delivers in a thread)."""
        if not self.deliver_in_thread or (self._thread is not None and self._pid == os.getpid()):
            return  # the common case, once per request: no lock
        with self._lock:
            if self._pid != os.getpid():  # threads do not survive fork()
                self._pid, self._thread = os.getpid(), None
                self.owner = new_owner()
            if self._thread is not None or self._closing.is_set():
                return
            self._thread = threading.Thread(target=self.run, name="pixel-embed-outbox", daemon=True)
            self._thread.start()
        atexit.register(self.close)

    def start_if_waiting(self) -> bool:
        """Start the delivery thread if events wait in the file (left by an earlier run, or
        by another process): a restarted site delivers them without waiting for a visitor.

        :returns: whether it started (or was running).
        """
        if not self.deliver_in_thread:
            return False
        try:
            waiting = self.outbox.next_due() is not None
        except sqlite3.Error:
            return False
        if waiting:
            self.start()
        return waiting

    def deliver_due(self) -> int:
        """Claim one batch of due events and deliver it; synchronous.

        :returns: how many events were claimed (0: none was due).
        """
        with self._busy:
            self._settle()
            claimed = self.outbox.claim(self.owner, self.batch_size, self.lease)
            if not claimed:
                return 0
            self._claimed_at = self.outbox.clock()
            fresh: list[Claimed] = []
            stale: dict[float, list[Claimed]] = {}
            for event in claimed:
                limit = self.max_ages.get(event.source, self.max_age)
                if self._claimed_at - event.event_time <= limit:
                    fresh.append(event)
                else:
                    stale.setdefault(limit, []).append(event)
            for limit, events in stale.items():
                self._record(
                    self.outbox.bury,
                    events,
                    f"too old: TikTok gets {events[0].source} events at most "
                    f"{describe_age(limit)} old",
                )
            by_destination: dict[str, list[Claimed]] = {}
            for event in fresh:
                by_destination.setdefault(event.key, []).append(event)
            for key, events in by_destination.items():
                for batch in batches(events, [event.size for event in events]):
                    self._post(key, batch)
            return len(claimed)

    def _record(self, outcome: Callable[..., None], events: Sequence[Claimed], *args: Any) -> None:
        # An outcome that cannot be written now (a locked or full disk) is written before the
        # next claim, not forgotten: forgetting it would send the events again once the lease
        # ran out, or keep a refused event coming back.
        try:
            outcome(self.owner, events, *args)
        except sqlite3.Error as exc:
            self._unsettled.append((outcome, events, args))
            log.error(
                "TikTok Events API: could not record what happened to %d event(s) (%s); "
                "recorded before the next delivery",
                len(events),
                type(exc).__name__,
            )

    def _settle(self) -> None:
        while self._unsettled:
            outcome, events, args = self._unsettled[0]
            outcome(self.owner, events, *args)  # raises on: nothing claimed until it is written
            self._unsettled.pop(0)

    def _lease_running_out(self) -> bool:
        # Halving a refused batch takes one request per half: none is started after half the
        # lease (by default the lease is twice the time-out plus 30 s, so a request started
        # before ends before it), after which another process may claim the same events.
        return self.outbox.clock() - self._claimed_at >= self.lease / 2

    def _post(self, pixel_code: str, events: list[Claimed]) -> None:
        if self._lease_running_out():
            self._record(self.outbox.retry_later, events, "lease ran out", self.outbox.clock())
            return
        try:
            self.client.post_body(
                self.client.encode_encoded(pixel_code, [event.body for event in events])
            )
        except DeliveryError as exc:
            error = exc
        except Exception as exc:  # never let one bad batch stop delivery
            error = DeliveryError(type(exc).__name__, retryable=True)
        else:
            self._record(self.outbox.delivered, events)
            return
        if not error.retryable and not error.whole_request and len(events) > 1:
            # TikTok refused the batch and (publicly) names no event: halve it until each
            # refused event is alone, so that only those are dead-lettered.
            log.warning(
                "TikTok Events API: %s; sending the %d event(s) for %s in halves to find "
                "the refused one(s)",
                error.problem,
                len(events),
                where(pixel_code),
            )
            half = len(events) // 2
            self._post(pixel_code, events[:half])
            self._post(pixel_code, events[half:])
            return
        self._failed(pixel_code, events, error)

    def _failed(self, pixel_code: str, events: list[Claimed], error: DeliveryError) -> None:
        now = self.outbox.clock()
        later: list[tuple[Claimed, float]] = []
        given_up = []
        for event in events:
            delay = next_try(self.policy, event.tries, error)
            if delay is None:
                given_up.append(event)
            else:
                later.append((event, now + delay))
        if given_up:
            reason = f"{error.problem} (gave up after {tries(max(e.tries for e in given_up))})"
            self._record(self.outbox.bury, given_up, reason)
            log.error(
                "TikTok Events API: %d event(s) for %s moved to the dead letters: %s",
                len(given_up),
                where(pixel_code),
                reason,
            )
        # Each event its own back-off (its own tries, its own jitter): events that failed
        # together are not glued together, so a good one is not held back by a bad one.
        if later:
            retried = [event for event, _ in later]
            self._record(self.outbox.retry_later, retried, error.problem, [due for _, due in later])
            log.warning(
                "TikTok Events API: %s; %d event(s) for %s stay in the outbox, "
                "retried in %.2f s or later",
                error.problem,
                len(retried),
                where(pixel_code),
                min(due for _, due in later) - now,
            )

    def run(self) -> None:
        """Deliver in this thread until :meth:`stop` (the delivery thread, or
        ``flask tiktok-pixel events deliver``)."""
        checkpointed = time.monotonic()
        while True:
            closing = self._closing.is_set()
            if closing and time.monotonic() >= self._deadline:
                return
            try:
                if time.monotonic() - checkpointed >= CHECKPOINT_INTERVAL:
                    self.outbox.checkpoint()
                    checkpointed = time.monotonic()
                if self.deliver_due():
                    continue
                if closing:
                    return  # nothing due: what waits for later stays in the file
                next_due = self.outbox.next_due()
            except sqlite3.Error as exc:
                log.error("TikTok Events API: the outbox failed: %s", type(exc).__name__)
                next_due = None
            wait = self.poll_interval
            if next_due is not None:
                wait = min(wait, max(0.0, next_due - self.outbox.clock()))
            if self._wake.wait(wait) and not self._closing.is_set():
                self._closing.wait(GATHER_DELAY)  # close() cuts it short
            self._wake.clear()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until no event waits in this process's buffer or in the outbox (delivered or
        dead-lettered).

        :returns: whether that happened within ``timeout`` seconds.
        """
        end = time.monotonic() + (3600.0 if timeout is None else timeout)
        while len(self.buffer) or self.outbox.stats().waiting:
            if time.monotonic() >= end:
                return False
            self._wake.set()
            time.sleep(0.01)
        return True

    def stop(self, timeout: float | None = None) -> None:
        """Ask delivery to stop: what is due is delivered for at most ``timeout`` seconds
        (``close_timeout`` by default); returns at once (safe in a signal handler)."""
        timeout = self.close_timeout if timeout is None else timeout
        if not self._closing.is_set():
            self._deadline = time.monotonic() + timeout
            self._closing.set()
        self._wake.set()

    def close(self, timeout: float | None = None) -> None:
        """Write what waits in this process's buffer, deliver what is due, for at most
        ``timeout`` seconds (``close_timeout`` by default), then stop. What is left stays in
        the outbox for the next start. Registered with :mod:`atexit`."""
        timeout = self.close_timeout if timeout is None else timeout
        end = time.monotonic() + timeout
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread if self._pid == os.getpid() else None
        atexit.unregister(self.close)
        self.buffer.close(timeout)
        self._deadline = min(self._deadline, end)
        self._closing.set()
        self._wake.set()
        if thread is not None:
            thread.join(max(0.0, end - time.monotonic()))
        try:
            left = self.outbox.stats().waiting
        except sqlite3.Error:
            return
        if left:
            log.info(
                "TikTok Events API: %d event(s) wait in the outbox %s for the next start",
                left,
                self.outbox.path,
            )

    def stats(self) -> DeliveryStats:
        """Counts by state across every process that shares the outbox, and this process's
        events waiting in its buffer for the file."""
        return dataclasses.replace(self.outbox.stats(), buffered=len(self.buffer))

    def _before_fork(self) -> None:
        # No child is forked mid-delivery: it would inherit SQLite's and urllib3's state
        # half-changed (a lock held by a thread it does not have). One request at most.
        self._forking = self._busy.acquire(timeout=self.client.timeout + 1.0)

    def _after_fork_in_parent(self) -> None:
        if self._forking:
            self._busy.release()

    def _after_fork_in_child(self) -> None:
        # The parent keeps delivering (and writing its buffer); the child starts its own
        # thread with its first request, under its own name.
        self._busy = threading.RLock()
        self._lock = threading.Lock()
        self._pid, self._thread = os.getpid(), None
        self.owner = new_owner()
        self._unsettled = []
        self.buffer.after_fork()


_SENDERS: weakref.WeakSet[OutboxSender] = weakref.WeakSet()


def _each_sender(method: Callable[[OutboxSender], None]) -> Callable[[], None]:
    def call() -> None:
        for sender in list(_SENDERS):
            method(sender)

    return call


os.register_at_fork(
    before=_each_sender(OutboxSender._before_fork),
    after_in_parent=_each_sender(OutboxSender._after_fork_in_parent),
    after_in_child=_each_sender(OutboxSender._after_fork_in_child),
)
