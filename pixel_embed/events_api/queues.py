"""``TIKTOK_PIXEL_EVENTS_QUEUE``: where server events wait for delivery.

- ``None`` (the default): the outbox ``sqlite:///tiktok-pixel-events.sqlite3`` in the app's
  instance folder; where that file cannot be written, the memory queue, with a warning.

- ``"memory"``: a bounded in-process queue (:class:`.delivery.BackgroundSender`); what is
  waiting when the process dies is lost.
- ``"sqlite:///PATH"``: the durable outbox (:class:`.outbox_sender.OutboxSender`), a file
  every process of the site on this machine shares. A relative path is in the app's
  instance folder (as Flask-SQLAlchemy reads ``sqlite:///``); ``sqlite:////abs/path`` is
  absolute.
- ``"celery"`` / ``"rq"``: a task queue (:mod:`.celery`, :mod:`.rq`); the app is set with
  ``TIKTOK_PIXEL_CELERY`` (a Celery app) or ``TIKTOK_PIXEL_RQ_QUEUE`` (an ``rq.Queue``).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError, safe_repr
from .delivery import (
    DURABLE_RETRIES,
    QUEUE_BYTES,
    QUEUE_SIZE,
    BackgroundSender,
    RetryPolicy,
    Sender,
)
from .outbox import MAX_BYTES, MAX_EVENTS, DeliveryStats, Outbox

if TYPE_CHECKING:
    from ..core.config import EventsApiConfig

#: The queue when ``TIKTOK_PIXEL_EVENTS_QUEUE`` is not set: durable, because it costs a request
#: about 0.14 ms of CPU for three events (benchmarks/events_api.py, docs/events-api-delivery.md).
DEFAULT_QUEUE = "sqlite:///tiktok-pixel-events.sqlite3"
log = logging.getLogger("pixel_embed.events_api")
#: The values ``TIKTOK_PIXEL_EVENTS_QUEUE`` takes, for error messages.
QUEUE_KINDS = "'memory', 'sqlite:///PATH', 'celery' or 'rq'"
#: The values of ``TIKTOK_PIXEL_EVENTS_DELIVERY``.
DELIVERY_MODES = ("thread", "worker")


def outbox_path(instance_path: str, queue: str) -> str | None:
    """The outbox file a ``sqlite:///`` queue setting names, or ``None`` for another kind.

    :param instance_path: the folder a relative path is in (Flask's instance folder).
    """
    if not queue.startswith("sqlite:///"):
        return None
    path = queue[len("sqlite:///") :]
    if not path or path == ":memory:":
        raise ConfigurationError(
            f"TIKTOK_PIXEL_EVENTS_QUEUE {safe_repr(queue)} names no file: use "
            "sqlite:///events.sqlite3 (in the instance folder) or sqlite:////absolute/path"
        )
    return path if os.path.isabs(path) else os.path.join(instance_path, path)


def sender_factory(
    config: EventsApiConfig, instance_path: str, *, start_waiting: bool = True
) -> Callable[[], Sender]:
    """Open the queue the settings name now (so that a file that cannot be written fails at
    start-up); the returned function builds the sender.

    :param instance_path: the folder a relative ``sqlite:///`` path is in.
    :param start_waiting: deliver at once what an outbox holds from an earlier run (``False``
        in a command that only looks, such as ``flask tiktok-pixel events status``).
    :raises ConfigurationError: the outbox cannot be opened.
    """
    client = config.client()
    queue = config.queue
    chosen = queue is not None
    if queue is None:
        queue = DEFAULT_QUEUE
    close_timeout = config.shutdown_timeout
    durable = RetryPolicy(
        max_tries=config.max_tries or DURABLE_RETRIES.max_tries,
        backoff=config.backoff,
        max_delay=DURABLE_RETRIES.max_delay,
    )
    path = outbox_path(instance_path, queue)
    if path is not None:
        try:
            outbox = Outbox(
                path,
                max_events=config.queue_size or MAX_EVENTS,
                max_bytes=config.queue_bytes or MAX_BYTES,
            )
        except ConfigurationError as exc:
            if chosen:
                raise
            log.warning(
                "TikTok Events API: %s; server events wait in memory instead (set "
                "TIKTOK_PIXEL_EVENTS_QUEUE to choose)",
                exc,
            )
            queue, path = "memory", None
    if queue == "memory":
        queue_bytes = config.queue_bytes or QUEUE_BYTES
        memory_policy = RetryPolicy(
            max_tries=config.max_tries or RetryPolicy.max_tries, backoff=config.backoff
        )

        def memory() -> Sender:
            exit_cleanly_on_sigterm()
            return BackgroundSender(
                client,
                policy=memory_policy,
                queue_size=config.queue_size or QUEUE_SIZE,
                queue_bytes=queue_bytes,
                close_timeout=close_timeout,
            )

        return memory
    if path is not None:
        from .outbox_sender import OutboxSender

        def sqlite() -> Sender:
            exit_cleanly_on_sigterm()
            sender = OutboxSender(
                outbox,
                client,
                policy=durable,
                max_age=config.max_age,
                close_timeout=close_timeout,
                start=False,
                deliver_in_thread=config.delivery == "thread",
            )
            # Started by the first request this process serves (the integration's
            # after-request step), or now when events wait in the file: a site restarted at
            # night delivers them with no visitor.
            if start_waiting:
                sender.start_if_waiting()
            return sender

        return sqlite
    if queue == "celery":
        from .celery import CelerySender

        return lambda: CelerySender(config.celery)
    from .rq import RqSender

    return lambda: RqSender(config.rq_queue)


def delivery_stats(app: Any) -> DeliveryStats | None:
    """The app's server-event counters, for monitoring (``None`` when server events are off
    or go through a task queue, whose own tools count its jobs).

    :param app: the Flask app (its ``extensions``), or anything with an ``extensions`` mapping
        holding the :class:`~.hooks.ServerEvents` under :data:`~.hooks.EXTENSION_KEY`.
    """
    from .hooks import EXTENSION_KEY

    server = app.extensions.get(EXTENSION_KEY)
    stats = getattr(server.sender, "stats", None) if server is not None else None
    return stats() if stats is not None else None


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    # Unwind the main thread as sys.exit() does, so atexit runs and senders deliver what waits
    # (for at most their shutdown time). 128 + the signal is the shell's exit status for it.
    raise SystemExit(128 + signum)


def exit_cleanly_on_sigterm() -> None:
    """Make SIGTERM end the process through ``atexit`` (as SIGINT does), so waiting events
    are delivered within the shutdown time, where nothing else handles SIGTERM.

    A server that handles SIGTERM itself (gunicorn, uWSGI, a site's own handler) keeps its
    handler: they exit through ``sys.exit`` and ``atexit`` already.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit_on_signal)
