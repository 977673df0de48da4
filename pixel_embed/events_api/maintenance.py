"""What the ``events`` commands of every framework print and do, framework-free: the status of
delivery, and delivering as a process of its own. Flask's ``flask tiktok-pixel events`` and
Starlette's ``pixel-embed events --app …`` are thin command lines over these."""

from __future__ import annotations

import dataclasses
import datetime
import json
import signal
from collections.abc import Callable
from types import FrameType

from ..errors import PixelError
from .batching import where
from .delivery import BackgroundSender, Sender
from .outbox_sender import OutboxSender


class NotApplicable(PixelError):
    """The command does not apply to the site's queue (the message says why)."""


def outbox_sender(sender: Sender, queue: str | None, what: str) -> OutboxSender:
    """``sender`` when it is the sqlite outbox's.

    :param what: what only the outbox does, for the error ("keeps dead letters").
    :raises NotApplicable: it is another queue's.
    """
    if not isinstance(sender, OutboxSender):
        raise NotApplicable(
            f"TIKTOK_PIXEL_EVENTS_QUEUE is {queue!r}: only the sqlite outbox {what}"
        )
    return sender


def _when(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def status_text(sender: Sender, queue: str | None, *, as_json: bool, dead_shown: int) -> str:
    """Counts by state, the oldest waiting event, dead letters and why: lines for a person, or
    one JSON object for monitoring.

    :param queue: the ``TIKTOK_PIXEL_EVENTS_QUEUE`` setting, as the site wrote it.
    :raises NotApplicable: a task queue, whose own tools show its jobs.
    """
    if not isinstance(sender, OutboxSender | BackgroundSender):
        raise NotApplicable(
            f"TIKTOK_PIXEL_EVENTS_QUEUE is {queue!r}: the task queue's own tools show its jobs "
            "(celery inspect, rq info)"
        )
    stats = sender.stats()
    outbox = sender.outbox if isinstance(sender, OutboxSender) else None
    reasons = outbox.reasons() if outbox else []
    if as_json:
        report = {"queue": queue, **dataclasses.asdict(stats), "dead_reasons": dict(reasons)}
        return json.dumps(report, sort_keys=True)
    lines = [f"queue: {queue}"]
    if outbox is None:
        lines.append("(the memory queue keeps nothing across processes: this process's counters)")
    else:
        lines.append(f"file: {outbox.path} (schema version {outbox.schema_version})")
    oldest = "-" if stats.oldest_waiting is None else f"{stats.oldest_waiting:.0f} s ago"
    lines += [
        f"waiting: {stats.waiting} ({stats.in_delivery} in delivery, {stats.waiting_bytes} "
        f"bytes), oldest written {oldest}",
        f"delivered: {stats.delivered}",
        f"retried attempts: {stats.retried}",
        f"dropped (queue full): {stats.dropped}",
        f"dead letters: {stats.dead}",
        *(f"  {count} x {reason}" for reason, count in reasons),
    ]
    if outbox is not None and dead_shown > 0:
        lines += [
            f"  #{dead.id} {dead.event} {dead.event_id} {where(dead.key)}, "
            f"{dead.tries} tries, failed {_when(dead.failed)}: {dead.reason}"
            for dead in outbox.dead_letters(dead_shown)
        ]
    return "\n".join(lines)


def deliver_until_stopped(sender: OutboxSender, *, burst: bool, say: Callable[[str], None]) -> None:
    """Deliver from the outbox until SIGTERM or SIGINT (then what is due, for at most the
    sender's shutdown time), or with ``burst`` until nothing is due: the delivery process of
    ``TIKTOK_PIXEL_EVENTS_DELIVERY = "worker"``. ``say`` prints a line."""

    def stop(signum: int, frame: FrameType | None) -> None:
        sender.stop()

    handlers = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    say(f"delivering from {sender.outbox.path} (SIGTERM or Ctrl-C stops)")
    try:
        if burst:
            while sender.deliver_due():
                pass
        else:
            sender.run()
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        sender.close(timeout=0)
    stats = sender.stats()
    say(f"stopped: {stats.waiting} event(s) waiting, {stats.dead} dead letter(s)")
