"""``pixel-embed events --app MODULE:ATTRIBUTE …``: look at and repair the server-event delivery
of a Starlette or FastAPI app, as ``flask tiktok-pixel events …`` does for Flask.

The app is named as uvicorn names it (``shop.main:app``, with ``--factory`` for a function that
builds it); the command finds the :class:`~.pixel.TikTokPixel` in it (the app's
``PixelMiddleware``), or takes the pixel itself (``shop.main:pixel``). Importing the app does
not start delivery: only ``deliver`` delivers.

- ``status``: counts by state, the oldest waiting event, dead letters with their reasons
  (``--json`` for monitoring);
- ``retry``: put dead letters back in the outbox (all, or ``--id``);
- ``purge``: delete dead letters (all, or ``--older-than`` hours) and give the file's space
  back (``--yes``, or a confirmation on a terminal);
- ``deliver``: deliver from the outbox until SIGTERM or SIGINT, for
  ``TIKTOK_PIXEL_EVENTS_DELIVERY = "worker"`` (``--burst``: until nothing is due);
- ``quality``: the share of server events carrying each matching key, by event name
  (``--hours``, ``--json``).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from ...errors import PixelError
from ...events_api.delivery import Sender
from ...events_api.maintenance import deliver_until_stopped, outbox_sender, status_text
from ...events_api.options import add_actions
from ...events_api.outbox_sender import OutboxSender
from ...events_api.quality import match_quality
from ...events_api.send import quality_store
from .middleware import PixelMiddleware
from .pixel import TikTokPixel


class CommandError(PixelError):
    """What the command cannot do, said in one line (exit status 2)."""


def build_parser(prog: str = "pixel-embed events") -> argparse.ArgumentParser:
    """The command line of ``pixel-embed events``."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Look at and repair the server-event delivery of a Starlette or FastAPI "
        "app (for Flask: flask tiktok-pixel events).",
    )
    parser.add_argument(
        "--app",
        required=True,
        metavar="MODULE:ATTRIBUTE",
        help="the app (or its TikTokPixel), as uvicorn takes it: shop.main:app",
    )
    parser.add_argument(
        "--factory", action="store_true", help="ATTRIBUTE is a function that builds the app"
    )
    add_actions(parser)
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = "pixel-embed events") -> int:
    """Run ``pixel-embed events`` with ``argv``; the exit status (2: a usage error, or what
    the command cannot do, said in one line)."""
    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse has already printed
        return int(exc.code or 0)
    try:
        return run(args)
    except PixelError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the action ``args`` name; the exit status.

    :raises PixelError: the app cannot be found (:class:`CommandError`) or its settings are
        wrong (``ConfigurationError``), or the action does not apply to its queue.
    """
    out = out or sys.stdout
    pixel = find_pixel(args.app, factory=args.factory)
    server_events = pixel.app_setup.server_events
    if server_events is None:
        raise CommandError(
            "server events are off: set TIKTOK_PIXEL_ACCESS_TOKEN and TIKTOK_PIXEL_CODE"
        )
    queue = pixel.config.events_api.queue if pixel.config.events_api else None
    action: Callable[[Sender, argparse.Namespace, TextIO, str | None], int] = {
        "status": _status,
        "retry": _retry,
        "purge": _purge,
        "deliver": _deliver,
        "quality": _quality,
    }[args.action]
    return action(server_events.sender, args, out, queue)


def find_pixel(target: str, *, factory: bool = False) -> TikTokPixel:
    """The pixel of the app ``target`` names (``MODULE:ATTRIBUTE``, imported from the working
    directory as uvicorn does): the attribute itself, its ``PixelMiddleware``'s, or the one in
    a Starlette app's middleware.

    :raises CommandError: ``target`` is not ``MODULE:ATTRIBUTE``, cannot be imported, or holds
        no pixel.
    """
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise CommandError(f"--app {target!r} is not MODULE:ATTRIBUTE, such as 'shop.main:app'")
    # A path ("../shop/main.py") would be taken for a relative import; uvicorn refuses it too.
    if not all(part.isidentifier() for part in module_name.split(".")):
        raise CommandError(
            f"--app {target!r}: {module_name!r} is not a module name: dotted Python names, "
            "imported from the working directory, such as 'shop.main:app'"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise CommandError(f"--app {target!r}: cannot import {module_name!r}: {exc}") from None
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise CommandError(f"--app {target!r}: {module_name!r} has no {attribute!r}") from None
    if factory:
        found = _built(found, target, attribute)
    pixel = pixel_of(found)
    if pixel is None:
        raise CommandError(
            f"--app {target!r} holds no TikTokPixel: name the app that has "
            "PixelMiddleware(pixel=...), or the pixel itself"
        )
    return pixel


def _built(factory: Any, target: str, attribute: str) -> Any:
    """What ``factory`` builds, called without arguments (``--factory``)."""
    if pixel_of(factory) is not None:
        raise CommandError(
            f"--app {target!r} --factory: {attribute!r} is the app itself, not a function "
            "that builds it: drop --factory"
        )
    if not callable(factory):
        raise CommandError(f"--app {target!r} --factory: {attribute!r} is not callable")
    try:
        inspect.signature(factory).bind()
    except TypeError:
        raise CommandError(
            f"--app {target!r} --factory: {attribute!r} needs arguments; a factory takes none"
        ) from None
    except ValueError:  # no signature to read (a builtin): called as it is
        pass
    return factory()


def pixel_of(app: object) -> TikTokPixel | None:
    """The pixel ``app`` serves: ``app`` itself, a ``PixelMiddleware`` (or an app it wraps, a
    middleware wrapping it), or a Starlette app whose middleware list holds one."""
    seen: set[int] = set()
    while app is not None and id(app) not in seen:
        seen.add(id(app))
        if isinstance(app, TikTokPixel):
            return app
        if isinstance(app, PixelMiddleware):
            return app.pixel
        for item in getattr(app, "user_middleware", None) or []:
            if getattr(item, "cls", None) is PixelMiddleware:
                options = getattr(item, "kwargs", None) or getattr(item, "options", None) or {}
                pixel = options.get("pixel")
                if isinstance(pixel, TikTokPixel):
                    return pixel
        app = getattr(app, "app", None)  # a plain ASGI middleware around the app
    return None


def _status(sender: Sender, args: argparse.Namespace, out: TextIO, queue: str | None) -> int:
    print(status_text(sender, queue, as_json=args.json, dead_shown=args.dead), file=out)
    return 0


def _retry(sender: Sender, args: argparse.Namespace, out: TextIO, queue: str | None) -> int:
    outbox = outbox_sender(sender, queue, "keeps dead letters").outbox
    count = outbox.retry_dead(args.ids or None)
    print(f"{count} dead letter(s) put back in the outbox", file=out)
    return 0


def _purge(sender: Sender, args: argparse.Namespace, out: TextIO, queue: str | None) -> int:
    outbox = outbox_sender(sender, queue, "keeps dead letters").outbox
    if not args.yes:
        if not sys.stdin.isatty():
            raise CommandError("purge deletes dead letters for good: pass --yes to confirm")
        if input("Delete the dead letters for good? [y/N] ").strip().lower() not in ("y", "yes"):
            print("Aborted.", file=out)
            return 1
    hours = args.older_than
    count = outbox.purge_dead(None if hours is None else hours * 3600)
    print(f"{count} dead letter(s) deleted", file=out)
    return 0


def _deliver(sender: Sender, args: argparse.Namespace, out: TextIO, queue: str | None) -> int:
    delivering = outbox_sender(sender, queue, "is delivered by this command")

    def say(line: str) -> None:
        print(line, file=out, flush=True)

    deliver_until_stopped(delivering, burst=args.burst, say=say)
    return 0


def _quality(sender: Sender, args: argparse.Namespace, out: TextIO, queue: str | None) -> int:
    if not isinstance(sender, OutboxSender):
        print(
            "(the counts of this queue live in each process that enqueues events: this "
            "process's; call pixel_embed.events_api.match_quality in the app for its own)",
            file=sys.stderr,
        )
    report = match_quality(quality_store(sender), hours=args.hours)
    print(json.dumps(report.as_dict(), sort_keys=True) if args.json else report.format(), file=out)
    return 0
