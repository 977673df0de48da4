"""What a request pays when another process holds the outbox's write lock (a long
``events purge``, a backup, a stuck worker), and how many of its events are lost.

The same view (identify, three server events, the pixel) is requested through Flask's test
client from two apps in turn, one whose outbox is free and one whose outbox another process
holds locked from start to end (taking turns, load from other processes on the machine skews
both alike); the latency a request adds is the difference of the two apps' percentiles.
Then the lock is released, and the events TikTok (the local fake) got are counted against
those tracked. It also times the lock attempt itself (``REQUEST_WAIT`` of
:mod:`pixel_embed.events_api.outbox_buffer`) on its own. Run it with
``python -m benchmarks --only locked_outbox``.
"""

from __future__ import annotations

import logging
import sqlite3
import tempfile
import time
from collections import Counter
from pathlib import Path

from flask import Flask

from pixel_embed.events_api import OutboxSender
from pixel_embed.events_api.hooks import EXTENSION_KEY
from pixel_embed.events_api.outbox_buffer import REQUEST_WAIT
from pixel_embed.testing.events_api import FakeEventsApi, outbox_locked

from .events_api import TOKEN, three_events_app
from .timing import median, quantile

REQUESTS = 1000
EVENTS_PER_REQUEST = 3


def _app(path: Path, url: str) -> Flask:
    return three_events_app(
        TIKTOK_PIXEL_ACCESS_TOKEN=TOKEN,
        TIKTOK_PIXEL_EVENTS_API_URL=url,
        TIKTOK_PIXEL_EVENTS_QUEUE=f"sqlite:///{path}",
    )


def _timed_request(app: Flask) -> float:
    start = time.perf_counter()
    app.test_client().get("/checkout", headers={"User-Agent": "benchmark/1.0"})
    return (time.perf_counter() - start) * 1e3


def run(*, quick: bool = False) -> dict[str, float]:
    """Request latency (ms) with the outbox free and locked, and events lost."""
    logging.getLogger("pixel_embed").setLevel(logging.CRITICAL)
    requests = 200 if quick else REQUESTS
    with (
        FakeEventsApi(access_token=TOKEN) as free_fake,
        FakeEventsApi(access_token=TOKEN) as locked_fake,
        tempfile.TemporaryDirectory() as folder,
    ):
        free_app = _app(Path(folder) / "free.sqlite3", free_fake.url)
        locked_path = Path(folder) / "locked.sqlite3"
        locked_app = _app(locked_path, locked_fake.url)
        for _ in range(50):  # warm up: templates, the delivery thread
            _timed_request(free_app)
        sender = locked_app.extensions[EXTENSION_KEY].sender
        assert isinstance(sender, OutboxSender)
        free, locked, attempts = [], [], []
        with outbox_locked(str(locked_path)):
            for _ in range(requests):
                free.append(_timed_request(free_app))
                locked.append(_timed_request(locked_app))
            buffered = len(sender.buffer)
            for _ in range(50 if quick else 200):
                start = time.perf_counter()
                try:
                    sender.outbox.add([], wait=REQUEST_WAIT)
                except sqlite3.Error:
                    attempts.append((time.perf_counter() - start) * 1e3)
        assert sender.flush(timeout=120), "the buffered events did not reach TikTok"
        lost = sender.lost
        for app in (free_app, locked_app):
            app.extensions[EXTENSION_KEY].sender.close(timeout=30)
        delivered = len(Counter(event["event_id"] for event in locked_fake.accepted))
    figures = {
        "requests": float(requests),
        "free_wall_p50_ms": median(free),
        "free_wall_p99_ms": quantile(free, 0.99),
        "locked_wall_p50_ms": median(locked),
        "locked_wall_p99_ms": quantile(locked, 0.99),
        "locked_wall_first_ms": locked[0],
        "locked_wall_max_ms": max(locked),
        "lock_attempt_p50_ms": median(attempts),
        "lock_attempt_p99_ms": quantile(attempts, 0.99),
        "buffered_while_locked": float(buffered),
        "events_lost": float(requests * EVENTS_PER_REQUEST - delivered),
        "events_lost_counted": float(lost),
    }
    figures["added_wall_p50_ms"] = figures["locked_wall_p50_ms"] - figures["free_wall_p50_ms"]
    figures["added_wall_p99_ms"] = figures["locked_wall_p99_ms"] - figures["free_wall_p99_ms"]
    return {f"locked_outbox_{name}": value for name, value in figures.items()}


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:40} {value:10.3f}")
