"""Server events through Celery: ``TIKTOK_PIXEL_EVENTS_QUEUE = "celery"``.

The web app publishes one task per request and pixel (:class:`CelerySender`); a worker runs
it (:func:`register`) with the retry rules of the outbox: back-off and ``Retry-After`` as a
new task with a countdown, events too old for TikTok given up on with a logged reason.
Results are never stored (``ignore_result``) and the task returns nothing, so no result
backend keeps an event; a retry is a new message, not an exception with the arguments in it.
Messages are JSON whatever the app's ``task_serializer`` (keep Celery's default
``accept_content = ["json"]`` on the workers, so that they unpickle nothing).

Web app::

    app.config.update(TIKTOK_PIXEL_EVENTS_QUEUE="celery", TIKTOK_PIXEL_CELERY=celery_app)

Worker (the module ``celery -A`` loads)::

    register(celery_app, lambda: client_from_config(create_app()))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from celery import Celery, Task

from .client import EventsApiClient
from .delivery import DURABLE_RETRIES, RetryPolicy, by_pixel, deliver_once
from .outbox import MAX_AGE

#: The task's name, shared by the web app (which sends it by name) and the worker.
TASK_NAME = "pixel_embed.events_api.deliver"


class CelerySender:
    """Publishes server events as Celery tasks; never waits for TikTok.

    :param celery_app: the Celery app whose broker carries the tasks.
    :param queue: the Celery queue to publish to (the app's default when ``None``).
    """

    def __init__(self, celery_app: Celery, *, queue: str | None = None) -> None:
        self.celery_app = celery_app
        self.queue = queue

    def __repr__(self) -> str:
        return f"CelerySender({self.celery_app.main!r})"

    def send(self, pixel_code: str, data: Mapping[str, Any]) -> None:
        """Publish one event."""
        self.send_many([(pixel_code, data)])

    def send_many(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Publish a request's events, one task per pixel.

        :raises Exception: the broker could not be reached (no retry here: the request must
            not wait; the caller logs it).
        """
        for pixel_code, data in by_pixel(items).items():
            self.celery_app.send_task(
                TASK_NAME,
                args=(pixel_code, data, 1),
                queue=self.queue,
                retry=False,
                serializer="json",
            )

    def close(self, timeout: float | None = None) -> None:
        """Nothing waits in this process: the broker holds the tasks."""


def register(
    celery_app: Celery,
    client: EventsApiClient | Callable[[], EventsApiClient],
    *,
    policy: RetryPolicy = DURABLE_RETRIES,
    max_age: float = MAX_AGE,
) -> Task:
    """Register the delivery task on the worker's Celery app.

    :param client: the Events API client, or a function that makes it (called once, in the
        worker: the access token never travels through the broker).
    :param policy: retries and back-off.
    :param max_age: seconds after an event happened when it is given up on.
    :returns: the task.
    """
    made: list[EventsApiClient] = []

    def the_client() -> EventsApiClient:
        if not made:
            made.append(client if isinstance(client, EventsApiClient) else client())
        return made[0]

    @celery_app.task(name=TASK_NAME, bind=True, ignore_result=True, acks_late=True)  # type: ignore[untyped-decorator]
    def deliver(
        task: Task,
        pixel_code: str,
        data: list[dict[str, Any]],
        attempt: int = 1,
    ) -> None:
        again = deliver_once(the_client(), pixel_code, data, attempt, policy, max_age=max_age)
        if again is not None:
            events, delay = again
            task.apply_async(
                args=(pixel_code, events, attempt + 1), countdown=delay, serializer="json"
            )

    task: Task = deliver
    return task
