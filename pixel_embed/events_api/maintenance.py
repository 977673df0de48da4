"""Looking at and repairing server-event delivery from a command line, for any framework:
what ``flask tiktok-pixel events …`` and ``manage.py tiktok_pixel events …`` print and do.

Each framework's command reads its settings, finds the sender and raises its own errors
(``click.ClickException``, Django's ``CommandError``); the report and the delivery loop are
here, once.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import signal
from collections.abc import Callable
from types import FrameType

from .delivery import BackgroundSender
from .outbox_sender import OutboxSender

#: A sender whose delivery the status report can describe.
Reported = OutboxSender | BackgroundSender


def _when(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def status_json(sender: Reported, queue: object) -> str:
    """The counters as one JSON object (``status --json``, for monitoring)."""
    outbox = sender.outbox if isinstance(sender, OutboxSender) else None
    reasons = outbox.reasons() if outbox else []
    report = {"queue": queue, **dataclasses.asdict(sender.stats()), "dead_reasons": dict(reasons)}
    return json.dumps(report, sort_keys=True)


def status_lines(sender: Reported, queue: object, dead_shown: int) -> list[str]:
    """Counts by state, the oldest waiting event, dead letters and why (``status``)."""
    stats = sender.stats()
    outbox = sender.outbox if isinstance(sender, OutboxSender) else None
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
    ]
    if outbox is not None:
        lines += [f"  {count} x {reason}" for reason, count in outbox.reasons()]
        if dead_shown > 0:
            lines += [
                f"  #{dead.id} {dead.event} {dead.event_id} pixel {dead.pixel_code}, "
                f"{dead.tries} tries, failed {_when(dead.failed)}: {dead.reason}"
                for dead in outbox.dead_letters(dead_shown)
            ]
    return lines


def deliver(sender: OutboxSender, *, burst: bool, echo: Callable[[str], object]) -> None:
    """Deliver from the outbox until SIGTERM or SIGINT (then what is due, for at most
    ``TIKTOK_PIXEL_EVENTS_SHUTDOWN_TIMEOUT`` seconds), or with ``burst`` until nothing is
    due: the delivery process of ``TIKTOK_PIXEL_EVENTS_DELIVERY = "worker"``."""

    def stop(signum: int, frame: FrameType | None) -> None:
        sender.stop()

    handlers = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    echo(f"delivering from {sender.outbox.path} (SIGTERM or Ctrl-C stops)")
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
    echo(f"stopped: {stats.waiting} event(s) waiting, {stats.dead} dead letter(s)")
