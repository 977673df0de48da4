"""A separate process for the outbox tests: a shop app (or a bare outbox) that writes events and
delivers them to a fake Events API, so tests can run several at once and kill one.

    python tests/outbox_process.py shop OUTBOX URL COUNT PREFIX [LEASE]
    python tests/outbox_process.py bulk OUTBOX URL COUNT PREFIX
    python tests/outbox_process.py memory - URL COUNT PREFIX
    python tests/outbox_process.py serve OUTBOX URL COUNT PREFIX

``shop`` makes COUNT requests to an app whose queue is the outbox, prints ``ready``, then
delivers until the outbox is empty. ``bulk`` writes COUNT events straight to the outbox, three
per transaction (a request's worth), then delivers until the outbox is empty. ``memory``
makes COUNT requests with the memory queue, prints ``ready`` and sleeps: a test then stops it
with a signal; ``serve`` does the same with the outbox (shutdown time: 1 s).
"""

from __future__ import annotations

import sys
import time

from flask import Flask, render_template_string

from pixel_embed import TikTokPixel
from pixel_embed.events_api import EventsApiClient
from pixel_embed.events_api.hooks import EXTENSION_KEY
from pixel_embed.events_api.outbox import Outbox
from pixel_embed.events_api.outbox_sender import OutboxSender
from pixel_embed.testing.events_api import FAKE_ACCESS_TOKEN

CODE = "CABCDE1234567890ABCD"
TOKEN = FAKE_ACCESS_TOKEN


def shop(queue: str, url: str, shutdown: float = 5.0, delivery: str = "thread") -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="test",
        TIKTOK_PIXEL_CODE=CODE,
        TIKTOK_PIXEL_ACCESS_TOKEN=TOKEN,
        TIKTOK_PIXEL_EVENTS_API_URL=url,
        TIKTOK_PIXEL_EVENTS_API_BACKOFF=0.01,
        TIKTOK_PIXEL_EVENTS_API_TIMEOUT=20.0,
        TIKTOK_PIXEL_EVENTS_QUEUE=queue,
        TIKTOK_PIXEL_EVENTS_SHUTDOWN_TIMEOUT=shutdown,
        TIKTOK_PIXEL_EVENTS_DELIVERY=delivery,
    )
    pixel = TikTokPixel(app)

    @app.get("/buy/<order>")
    def buy(order: str) -> str:
        pixel.track("CompletePayment", value=1, currency="EUR", event_id=order, server=True)
        return render_template_string("{{ tiktok_pixel() }}")

    return app


def event(event_id: str) -> dict[str, object]:
    return {
        "event": "CompletePayment",
        "event_id": event_id,
        "event_time": int(time.time()),
        "user": {},
        "properties": {"value": 1, "currency": "EUR"},
        "limited_data_use": False,
    }


def main(mode: str, path: str, url: str, count: int, prefix: str, lease: float = 60.0) -> None:
    if mode == "bulk":
        outbox = Outbox(path)
        client = EventsApiClient(access_token=TOKEN, url=url)
        sender = OutboxSender(outbox, client, batch_size=200, start=False, poll_interval=0.05)
        for start in range(0, count, 3):
            ids = range(start, min(start + 3, count))
            outbox.add([(CODE, event(f"{prefix}-{number}")) for number in ids])
        sender.start()
        assert sender.flush(timeout=120), "the outbox did not empty"
        sender.close(timeout=5)
        return
    app = shop(
        "memory" if mode == "memory" else f"sqlite:///{path}",
        url,
        1.0 if mode == "serve" else 5.0,
    )
    sender = app.extensions[EXTENSION_KEY].sender
    if isinstance(sender, OutboxSender):
        sender.lease = lease
        sender.poll_interval = 0.05
        sender.start()  # a restarted process delivers what an earlier one left
    browser = app.test_client()
    for number in range(count):
        assert browser.get(f"/buy/{prefix}-{number}").status_code == 200
    print("ready", flush=True)
    if mode in ("memory", "serve"):
        time.sleep(60)
        return
    assert isinstance(sender, OutboxSender)
    assert sender.flush(timeout=60), "the outbox did not empty"
    sender.close(timeout=5)


if __name__ == "__main__":
    main(
        sys.argv[1],
        sys.argv[2],
        sys.argv[3],
        int(sys.argv[4]),
        sys.argv[5],
        *map(float, sys.argv[6:]),
    )
