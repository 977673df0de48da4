"""Server events through RQ: ``TIKTOK_PIXEL_EVENTS_QUEUE = "rq"``.

The web app enqueues one job per request and pixel (:class:`RqSender`); a worker runs
:func:`deliver_job` with the retry rules of the outbox: back-off and ``Retry-After`` as a job
scheduled for later (run the worker with its scheduler), events too old for TikTok given up on
with a logged reason. Jobs keep no result (``result_ttl=0``: the job and its arguments are
deleted once done) and never fail with the data in a traceback.

Jobs are JSON (RQ's :class:`~rq.serializers.JSONSerializer`), never pickles: a worker that
unpickles what it finds in Redis runs whatever code whoever can write to Redis put there. Every
``Queue`` and ``Worker`` made here uses it (:func:`json_queue`), whatever the serializer of the
queue the site configured; our worker refuses a pickled job (it cannot be read as JSON, and
RQ moves it to the failed jobs unread).

Web app::

    app.config.update(TIKTOK_PIXEL_EVENTS_QUEUE="rq", TIKTOK_PIXEL_RQ_QUEUE=Queue(connection=r))

Worker, inside the app (it builds the Events API client from the app's settings)::

    flask --app shop tiktok-pixel events rq-worker

or, from any framework, :func:`run_worker` with the client the settings describe.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from rq import Queue, Worker, get_current_job
from rq.serializers import JSONSerializer

from .client import EventsApiClient
from .delivery import DURABLE_RETRIES, by_pixel, deliver_once
from .outbox import MAX_AGE

#: Seconds a job may run: one request, with the client's time-out, and some slack.
JOB_TIMEOUT = 120
#: Seconds a job that failed anyway (a worker bug, not TikTok) is kept for inspection.
FAILURE_TTL = 3600
# What this process's worker delivers with (run_worker sets it; a job's process inherits it).
_WORKER: dict[str, Any] = {}


def json_queue(queue: Queue) -> Queue:
    """The same RQ queue (name, Redis connection), with jobs as JSON."""
    return Queue(queue.name, connection=queue.connection, serializer=JSONSerializer)


class RqSender:
    """Enqueues server events as RQ jobs; never waits for TikTok.

    :param queue: the RQ queue (its Redis connection included).
    """

    def __init__(self, queue: Queue) -> None:
        self.queue = json_queue(queue)

    def __repr__(self) -> str:
        return f"RqSender({self.queue.name!r})"

    def send(self, pixel_code: str, data: Mapping[str, Any]) -> None:
        """Enqueue one event."""
        self.send_many([(pixel_code, data)])

    def send_many(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Enqueue a request's events, one job per pixel."""
        for pixel_code, data in by_pixel(items).items():
            _enqueue(self.queue, pixel_code, data, 1)

    def close(self, timeout: float | None = None) -> None:
        """Nothing waits in this process: Redis holds the jobs."""


def _enqueue(
    queue: Queue, pixel_code: str, data: list[dict[str, Any]], attempt: int, delay: float = 0
) -> None:
    options: dict[str, Any] = {
        "args": (pixel_code, data, attempt),
        "result_ttl": 0,
        "failure_ttl": FAILURE_TTL,
        "job_timeout": JOB_TIMEOUT,
        "description": f"TikTok Events API: {len(data)} event(s) for pixel {pixel_code}",
    }
    if delay > 0:
        queue.enqueue_in(timedelta(seconds=delay), deliver_job, **options)
    else:
        queue.enqueue(deliver_job, **options)


def deliver_job(pixel_code: str, data: list[dict[str, Any]], attempt: int = 1) -> None:
    """The job: one attempt; a retry is a new job scheduled for later."""
    client: EventsApiClient | None = _WORKER.get("client")
    if client is None:
        raise RuntimeError(
            "pixel_embed's RQ job needs the site's settings: run the worker with "
            "`flask tiktok-pixel events rq-worker` (or pixel_embed.events_api.rq.run_worker)"
        )
    max_age: float = _WORKER["max_age"]
    again = deliver_once(client, pixel_code, data, attempt, DURABLE_RETRIES, max_age=max_age)
    job = get_current_job()
    if again is not None and job is not None:
        events, delay = again
        queue = json_queue(Queue(job.origin, connection=job.connection))
        _enqueue(queue, pixel_code, [dict(event) for event in events], attempt + 1, delay)


class _Worker(Worker):
    """RQ's worker, polling its command channel every second rather than every 60 s.

    RQ listens for commands (``rq suspend``, kill-horse) in a redis-py pub/sub thread with a
    60 s poll. redis-py 8.2's ``PubSubWorkerThread.stop()`` waits for that thread, which,
    unsubscribed while it waits for a subscription, sleeps out the whole poll: a ``--burst``
    worker took a minute to exit after its last job (seen with rq 3.0 and redis 8.2).
    """

    def subscribe(self) -> None:
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]
            sleep_time=1, daemon=True, exception_handler=self._pubsub_exception_handler
        )


def run_worker(
    client: EventsApiClient, queue: Queue, *, burst: bool = False, max_age: float = MAX_AGE
) -> None:
    """Run an RQ worker (with its scheduler, for retries) whose jobs deliver with ``client``.

    :param max_age: seconds after an event happened when it is given up on
        (``TIKTOK_PIXEL_EVENTS_MAX_AGE``).
    """
    queue = json_queue(queue)
    _WORKER.update(client=client, max_age=max_age)
    worker = _Worker([queue], connection=queue.connection, serializer=JSONSerializer)
    worker.work(with_scheduler=True, burst=burst)
