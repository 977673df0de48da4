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

import argparse
import json
from collections.abc import Callable
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from ...core.config import EventsApiConfig
from ...events_api.delivery import Sender
from ...events_api.hooks import EXTENSION_KEY
from ...events_api.maintenance import (
    NotApplicable,
    deliver_until_stopped,
    outbox_sender,
    status_text,
)
from ...events_api.options import age_hours, dead_letter_id, dead_shown, period_hours
from ...events_api.outbox import Outbox
from ...events_api.outbox_sender import OutboxSender
from ...events_api.quality import match_quality
from ...events_api.send import quality_store


def _checked(check: Callable[[str], Any]) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A click callback that checks an option's text as the argparse commands check it
    (:mod:`~...events_api.options`): one usage error naming the option."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        try:
            if isinstance(value, tuple):  # multiple=True
                return tuple(check(text) for text in value)
            return None if value is None else check(value)
        except argparse.ArgumentTypeError as exc:
            raise click.BadParameter(str(exc), ctx, param) from None

    return callback


def _sender() -> Sender:
    server = current_app.extensions.get(EXTENSION_KEY)
    if server is None:
        raise click.ClickException(
            "server events are off: set TIKTOK_PIXEL_ACCESS_TOKEN and TIKTOK_PIXEL_CODE"
        )
    sender: Sender = server.sender
    return sender


def _outbox_sender(what: str) -> OutboxSender:
    try:
        return outbox_sender(_sender(), current_app.config["TIKTOK_PIXEL_EVENTS_QUEUE"], what)
    except NotApplicable as exc:
        raise click.ClickException(str(exc)) from None


def _outbox() -> Outbox:
    return _outbox_sender("keeps dead letters").outbox


@click.group("events")
def events_cli() -> None:
    """Server-event delivery: status, retry dead letters, purge."""


@events_cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the counters as one JSON object.")
@click.option(
    "--dead",
    "dead_shown",
    metavar="N",
    callback=_checked(dead_shown),
    default="10",
    show_default=True,
    help="Dead letters shown.",
)
@with_appcontext
def status(as_json: bool, dead_shown: int) -> None:
    """Counts by state, the oldest waiting event, dead letters and why."""
    queue = current_app.config["TIKTOK_PIXEL_EVENTS_QUEUE"]
    try:
        click.echo(status_text(_sender(), queue, as_json=as_json, dead_shown=dead_shown))
    except NotApplicable as exc:
        raise click.ClickException(str(exc)) from None


@events_cli.command("retry")
@click.option(
    "--id",
    "ids",
    metavar="N",
    callback=_checked(dead_letter_id),
    multiple=True,
    help="A dead letter's number (repeatable).",
)
@with_appcontext
def retry(ids: tuple[int, ...]) -> None:
    """Put dead letters back in the outbox, due now (all unless --id is given)."""
    count = _outbox().retry_dead(list(ids) if ids else None)
    click.echo(f"{count} dead letter(s) put back in the outbox")


@events_cli.command("purge")
@click.option(
    "--older-than",
    metavar="HOURS",
    callback=_checked(age_hours),
    default=None,
    help="Only dead letters older than these hours.",
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
    deliver_until_stopped(
        _outbox_sender("is delivered by this command"), burst=burst, say=click.echo
    )


@events_cli.command("quality")
@click.option(
    "--hours",
    metavar="HOURS",
    callback=_checked(period_hours),
    default="24",
    show_default=True,
    help="The period, in hours.",
)
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
