"""``manage.py tiktok_pixel``: what ``flask tiktok-pixel`` does, for a Django project.

- ``snippet``, ``hash``, ``audit``: the ``pixel-embed`` command's, with the project's settings
  as defaults (``TIKTOK_PIXEL_CODE``, ``_LDU``, ``_CONSENT``; ``_DEFAULT_REGION`` for phones);
- ``events status [--json] [--dead N]``, ``events retry [--id N]…``, ``events purge
  [--older-than HOURS] [--yes]``, ``events deliver [--burst]``, ``events quality [--hours H]
  [--json]``, ``events rq-worker [--burst]``: server-event delivery, as ``flask tiktok-pixel
  events``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pixel_embed.cli import main
from pixel_embed.events_api.delivery import Sender
from pixel_embed.events_api.maintenance import (
    NotApplicable,
    deliver_until_stopped,
    outbox_sender,
    status_text,
)
from pixel_embed.events_api.options import add_actions
from pixel_embed.events_api.outbox_sender import OutboxSender
from pixel_embed.events_api.quality import match_quality
from pixel_embed.events_api.send import quality_store

from ...pixel import pixel

PROG = "manage.py tiktok_pixel"
PASSED_ON = ("snippet", "hash", "audit")


class Command(BaseCommand):
    help = (
        "The TikTok pixel: print the snippet, hash an identifier, audit pages "
        "(snippet|hash|audit, see their --help), look at and repair server-event delivery "
        "(events status|retry|purge|deliver|quality|rq-worker)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("command", choices=[*PASSED_ON, "events"])
        parser.add_argument("rest", nargs=argparse.REMAINDER, help="the command's own options")

    def handle(self, *unused: Any, **options: Any) -> None:
        command: str = options["command"]
        args: list[str] = list(options["rest"])
        if command == "events":
            self.events(args)
            return
        if command == "snippet" and not any(a == "--code" or a.startswith("--code=") for a in args):
            args = [*_snippet_options(), *args]
        region = getattr(settings, "TIKTOK_PIXEL_DEFAULT_REGION", None)
        given_region = any(arg.startswith("--region") for arg in args)
        if command == "hash" and region and "--phone" in args and not given_region:
            args += ["--region", region]
        code = main([command, *args], prog=PROG)
        if code:
            sys.exit(code)

    # -- events ------------------------------------------------------------------------------

    def events(self, argv: list[str]) -> None:
        parser = argparse.ArgumentParser(prog=f"{PROG} events")
        commands = add_actions(parser)
        rq_worker = commands.add_parser("rq-worker", help="an RQ worker inside the project")
        rq_worker.add_argument("--burst", action="store_true", help="stop when the queue is empty")
        args = parser.parse_args(argv)
        try:
            getattr(self, f"events_{args.action.replace('-', '_')}")(args)
        except NotApplicable as exc:
            raise CommandError(str(exc)) from None

    def events_status(self, args: argparse.Namespace) -> None:
        text = status_text(_sender(), _queue(), as_json=args.json, dead_shown=args.dead)
        self.stdout.write(text)

    def events_quality(self, args: argparse.Namespace) -> None:
        sender = _sender()
        if not isinstance(sender, OutboxSender):
            self.stderr.write(
                "(the counts of this queue live in each process that enqueues events: this "
                "process's; call pixel_embed.events_api.match_quality in the project for its own)"
            )
        report = match_quality(quality_store(sender), hours=args.hours)
        self.stdout.write(
            json.dumps(report.as_dict(), sort_keys=True) if args.json else report.format()
        )

    def events_retry(self, args: argparse.Namespace) -> None:
        count = _outbox_sender("keeps dead letters").outbox.retry_dead(args.ids or None)
        self.stdout.write(f"{count} dead letter(s) put back in the outbox")

    def events_purge(self, args: argparse.Namespace) -> None:
        outbox = _outbox_sender("keeps dead letters").outbox
        if not args.yes:
            answer = input("Delete the dead letters for good? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                raise CommandError("nothing deleted")
        hours = args.older_than
        count = outbox.purge_dead(None if hours is None else hours * 3600)
        self.stdout.write(f"{count} dead letter(s) deleted")

    def events_deliver(self, args: argparse.Namespace) -> None:
        sender = _outbox_sender("is delivered by this command")
        deliver_until_stopped(sender, burst=args.burst, say=self.stdout.write)

    def events_rq_worker(self, args: argparse.Namespace) -> None:
        """An RQ worker (with its scheduler, for retries) for TIKTOK_PIXEL_EVENTS_QUEUE = "rq":
        it builds the Events API client from the project's settings, so the token never
        enters the broker."""
        from pixel_embed.events_api.rq import RqSender, run_worker

        sender = _sender()
        events_api = pixel.app_setup.config.events_api
        if not isinstance(sender, RqSender) or events_api is None:
            raise CommandError("TIKTOK_PIXEL_EVENTS_QUEUE is not 'rq'")
        run_worker(events_api.client(), sender.queue, burst=args.burst, max_age=events_api.max_age)


def _snippet_options() -> list[str]:
    """``pixel-embed snippet``'s options from the project's settings."""
    config = pixel.app_setup.config
    if config.pixel is None:
        raise CommandError("TIKTOK_PIXEL_ENABLED is False: there is no snippet to print")
    options = [part for code in config.pixel.codes for part in ("--code", code)]
    if config.pixel.ldu:
        options.append("--ldu")
    if config.pixel.consent != "none":
        options += ["--consent", config.pixel.consent]
    return options


def _sender() -> Sender:
    server_events = pixel.app_setup.server_events
    if server_events is None:
        raise CommandError(
            "server events are off: set TIKTOK_PIXEL_ACCESS_TOKEN and TIKTOK_PIXEL_CODE"
        )
    return server_events.sender


def _queue() -> str | None:
    events_api = pixel.app_setup.config.events_api
    return events_api.queue if events_api else None


def _outbox_sender(what: str) -> OutboxSender:
    try:
        return outbox_sender(_sender(), _queue(), what)
    except NotApplicable as exc:
        raise CommandError(str(exc)) from None
