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
from typing import Any

from flask import Flask

from ..errors import ConfigurationError
from .client import EventsApiClient
from .delivery import (
    CLOSE_TIMEOUT,
    DURABLE_RETRIES,
    QUEUE_BYTES,
    QUEUE_SIZE,
    BackgroundSender,
    RetryPolicy,
    Sender,
)
from .outbox import MAX_AGE, MAX_BYTES, MAX_EVENTS, DeliveryStats, Outbox

#: The queue when ``TIKTOK_PIXEL_EVENTS_QUEUE`` is not set: durable, because it costs a request
#: about 0.14 ms of CPU for three events (benchmarks/events_api.py, docs/events-api-delivery.md).
DEFAULT_QUEUE = "sqlite:///tiktok-pixel-events.sqlite3"
log = logging.getLogger("pixel_embed.events_api")
_KINDS = "'memory', 'sqlite:///PATH', 'celery' or 'rq'"
#: The values of ``TIKTOK_PIXEL_EVENTS_DELIVERY``.
DELIVERY_MODES = ("thread", "worker")


def set_defaults(app: Flask) -> None:
    """The queue settings' defaults (``setdefault``: the app's own values win)."""
    #: Where server events wait: "memory", "sqlite:///PATH", "celery" or "rq"; None: the
    #: outbox in the instance folder, or memory (with a warning) where it cannot be written.
    app.config.setdefault("TIKTOK_PIXEL_EVENTS_QUEUE", None)
    #: Bytes of waiting events at most (memory: 8 MB; sqlite: 256 MB).
    app.config.setdefault("TIKTOK_PIXEL_EVENTS_QUEUE_BYTES", None)
    #: Seconds after an event happened when it is dead-lettered instead of sent (durable queues).
    app.config.setdefault("TIKTOK_PIXEL_EVENTS_MAX_AGE", MAX_AGE)
    #: Seconds spent delivering what waits when the process stops (SIGTERM, SIGINT, exit).
    app.config.setdefault("TIKTOK_PIXEL_EVENTS_SHUTDOWN_TIMEOUT", CLOSE_TIMEOUT)
    #: The Celery app that carries server events, with TIKTOK_PIXEL_EVENTS_QUEUE = "celery".
    app.config.setdefault("TIKTOK_PIXEL_CELERY", None)
    #: The rq.Queue that carries server events, with TIKTOK_PIXEL_EVENTS_QUEUE = "rq".
    app.config.setdefault("TIKTOK_PIXEL_RQ_QUEUE", None)
    #: Who delivers from the outbox: "thread" (a thread in each process that serves requests
    #: or opens an outbox with events waiting) or "worker" (only `flask tiktok-pixel events
    #: deliver`, run as its own process; web processes only write).
    app.config.setdefault("TIKTOK_PIXEL_EVENTS_DELIVERY", "thread")


def outbox_path(app: Flask, queue: str) -> str | None:
    """The outbox file a ``sqlite:///`` queue setting names, or ``None`` for another kind."""
    if not queue.startswith("sqlite:///"):
        return None
    path = queue[len("sqlite:///") :]
    if not path or path == ":memory:":
        raise ConfigurationError(
            f"TIKTOK_PIXEL_EVENTS_QUEUE {queue!r} names no file: use sqlite:///events.sqlite3 "
            "(in the instance folder) or sqlite:////absolute/path"
        )
    return path if os.path.isabs(path) else os.path.join(app.instance_path, path)


def _number(app: Flask, key: str, default: float, *, whole: bool = False) -> Any:
    value = app.config[key]
    if value is None:
        return default
    ok = isinstance(value, int) if whole else isinstance(value, int | float)
    if not ok or isinstance(value, bool) or value <= 0:
        kind = "a whole number" if whole else "a number"
        raise ConfigurationError(f"{key} {value!r} must be {kind} above 0")
    return value


def sender_factory(
    app: Flask, client: EventsApiClient, policy: RetryPolicy, queue_size: int | None
) -> Callable[[], Sender]:
    """Check the queue settings now; the returned function builds the sender.

    :param policy: the retry settings the app gave (``max_tries`` 0: not given).
    :param queue_size: ``TIKTOK_PIXEL_EVENTS_API_QUEUE_SIZE``, or ``None`` for the default.
    :raises ConfigurationError: a setting is invalid.
    """
    set_defaults(app)
    queue = app.config["TIKTOK_PIXEL_EVENTS_QUEUE"]
    chosen = queue is not None
    if queue is None:
        queue = DEFAULT_QUEUE
    if not isinstance(queue, str):
        raise ConfigurationError(f"TIKTOK_PIXEL_EVENTS_QUEUE {queue!r} must be one of {_KINDS}")
    close_timeout = _number(app, "TIKTOK_PIXEL_EVENTS_SHUTDOWN_TIMEOUT", CLOSE_TIMEOUT)
    max_age = _number(app, "TIKTOK_PIXEL_EVENTS_MAX_AGE", MAX_AGE)
    durable = RetryPolicy(
        max_tries=policy.max_tries or DURABLE_RETRIES.max_tries,
        backoff=policy.backoff,
        max_delay=DURABLE_RETRIES.max_delay,
    )
    delivery = app.config["TIKTOK_PIXEL_EVENTS_DELIVERY"]
    if delivery not in DELIVERY_MODES:
        raise ConfigurationError(
            f"TIKTOK_PIXEL_EVENTS_DELIVERY {delivery!r} must be 'thread' or 'worker'"
        )
    path = outbox_path(app, queue)
    if delivery == "worker" and path is None:
        raise ConfigurationError(
            f"TIKTOK_PIXEL_EVENTS_DELIVERY 'worker' delivers from the sqlite outbox; "
            f"TIKTOK_PIXEL_EVENTS_QUEUE is {queue!r}"
        )
    if path is not None:
        try:
            outbox = Outbox(
                path,
                max_events=queue_size or MAX_EVENTS,
                max_bytes=_number(app, "TIKTOK_PIXEL_EVENTS_QUEUE_BYTES", MAX_BYTES, whole=True),
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
        queue_bytes = _number(app, "TIKTOK_PIXEL_EVENTS_QUEUE_BYTES", QUEUE_BYTES, whole=True)
        memory_policy = RetryPolicy(
            max_tries=policy.max_tries or RetryPolicy.max_tries, backoff=policy.backoff
        )

        def memory() -> Sender:
            exit_cleanly_on_sigterm()
            return BackgroundSender(
                client,
                policy=memory_policy,
                queue_size=queue_size or QUEUE_SIZE,
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
                max_age=max_age,
                close_timeout=close_timeout,
                start=False,
                deliver_in_thread=delivery == "thread",
            )
            # Started by the first request this process serves (hooks.py), or now when events
            # wait in the file: a site restarted at night delivers them with no visitor. Not
            # in a `flask` command other than `flask run` (`events status` must not deliver).
            if not in_flask_command():
                sender.start_if_waiting()
            return sender

        return sqlite
    if queue == "celery":
        from .celery import CelerySender

        celery_app = app.config["TIKTOK_PIXEL_CELERY"]
        if celery_app is None:
            raise ConfigurationError(
                "TIKTOK_PIXEL_EVENTS_QUEUE 'celery' needs TIKTOK_PIXEL_CELERY, the Celery app "
                "whose workers run pixel_embed.events_api.celery.register(...)"
            )
        return lambda: CelerySender(celery_app)
    if queue == "rq":
        from .rq import RqSender

        rq_queue = app.config["TIKTOK_PIXEL_RQ_QUEUE"]
        if rq_queue is None:
            raise ConfigurationError(
                "TIKTOK_PIXEL_EVENTS_QUEUE 'rq' needs TIKTOK_PIXEL_RQ_QUEUE, an rq.Queue"
            )
        return lambda: RqSender(rq_queue)
    raise ConfigurationError(f"TIKTOK_PIXEL_EVENTS_QUEUE {queue!r} must be one of {_KINDS}")


def in_flask_command() -> bool:
    """Whether the app is being built for a ``flask`` command (or another click program,
    such as ``celery worker``) other than ``flask run``, which serves requests."""
    import click

    context = click.get_current_context(silent=True)
    return context is not None and context.info_name != "run"


def delivery_stats(app: Flask) -> DeliveryStats | None:
    """The app's server-event counters, for monitoring (``None`` when server events are off
    or go through a task queue, whose own tools count its jobs)."""
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
