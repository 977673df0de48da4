"""Getting server events to TikTok without ever holding up a page.

:class:`Sender` is what the Flask extension hands each event to (``TIKTOK_PIXEL_EVENTS_QUEUE``
chooses it, :mod:`.queues`). :class:`BackgroundSender`, the ``"memory"`` queue, keeps a bounded
in-process queue drained by one daemon thread that batches, retries and gives up politely; the
durable outbox is :mod:`.outbox_sender`, the task queues :mod:`.celery` and :mod:`.rq`. Any
object with ``send`` and ``close`` will do; one with ``send_many`` gets a request's events at
once. The retry rules every sender follows are :class:`RetryPolicy` and :func:`next_try`.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from .batching import MAX_BATCH_EVENTS, post_isolating, where
from .batching import by_pixel as by_pixel
from .client import DeliveryError, EventsApiClient
from .outbox import DeliveryStats
from .quality import MemoryQuality
from .sources import destination

log = logging.getLogger("pixel_embed.events_api")

#: Events at most in one request, by default (:data:`.batching.MAX_BATCH_EVENTS`).
BATCH_SIZE = MAX_BATCH_EVENTS
#: Events waiting at most; beyond it new events are dropped (and counted) rather than queued.
QUEUE_SIZE = 1000
#: Bytes of events (as JSON) waiting at most, whatever their count: a hung endpoint must not
#: grow the process without bound.
QUEUE_BYTES = 8 * 1024 * 1024
#: Seconds :meth:`BackgroundSender.close` waits for the queue to drain at shutdown.
CLOSE_TIMEOUT = 5.0


class Sender(Protocol):
    """Delivers server events; :meth:`send` must return at once, whatever TikTok does."""

    def send(self, pixel_code: str, data: Mapping[str, Any]) -> None:
        """Deliver one event (an entry of the request's ``data`` list) for ``pixel_code``.

        ``data`` is JSON-ready, so it can travel through a task queue as it is.
        """

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is still waiting, for at most ``timeout`` seconds, and stop."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failed request is tried again.

    The n-th wait is drawn from [d/2, d] with d = ``backoff * 2 ** (n - 1)`` capped at ``max_delay``
    (exponential back-off with jitter, so many workers do not retry in step). A
    ``Retry-After`` header replaces it, capped at ``max_delay`` too.

    :param max_tries: attempts in all, the first included.
    :param backoff: the first wait, in seconds.
    :param max_delay: the longest single wait, in seconds.
    """

    max_tries: int = 5
    backoff: float = 1.0
    max_delay: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 for the first)."""
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        ceiling = min(self.max_delay, self.backoff * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


#: Retries for a durable queue (the outbox, Celery, RQ): an event waits there safely, so it is
#: tried until it is too old for TikTok (see :data:`.outbox.MAX_AGE`), at most every 10 minutes.
DURABLE_RETRIES = RetryPolicy(max_tries=1000, backoff=1.0, max_delay=600.0)


def next_try(policy: RetryPolicy, attempt: int, error: DeliveryError) -> float | None:
    """Seconds to wait before trying again after failed attempt number ``attempt``, or
    ``None`` to give up: the one rule every sender follows."""
    if error.retryable and attempt < policy.max_tries:
        return policy.delay(attempt, error.retry_after)
    return None


def tries(count: int) -> str:
    """``"1 try"``, ``"3 tries"``."""
    return f"{count} tr{'y' if count == 1 else 'ies'}"


def _gave_up(pixel_code: str, data: Sequence[Mapping[str, Any]], why: str) -> None:
    log.error(
        "TikTok Events API: gave up on %d event(s) for %s %s (events: %s)",
        len(data),
        where(pixel_code),
        why,
        describe(data),
    )


def describe(data: Sequence[Mapping[str, Any]]) -> str:
    # Event names and ids identify the batch in a log; nothing about the visitor does.
    shown = ", ".join(f"{item.get('event')} {item.get('event_id')}" for item in data[:5])
    return shown + (f" and {len(data) - 5} more" if len(data) > 5 else "")


def deliver(
    client: EventsApiClient,
    pixel_code: str,
    data: Sequence[Mapping[str, Any]],
    policy: RetryPolicy = RetryPolicy(),
    *,
    wait: Callable[[float], bool | None] = time.sleep,
) -> bool:
    """Send one batch, retrying what may succeed later; log an error when giving up. A batch
    TikTok refuses is sent again in halves (:func:`post_isolating`), so that only the refused
    events are given up on.

    Synchronous: for a background thread or a task-queue job, never a request thread.

    :param wait: sleeps for the given seconds; returning ``False`` means "no time left" and
        gives up at once (used at shutdown).
    :returns: whether TikTok accepted every event of the batch.
    """
    return _deliver_counting(client, pixel_code, data, policy, wait) == len(data)


def _deliver_counting(
    client: EventsApiClient,
    pixel_code: str,
    data: Sequence[Mapping[str, Any]],
    policy: RetryPolicy,
    wait: Callable[[float], bool | None],
) -> int:
    """:func:`deliver`, returning how many events TikTok accepted."""
    pending, accepted, attempt = list(data), 0, 0
    while True:
        attempt += 1
        failures = post_isolating(client, pixel_code, pending)
        accepted += len(pending) - sum(len(events) for events, _ in failures)
        retry: list[Mapping[str, Any]] = []
        seconds, problem = 0.0, ""
        for events, exc in failures:
            delay = next_try(policy, attempt, exc)
            if delay is None:
                _gave_up(pixel_code, events, f"after {tries(attempt)}: {exc.problem}")
            else:
                retry.extend(events)
                seconds, problem = max(seconds, delay), exc.problem
        if not retry:
            return accepted
        log.warning(
            "TikTok Events API: %s; retrying %d event(s) for %s in %.2f s (try %d of %d)",
            problem,
            len(retry),
            where(pixel_code),
            seconds,
            attempt + 1,
            policy.max_tries,
        )
        if wait(seconds) is False:
            why = f"after {tries(attempt)}: {problem}, and no time left to retry"
            _gave_up(pixel_code, retry, why)
            return accepted
        pending = retry


# The queue's items: an event for a pixel and its size, or ``None``, the signal to stop.
_Item = tuple[str, Mapping[str, Any], int] | None


class BackgroundSender:
    """Delivers events from a daemon thread: batched, retried, never blocking the caller.

    The thread starts with the first event (and again in a forked worker process). At
    interpreter exit, and on :meth:`close`, what is queued is sent for at most
    ``close_timeout`` seconds.

    :param client: the Events API client (endpoint, token, timeout).
    :param policy: retries and back-off.
    :param queue_size: events waiting at most; more are dropped with a warning.
    :param queue_bytes: bytes of events (as JSON) waiting at most; more are dropped too.
    :param batch_size: events at most per request.
    :param close_timeout: seconds to drain the queue at shutdown.
    :ivar sent: events TikTok accepted.
    :ivar failed: events given up on.
    :ivar dropped: events refused because the queue was full or the sender closed.
    """

    def __init__(
        self,
        client: EventsApiClient,
        *,
        policy: RetryPolicy = RetryPolicy(),
        queue_size: int = QUEUE_SIZE,
        queue_bytes: int = QUEUE_BYTES,
        batch_size: int = BATCH_SIZE,
        close_timeout: float = CLOSE_TIMEOUT,
    ) -> None:
        self.client = client
        self.policy = policy
        self.queue_size = queue_size
        self.queue_bytes = queue_bytes
        self.batch_size = batch_size
        self.close_timeout = close_timeout
        self.sent = self.failed = self.dropped = 0
        #: Match-quality counts of the events this process enqueued (:mod:`.quality`).
        self.quality = MemoryQuality()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._pending_bytes = 0
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._closing = threading.Event()
        self._deadline = float("inf")

    def send(self, pixel_code: str, data: Mapping[str, Any]) -> None:
        """Queue one event; returns at once. Dropped (and counted) when the queue is full."""
        size = len(orjson.dumps(data))
        with self._lock:
            if self._pid != os.getpid():
                self._after_fork()
            if (
                self._closing.is_set()
                or self._pending >= self.queue_size
                or self._pending_bytes + size > self.queue_bytes
            ):
                self.dropped += 1
                dropped = self.dropped
                reason = "the sender is closed" if self._closing.is_set() else "the queue is full"
            else:
                self._pending += 1
                self._pending_bytes += size
                self._queue.put((pixel_code, data, size))
                if self._thread is None:
                    self._start()
                dropped = -1
        if dropped < 0:
            self.quality.count([(pixel_code, data)])
            return
        if dropped == 1 or dropped % 100 == 0:
            log.warning(
                "TikTok Events API: dropped %s event for %s because %s (%d dropped so far)",
                data.get("event"),
                where(pixel_code),
                reason,
                dropped,
            )

    def stats(self) -> DeliveryStats:
        """This process's counters (nothing of the memory queue outlives it)."""
        with self._lock:
            return DeliveryStats(
                waiting=self._pending,
                delivered=self.sent,
                dead=self.failed,
                dropped=self.dropped,
                waiting_bytes=self._pending_bytes,
            )

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued event is delivered or given up on.

        :returns: whether the queue emptied within ``timeout`` seconds.
        """
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float | None = None) -> None:
        """Send what is queued, for at most ``timeout`` seconds (``close_timeout`` by default),
        then stop the thread. Later events are dropped. Registered with :mod:`atexit`."""
        timeout = self.close_timeout if timeout is None else timeout
        with self._lock:
            if self._pid != os.getpid():
                self._after_fork()
            if self._closing.is_set():
                return
            self._deadline = time.monotonic() + timeout
            self._closing.set()
            thread, self._thread = self._thread, None
        atexit.unregister(self.close)
        if thread is None:
            return
        self._queue.put(None)
        thread.join(max(0.0, self._deadline - time.monotonic()))
        if thread.is_alive() or self._pending:
            log.error(
                "TikTok Events API: closed with %d event(s) undelivered after %.1f s",
                self._pending,
                timeout,
            )

    def _start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name="pixel-embed-events-api", daemon=True
        )
        self._thread.start()
        atexit.register(self.close)

    def _after_fork(self) -> None:
        # Threads do not survive fork(): the child starts its own, with an empty queue (the
        # parent still delivers what it had queued).
        self._pid = os.getpid()
        self._queue = queue.SimpleQueue()
        self._pending = self._pending_bytes = 0
        self._thread = None

    def _wait(self, seconds: float) -> bool:
        end = time.monotonic() + seconds
        if not self._closing.wait(seconds):
            return True
        if end > self._deadline:
            return False
        time.sleep(max(0.0, end - time.monotonic()))
        return True

    def _run(self) -> None:
        work = self._queue
        stop = False
        while not stop:
            batch = [work.get()]
            while len(batch) < self.batch_size and not work.empty():
                batch.append(work.get())
            by_pixel: dict[str, list[Mapping[str, Any]]] = {}
            sizes: dict[str, int] = {}
            for item in batch:
                if item is None:
                    stop = True
                else:
                    by_pixel.setdefault(item[0], []).append(item[1])
                    sizes[item[0]] = sizes.get(item[0], 0) + item[2]
            for pixel_code, events in by_pixel.items():
                self._deliver(pixel_code, events, sizes[pixel_code])

    def _deliver(self, pixel_code: str, events: list[Mapping[str, Any]], size: int) -> None:
        try:
            sent = _deliver_counting(self.client, pixel_code, events, self.policy, self._wait)
        except Exception as exc:  # never let one bad batch kill the worker
            # Only the type: an exception's text might quote the data.
            log.error(
                "TikTok Events API: unexpected %s delivering to %s",
                type(exc).__name__,
                where(pixel_code),
            )
            sent = 0
        self._done(sent=sent, failed=len(events) - sent, size=size)

    def _done(self, *, sent: int = 0, failed: int = 0, size: int = 0) -> None:
        with self._idle:
            self.sent += sent
            self.failed += failed
            self._pending -= sent + failed
            self._pending_bytes -= size
            self._idle.notify_all()


def deliver_once(
    client: EventsApiClient,
    pixel_code: str,
    data: Sequence[Mapping[str, Any]],
    attempt: int,
    policy: RetryPolicy = DURABLE_RETRIES,
    *,
    max_age: float,
    now: float | None = None,
) -> tuple[list[Mapping[str, Any]], float] | None:
    """One attempt of a task-queue job (Celery, RQ): the same rules as the outbox.

    Events older than ``max_age`` seconds are given up on, as is the batch after the last
    try; both are logged with the reason (event names and ids only).

    :param max_age: for web events; CRM and offline events have their own limits
        (:data:`.sources.MAX_AGE`).
    :returns: the events to try again and the seconds to wait first, or ``None`` when nothing
        is left to do.
    """
    now = time.time() if now is None else now
    to = destination(pixel_code)
    if to.source != "web":
        max_age = to.max_age
    fresh = [item for item in data if now - float(item.get("event_time") or now) <= max_age]
    if len(fresh) < len(data):
        stale = [item for item in data if item not in fresh]
        _gave_up(
            pixel_code, stale, f"as too old: TikTok gets events at most {max_age / 3600:g} h old"
        )
    if not fresh:
        return None
    again: list[Mapping[str, Any]] = []
    longest = 0.0
    for events, exc in post_isolating(client, pixel_code, fresh):
        delay = next_try(policy, attempt, exc)
        if delay is None:
            _gave_up(pixel_code, events, f"after {tries(attempt)}: {exc.problem}")
            continue
        log.warning(
            "TikTok Events API: %s; retrying %d event(s) for %s in %.2f s (try %d)",
            exc.problem,
            len(events),
            where(pixel_code),
            delay,
            attempt + 1,
        )
        again.extend(events)
        longest = max(longest, delay)
    return (again, longest) if again else None
