"""``flask tiktok-pixel events …``: look at and repair server-event delivery.

- ``status``: counts by state, the oldest waiting event, dead letters with their reasons
  (``--json`` for monitoring);
- ``retry``: put dead letters back in the outbox (all, or ``--id``);
- ``purge``: delete dead letters (all, or ``--older-than`` hours) and give the file's space
  back; delivered events are deleted as they are delivered;
- ``deliver``: deliver from the outbox as a long-lived process of its own (for
  ``TIKTOK_PIXEL_EVENTS_DELIVERY = "worker"``), until SIGTERM or SIGINT;
- ``quality``: the share of server events carrying each matching key, by event name, with
  advice for the weakest (``--hours``, ``--json``);
- ``rq-worker``: an RQ worker inside the app, for ``TIKTOK_PIXEL_EVENTS_QUEUE = "rq"``.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import signal
from types import FrameType

import click
from flask import current_app
from flask.cli import with_appcontext

from ...core.config import EventsApiConfig
from ...events_api.batching import where
from ...events_api.delivery import BackgroundSender, Sender
from ...events_api.hooks import EXTENSION_KEY
from ...events_api.outbox import Outbox
from ...events_api.outbox_sender import OutboxSender
from ...events_api.quality import match_quality
from ...events_api.send import quality_store


def _sender() -> Sender:
    server = current_app.extensions.get(EXTENSION_KEY)
    if server is None:
        raise click.ClickException(
            "server events are off: set TIKTOK_PIXEL_ACCESS_TOKEN and TIKTOK_PIXEL_CODE"
        )
    sender: Sender = server.sender
    return sender


def _outbox_sender(what: str) -> OutboxSender:
    sender = _sender()
    if not isinstance(sender, OutboxSender):
        raise click.ClickException(
            f"TIKTOK_PIXEL_EVENTS_QUEUE is {current_app.config['TIKTOK_PIXEL_EVENTS_QUEUE']!r}: "
            f"only the sqlite outbox {what}"
        )
    return sender


def _outbox() -> Outbox:
    return _outbox_sender("keeps dead letters").outbox


def _when(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@click.group("events")
def events_cli() -> None:
    """Server-event delivery: status, retry dead letters, purge."""


@events_cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the counters as one JSON object.")
@click.option("--dead", "dead_shown", default=10, show_default=True, help="Dead letters shown.")
@with_appcontext
def status(as_json: bool, dead_shown: int) -> None:
    """Counts by state, the oldest waiting event, dead letters and why."""
    sender = _sender()
    queue = current_app.config["TIKTOK_PIXEL_EVENTS_QUEUE"]
    if not isinstance(sender, OutboxSender | BackgroundSender):
        raise click.ClickException(
            f"TIKTOK_PIXEL_EVENTS_QUEUE is {queue!r}: the task queue's own tools show its jobs "
            "(celery inspect, rq info)"
        )
    stats = sender.stats()
    outbox = sender.outbox if isinstance(sender, OutboxSender) else None
    reasons = outbox.reasons() if outbox else []
    if as_json:
        report = {"queue": queue, **dataclasses.asdict(stats), "dead_reasons": dict(reasons)}
        click.echo(json.dumps(report, sort_keys=True))
        return
    click.echo(f"queue: {queue}")
    if outbox is None:
        click.echo("(the memory queue keeps nothing across processes: this process's counters)")
    else:
        click.echo(f"file: {outbox.path} (schema version {outbox.schema_version})")
    oldest = "-" if stats.oldest_waiting is None else f"{stats.oldest_waiting:.0f} s ago"
    click.echo(
        f"waiting: {stats.waiting} ({stats.in_delivery} in delivery, {stats.waiting_bytes} "
        f"bytes), oldest written {oldest}"
    )
    click.echo(f"delivered: {stats.delivered}")
    click.echo(f"retried attempts: {stats.retried}")
    click.echo(f"dropped (queue full): {stats.dropped}")
    click.echo(f"dead letters: {stats.dead}")
    for reason, count in reasons:
        click.echo(f"  {count} x {reason}")
    if outbox is not None and dead_shown > 0:
        for dead in outbox.dead_letters(dead_shown):
            click.echo(
                f"  #{dead.id} {dead.event} {dead.event_id} {where(dead.key)}, "
                f"{dead.tries} tries, failed {_when(dead.failed)}: {dead.reason}"
            )


@events_cli.command("retry")
@click.option("--id", "ids", type=int, multiple=True, help="A dead letter's number (repeatable).")
@with_appcontext
def retry(ids: tuple[int, ...]) -> None:
    """Put dead letters back in the outbox, due now (all unless --id is given)."""
    count = _outbox().retry_dead(list(ids) if ids else None)
    click.echo(f"{count} dead letter(s) put back in the outbox")


@events_cli.command("purge")
@click.option(
    "--older-than", type=float, default=None, help="Only dead letters older than these hours."
)
@click.confirmation_option(prompt="Delete the dead letters for good?")
@with_appcontext
def purge(older_than: float | None) -> None:
    """Delete dead letters and give the file's space back (delivered events are deleted as
    they are delivered)."""
    count = _outbox().purge_dead(None if older_than is None else older_than * 3600)
    click.echo(f"{count} dead letter(s) deleted")


@events_cli.command("deliver")
@click.option("--burst", is_flag=True, help="Stop once nothing is due.")
@with_appcontext
def deliver(burst: bool) -> None:
    """Deliver from the outbox until SIGTERM or SIGINT (then what is due, for at most
    TIKTOK_PIXEL_EVENTS_SHUTDOWN_TIMEOUT seconds): the delivery process of
    TIKTOK_PIXEL_EVENTS_DELIVERY = "worker"."""
    sender = _outbox_sender("is delivered by this command")

    def stop(signum: int, frame: FrameType | None) -> None:
        sender.stop()

    handlers = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    click.echo(f"delivering from {sender.outbox.path} (SIGTERM or Ctrl-C stops)")
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
    click.echo(f"stopped: {stats.waiting} event(s) waiting, {stats.dead} dead letter(s)")


@events_cli.command("quality")
@click.option("--hours", type=float, default=24.0, show_default=True, help="The period, in hours.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@with_appcontext
def quality(hours: float, as_json: bool) -> None:
    """The share of server events carrying each matching key, by event name, and what to do
    about the weakest."""
    sender = _sender()
    if not isinstance(sender, OutboxSender):
        click.echo(
            "(the counts of this queue live in each process that enqueues events: this "
            "process's; call pixel_embed.events_api.match_quality in the app for its own)",
            err=True,
        )
    report = match_quality(quality_store(sender), hours=hours)
    click.echo(json.dumps(report.as_dict(), sort_keys=True) if as_json else report.format())


@events_cli.command("rq-worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@with_appcontext
def rq_worker(burst: bool) -> None:
    """Run an RQ worker (with its scheduler, for retries) inside the app."""
    from ...events_api.rq import RqSender, run_worker

    sender = _sender()
    if not isinstance(sender, RqSender):
        raise click.ClickException("TIKTOK_PIXEL_EVENTS_QUEUE is not 'rq'")
    config = EventsApiConfig.from_mapping(current_app.config)
    assert config is not None  # server events are on: the token is set
    run_worker(config.client(), sender.queue, burst=burst, max_age=config.max_age)
