"""Server events from ``uvicorn --workers 2``: every event delivered exactly once, those waiting
when the server is told to stop included (the lifespan's shutdown delivers them), and those
left in the outbox by a stop delivered by the next start, before any visitor comes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from events_api_support import fake_api

from pixel_embed.events_api.outbox import Outbox
from pixel_embed.testing.events_api import Answer, FakeEventsApi

#: How uvicorn ends on SIGTERM: 0 with workers (the supervisor exits), the signal again with
#: one process (it re-raises it once its graceful shutdown is done).
STOPPED = (0, -signal.SIGTERM, 128 + signal.SIGTERM)
TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def uvicorn_workers(
    fake: FakeEventsApi, queue: str, *, workers: int = 2, shutdown: float = 10.0
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``uvicorn asgi_worker_app:app --workers N`` on a free port; yields its URL and process,
    and stops it (SIGTERM, as a process manager does) when the block ends, if it still runs."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)]),
        "ASGI_TEST_API_URL": fake.url,
        "ASGI_TEST_TOKEN": fake.access_token,
        "ASGI_TEST_QUEUE": queue,
        "ASGI_TEST_SHUTDOWN_TIMEOUT": str(shutdown),
    }
    command = [
        sys.executable, "-m", "uvicorn", "asgi_worker_app:app", "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(workers), "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=TESTS, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("uvicorn did not start") from None
                time.sleep(0.1)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def buy(url: str, orders: list[str]) -> set[str]:
    """Each order bought by its own visitor, 8 at a time; the worker pids that answered."""
    with ThreadPoolExecutor(8) as pool:
        answers = pool.map(lambda order: httpx.get(f"{url}/buy/{order}", timeout=10), orders)
        return {answer.text.split()[0] for answer in answers if answer.status_code == 200}


def delivered(fake: FakeEventsApi) -> Counter[str]:
    return Counter(str(event["event_id"]) for event in fake.accepted)


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=30)


def test_events_waiting_at_shutdown_are_delivered_once_each(tmp_path: Path) -> None:
    outbox = tmp_path / "events.sqlite3"
    orders = [f"order-{n}" for n in range(40)]
    with fake_api() as fake, uvicorn_workers(fake, f"sqlite:///{outbox}") as (url, process):
        fake.answer(Answer(hang=True))  # TikTok stalls: events pile up in the outbox
        pids = buy(url, orders)
        assert fake.wait_until_hanging()
        stop_started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        time.sleep(1.0)  # the workers are shutting down, with events waiting
        fake.release()
        assert process.wait(timeout=30) in STOPPED
        assert time.monotonic() - stop_started < 15
    counts = delivered(fake)
    assert set(counts) == set(orders), f"lost: {set(orders) - set(counts)}"
    assert max(counts.values()) == 1, [k for k, v in counts.items() if v > 1]
    assert Outbox(str(outbox)).stats().waiting == 0
    assert len(pids) >= 1


def test_events_left_by_a_stop_go_out_with_the_next_start(tmp_path: Path) -> None:
    outbox = tmp_path / "events.sqlite3"
    orders = [f"left-{n}" for n in range(12)]
    with fake_api() as fake:
        fake.answer(*[Answer(status=503)] * 1000)  # TikTok is down while the site stops
        with uvicorn_workers(fake, f"sqlite:///{outbox}", shutdown=1.0) as (url, process):
            buy(url, orders)
            fake.wait_for_requests(1)
            assert stop(process) in STOPPED
        assert not fake.accepted
        assert Outbox(str(outbox)).stats().waiting == len(orders)
        fake.clear_answers()
        with uvicorn_workers(fake, f"sqlite:///{outbox}"):
            deadline = time.monotonic() + 20
            while len(delivered(fake)) < len(orders) and time.monotonic() < deadline:
                time.sleep(0.1)  # no request: the lifespan's startup delivers
    counts = delivered(fake)
    assert set(counts) == set(orders)
    assert max(counts.values()) == 1


@pytest.mark.parametrize("workers", [1, 2])
def test_the_memory_queue_delivers_before_the_workers_exit(workers: int) -> None:
    orders = [f"memory-{workers}-{n}" for n in range(20)]
    with fake_api() as fake, uvicorn_workers(fake, "memory", workers=workers) as (url, process):
        fake.answer(Answer(hang=True))
        buy(url, orders)
        assert fake.wait_until_hanging()
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        fake.release()
        assert process.wait(timeout=30) in STOPPED
    counts = delivered(fake)
    assert set(counts) == set(orders)
    assert max(counts.values()) == 1
