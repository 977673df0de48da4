"""What enabling server-side Events API sends costs a page request.

Runs the same view (identify, track a purchase, render the pixel) through Flask's test client
with server events off, on (a local fake Events API answering 200), and on with that endpoint
hung, in CPU time of the request thread (the cost the request path pays) and in wall-clock time
(which also feels the delivery thread and any load on the machine). It also times building and
queueing one server event on its own. Nothing leaves 127.0.0.1. Run it with
``python -m benchmarks.events_api``.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask, render_template_string

from pixel_embed import Identity, TikTokPixel, validate_event
from pixel_embed.events_api import (
    BackgroundSender,
    EventsApiClient,
    Outbox,
    OutboxSender,
    RequestContext,
    server_event,
)
from pixel_embed.events_api.hooks import EXTENSION_KEY
from pixel_embed.testing.events_api import Answer, FakeEventsApi

CODE = "CABCDE1234567890ABCD"
TOKEN = "benchmark-token"
REQUESTS = 400
ROUNDS = 7
_LAYOUT = "<!doctype html><html><head>{{ tiktok_pixel() }}</head><body>ok</body></html>"


def _app(**config: object) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="bench", TIKTOK_PIXEL_CODE=CODE, TIKTOK_PIXEL_EVENTS_QUEUE="memory", **config
    )
    pixel = TikTokPixel(app)

    @app.get("/buy")
    def buy() -> str:
        pixel.identify(email="jane@example.com", phone_number="+12133734253", external_id="u-42")
        pixel.track(
            "CompletePayment",
            value=42.5,
            currency="USD",
            contents=[{"content_id": "sku-1", "price": 42.5, "quantity": 1}],
            server=True,
        )
        return render_template_string(_LAYOUT)

    return app


def _timer(app: Flask, requests: int = REQUESTS) -> Callable[[], tuple[float, float]]:
    """A function timing ``requests`` requests to ``app``: the mean wall-clock time and the
    mean CPU time of the requesting thread (which other processes' load hardly skews), in µs.
    """
    client = app.test_client()
    client.set_cookie("_ttp", "ttp-benchmark")
    headers = {"User-Agent": "benchmark/1.0"}

    def one_round() -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.thread_time()
        for _ in range(requests):
            client.get("/buy?ttclid=E.C.P.bench", headers=headers)
        return (
            (time.perf_counter() - wall) / requests * 1e6,
            (time.thread_time() - cpu) / requests * 1e6,
        )

    for _ in range(50):  # warm up (template compilation, the first thread start)
        client.get("/buy?ttclid=E.C.P.bench", headers=headers)
    return one_round


def _per_call_us(call: Callable[[], object], count: int = 20000) -> float:
    start = time.perf_counter()
    for _ in range(count):
        call()
    return (time.perf_counter() - start) / count * 1e6


def run(*, requests: int = REQUESTS, rounds: int = ROUNDS) -> dict[str, float]:
    """Time the request path with server events off, on, and on with TikTok hung.

    The three set-ups take turns, round after round, and each keeps its best round, so load
    from other processes on the machine skews them alike.

    :param requests: requests per set-up and round.
    """
    logging.getLogger("pixel_embed").setLevel(logging.ERROR)
    with FakeEventsApi(access_token=TOKEN) as healthy, FakeEventsApi(access_token=TOKEN) as hung:
        hung.answer(*[Answer(hang=True)] * 100)  # retries after each time-out hang again
        apps = {
            "off": _app(),
            "on": _app(TIKTOK_PIXEL_ACCESS_TOKEN=TOKEN, TIKTOK_PIXEL_EVENTS_API_URL=healthy.url),
            "hung": _app(
                TIKTOK_PIXEL_ACCESS_TOKEN=TOKEN,
                TIKTOK_PIXEL_EVENTS_API_URL=hung.url,
                TIKTOK_PIXEL_EVENTS_API_QUEUE_SIZE=requests * (rounds + 1),
            ),
        }
        timers = {name: _timer(app, requests) for name, app in apps.items()}
        wall = dict.fromkeys(timers, float("inf"))
        cpu = dict.fromkeys(timers, float("inf"))
        for _ in range(rounds):
            for name, timer in timers.items():
                round_wall, round_cpu = timer()
                wall[name] = min(wall[name], round_wall)
                cpu[name] = min(cpu[name], round_cpu)
        on_sender = apps["on"].extensions[EXTENSION_KEY].sender
        on_sender.close(timeout=30)
        hung_requests = len(hung.requests)
        hung.release()
        apps["hung"].extensions[EXTENSION_KEY].sender.close(timeout=30)

        event = validate_event("CompletePayment", {"value": 42.5, "currency": "USD"})
        identity = Identity.from_raw(email="jane@example.com", phone_number="+12133734253")
        context = RequestContext(ip="127.0.0.1", user_agent="benchmark/1.0", url="http://x/")
        data = server_event(event, identity, context)
        hung.answer(*[Answer(hang=True)] * 100)  # keep the worker busy: time queueing alone
        idle = BackgroundSender(EventsApiClient(access_token=TOKEN, url=hung.url))
        enqueue = _per_call_us(lambda: idle.send(CODE, data), 5000)
        hung.release()
        idle.close(timeout=30)
        payload = _per_call_us(lambda: server_event(event, identity, context))

    return {
        **queue_costs(requests=requests, rounds=rounds),
        **delivery_throughput(20_000 if requests >= REQUESTS else 3_000),
        "requests_per_round": float(requests),
        "off_cpu_us_per_request": cpu["off"],
        "on_cpu_us_per_request": cpu["on"],
        "hung_cpu_us_per_request": cpu["hung"],
        "overhead_cpu_us_per_request": cpu["on"] - cpu["off"],
        "overhead_cpu_percent": 100 * (cpu["on"] - cpu["off"]) / cpu["off"],
        "hung_overhead_cpu_us_per_request": cpu["hung"] - cpu["off"],
        "off_wall_us_per_request": wall["off"],
        "on_wall_us_per_request": wall["on"],
        "hung_wall_us_per_request": wall["hung"],
        "payload_us_per_event": payload,
        "enqueue_us_per_event": enqueue,
        "on_events_delivered": float(on_sender.sent),
        "hung_endpoint_requests_during_run": float(hung_requests),
    }


def three_events_app(**config: object) -> Flask:
    """A view that identifies the visitor and tracks three server events, as the issue asks."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY="bench", TIKTOK_PIXEL_CODE=CODE, **config)
    pixel = TikTokPixel(app)

    @app.get("/checkout")
    def checkout() -> str:
        pixel.identify(email="jane@example.com", phone_number="+12133734253", external_id="u-42")
        pixel.track("AddToCart", content_id="sku-1", value=42.5, currency="USD", server=True)
        pixel.track("InitiateCheckout", value=42.5, currency="USD", server=True)
        pixel.track("CompletePayment", value=42.5, currency="USD", server=True)
        return render_template_string(_LAYOUT)

    return app


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def queue_costs(*, requests: int = REQUESTS, rounds: int = ROUNDS) -> dict[str, float]:
    """Per-request cost with the memory queue and with the SQLite outbox, side by side (the
    set-ups take turns, so load on the machine skews them alike), in µs: CPU time of the
    request thread (what the request itself spends, which other processes' load hardly
    skews) and wall-clock time (which also waits for the CPU and the disk)."""
    with FakeEventsApi(access_token=TOKEN) as fake, tempfile.TemporaryDirectory() as folder:
        common = {"TIKTOK_PIXEL_ACCESS_TOKEN": TOKEN, "TIKTOK_PIXEL_EVENTS_API_URL": fake.url}
        apps = {
            "memory": three_events_app(TIKTOK_PIXEL_EVENTS_QUEUE="memory", **common),
            "sqlite": three_events_app(
                TIKTOK_PIXEL_EVENTS_QUEUE=f"sqlite:///{folder}/events.sqlite3", **common
            ),
        }
        samples: dict[str, list[float]] = {name: [] for name in apps}
        cpu: dict[str, list[float]] = {name: [] for name in apps}
        clients = {name: app.test_client() for name, app in apps.items()}
        for client in clients.values():
            for _ in range(50):
                client.get("/checkout", headers={"User-Agent": "benchmark/1.0"})
        for _ in range(rounds):
            for name, client in clients.items():
                for _ in range(requests):
                    start, start_cpu = time.perf_counter(), time.thread_time()
                    client.get("/checkout", headers={"User-Agent": "benchmark/1.0"})
                    cpu[name].append((time.thread_time() - start_cpu) * 1e6)
                    samples[name].append((time.perf_counter() - start) * 1e6)
        for app in apps.values():
            app.extensions[EXTENSION_KEY].sender.close(timeout=30)
    figures = {}
    for kind, measured in (("cpu", cpu), ("wall", samples)):
        for name, values in measured.items():
            figures[f"{name}_{kind}_p50_us_per_request"] = statistics.median(values)
            figures[f"{name}_{kind}_p99_us_per_request"] = _percentile(values, 0.99)
        for at in ("p50", "p99"):
            figures[f"outbox_added_{kind}_{at}_us"] = (
                figures[f"sqlite_{kind}_{at}_us_per_request"]
                - figures[f"memory_{kind}_{at}_us_per_request"]
            )
    return figures


def delivery_throughput(events: int = 20_000) -> dict[str, float]:
    """Events per second one process delivers from the outbox to the local fake, batched."""
    event = validate_event("CompletePayment", {"value": 42.5, "currency": "USD"})
    identity = Identity.from_raw(email="jane@example.com", phone_number="+12133734253")
    context = RequestContext(ip="127.0.0.1", user_agent="benchmark/1.0", url="http://x/")
    figures = {}
    with FakeEventsApi(access_token=TOKEN) as fake, tempfile.TemporaryDirectory() as folder:
        client = EventsApiClient(access_token=TOKEN, url=fake.url)
        for batch_size in (50, 500):
            outbox = Outbox(str(Path(folder) / f"throughput-{batch_size}.sqlite3"))
            for start in range(0, events, 3):
                outbox.add(
                    [(CODE, server_event(event, identity, context))] * min(3, events - start)
                )
            sender = OutboxSender(outbox, client, batch_size=batch_size, start=False)
            begin = time.perf_counter()
            while sender.deliver_due():
                pass
            seconds = time.perf_counter() - begin
            assert outbox.stats().delivered == events
            figures[f"outbox_delivery_events_per_s_batch_{batch_size}"] = events / seconds
    return figures


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:34} {value:10.1f}")
