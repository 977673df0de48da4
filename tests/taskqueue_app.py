"""The shop of the task-queue tests, as its web process and its workers import it.

Set by the test: ``REDIS_URL`` and ``FAKE_EVENTS_API_URL``. The Celery worker runs
``celery -A taskqueue_app worker``; the RQ worker ``flask --app taskqueue_app:create_rq_app
tiktok-pixel events rq-worker``.
"""

from __future__ import annotations

import os

from celery import Celery
from flask import Flask, render_template_string
from redis import Redis
from rq import Queue

from pixel_embed import TikTokPixel
from pixel_embed.events_api import client_from_config
from pixel_embed.events_api.celery import register
from pixel_embed.testing.events_api import FAKE_ACCESS_TOKEN

CODE = "CABCDE1234567890ABCD"
TOKEN = FAKE_ACCESS_TOKEN
RAW_EMAIL = "Jane.Doe@Example.com"

celery_app = Celery("shop", broker=os.environ.get("REDIS_URL", "redis://127.0.0.1:1/0"))
celery_app.conf.update(
    # A result backend the task must leave empty.
    result_backend=os.environ.get("REDIS_URL", "redis://127.0.0.1:1/0"),
    broker_connection_retry_on_startup=False,
    worker_hijack_root_logger=False,
)


def create_app(queue: str = "celery") -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="test",
        TIKTOK_PIXEL_CODE=CODE,
        TIKTOK_PIXEL_ACCESS_TOKEN=TOKEN,
        TIKTOK_PIXEL_EVENTS_API_URL=os.environ["FAKE_EVENTS_API_URL"],
        TIKTOK_PIXEL_EVENTS_API_BACKOFF=0.01,
        TIKTOK_PIXEL_EVENTS_QUEUE=queue,
        TIKTOK_PIXEL_CELERY=celery_app,
        TIKTOK_PIXEL_RQ_QUEUE=Queue("pixel", connection=Redis.from_url(os.environ["REDIS_URL"])),
    )
    pixel = TikTokPixel(app)

    @app.get("/buy/<order>")
    def buy(order: str) -> str:
        pixel.identify(email=RAW_EMAIL)
        pixel.track("CompletePayment", value=1, currency="EUR", event_id=order, server=True)
        return render_template_string("{{ tiktok_pixel() }}")

    return app


def create_rq_app() -> Flask:
    return create_app("rq")


def mark(path: str) -> None:
    """What a pickled job asks the worker to run (a test checks it never ran)."""
    with open(path, "w") as file:
        file.write("ran")


# The worker builds the client from the app's settings: the token never enters the broker.
register(celery_app, lambda: client_from_config(create_app()))
