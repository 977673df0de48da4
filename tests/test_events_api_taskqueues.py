"""Celery and RQ senders, end to end: a request's event goes through a real Redis
(``redis-server`` on a free local port) and a real worker process to the fake Events API, with
retries, and nothing of the event is left in Redis afterwards."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue
from rq.serializers import JSONSerializer

from pixel_embed.testing.events_api import FAKE_ACCESS_TOKEN, Answer, FakeEventsApi

HERE = Path(__file__).parent
TOKEN = FAKE_ACCESS_TOKEN


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (make test installs Debian's)")
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = Redis.from_url(url)
        for _ in range(200):
            try:
                if client.ping():
                    break
            except RedisConnectionError:
                time.sleep(0.05)
        else:
            pytest.fail("redis-server did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def environment(
    redis_url: str, fake: FakeEventsApi, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    Redis.from_url(redis_url).flushall()
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("FAKE_EVENTS_API_URL", fake.url)
    monkeypatch.syspath_prepend(str(HERE))
    return {**os.environ, "PYTHONPATH": str(HERE)}


def worker(environment: dict[str, str], *command: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", *command],
        cwd=HERE,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def redis_contents(url: str) -> bytes:
    """Every key and value in Redis, as one blob to search."""
    client = Redis.from_url(url)
    blob = []
    for key in client.scan_iter():
        kind = client.type(key)
        blob.append(key)
        if kind == b"string":
            blob.append(client.get(key) or b"")
        elif kind == b"list":
            blob.extend(client.lrange(key, 0, -1))
        elif kind == b"hash":
            blob.extend(v for pair in client.hgetall(key).items() for v in pair)
        elif kind == b"set":
            blob.extend(client.smembers(key))
        elif kind == b"zset":
            blob.extend(client.zrange(key, 0, -1))
    return b"\n".join(blob)


def shop(queue: str) -> Flask:
    import taskqueue_app

    return taskqueue_app.create_app(queue)


CELERY = ("celery", "-A", "taskqueue_app", "worker", "--pool=solo", "--loglevel=WARNING")
CELERY_OPTIONS = ("--without-gossip", "--without-mingle", "--without-heartbeat")
RQ = ("flask", "--app", "taskqueue_app:create_rq_app", "tiktok-pixel", "events", "rq-worker")


@pytest.mark.parametrize(
    ("queue", "command"), [("celery", CELERY + CELERY_OPTIONS), ("rq", RQ)], ids=["celery", "rq"]
)
def test_a_request_event_reaches_tiktok_through_a_real_worker_with_retries(
    environment: dict[str, str], fake: FakeEventsApi, queue: str, command: tuple[str, ...]
) -> None:
    app = shop(queue)
    fake.answer(Answer(503, retry_after=1))  # the first try fails: the worker retries
    assert app.test_client().get("/buy/order-1").status_code == 200
    assert app.test_client().get("/buy/order-2").status_code == 200

    process = worker(environment, *command)
    try:
        accepted = fake.wait_for_accepted(2, timeout=90)
    finally:
        stop(process)

    assert sorted(e["event_id"] for e in accepted) == ["order-1", "order-2"]
    assert len(fake.requests) >= 3  # a retry happened
    assert fake.problems == []
    [first, *_] = accepted
    digest = first["user"]["email"].encode()
    leftovers = redis_contents(environment["REDIS_URL"])
    assert digest not in leftovers  # no result, job or message keeps the event
    assert b"order-1" not in leftovers
    assert TOKEN.encode() not in leftovers
    keys = list(Redis.from_url(environment["REDIS_URL"]).scan_iter())
    assert [key for key in keys if b"task-meta" in key or key.startswith(b"rq:job:")] == []


def test_the_token_never_enters_the_broker(environment: dict[str, str]) -> None:
    app = shop("rq")
    assert app.test_client().get("/buy/order-9").status_code == 200
    redis = Redis.from_url(environment["REDIS_URL"])
    [job] = Queue("pixel", connection=redis, serializer=JSONSerializer).get_jobs()
    assert "order-9" in repr(job.args)  # the job waits, with the event (stored compressed)
    assert TOKEN not in repr(job.args)
    assert TOKEN.encode() not in redis_contents(environment["REDIS_URL"])


def test_rq_jobs_are_json(environment: dict[str, str]) -> None:
    app = shop("rq")
    assert app.test_client().get("/buy/order-7").status_code == 200
    redis = Redis.from_url(environment["REDIS_URL"])
    [key] = [key for key in redis.scan_iter("rq:job:*") if b":" not in key[len(b"rq:job:") :]]
    stored = redis.hget(key, "data")
    assert isinstance(stored, bytes)
    function, _, args, _ = json.loads(zlib.decompress(stored))
    assert function == "pixel_embed.events_api.rq.deliver_job"
    assert args[0] == "CABCDE1234567890ABCD"
    assert args[1][0]["event_id"] == "order-7"


def test_our_rq_worker_refuses_a_pickled_job(
    environment: dict[str, str], fake: FakeEventsApi, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    redis = Redis.from_url(environment["REDIS_URL"])
    # What a site's queue held before the upgrade, or what anyone who can write to Redis puts
    # there: a pickled job naming any importable function.
    pickled = Queue("pixel", connection=redis).enqueue("taskqueue_app.mark", str(marker))
    app = shop("rq")
    assert app.test_client().get("/buy/order-5").status_code == 200  # a JSON job behind it

    process = worker(environment, *RQ, "--burst")
    try:
        _, err = process.communicate(timeout=60)  # read: RQ's traceback fills a pipe
    finally:
        stop(process)
    assert b"DeserializationError" in err

    assert not marker.exists()
    assert [e["event_id"] for e in fake.accepted] == ["order-5"]
    assert pickled.id in Queue("pixel", connection=redis).failed_job_registry.get_job_ids()


def test_celery_messages_are_json_even_where_the_app_pickles(environment: dict[str, str]) -> None:
    from celery import Celery

    from pixel_embed.events_api.celery import CelerySender

    pickling = Celery("site", broker=environment["REDIS_URL"])
    pickling.conf.update(task_serializer="pickle", accept_content=["pickle", "json"])
    CelerySender(pickling, queue="pixel-json").send_many([("CABCDE1234567890ABCD", {"a": 1})])

    [raw] = Redis.from_url(environment["REDIS_URL"]).lrange("pixel-json", 0, -1)
    message = json.loads(raw)
    assert message["content-type"] == "application/json"
    assert json.loads(base64.b64decode(message["body"]))[0] == [
        "CABCDE1234567890ABCD",
        [{"a": 1}],
        1,
    ]
    # Celery's own default, which our test worker keeps and a site's workers should.
    import taskqueue_app

    assert list(Celery("default").conf.accept_content) == ["json"]
    assert list(taskqueue_app.celery_app.conf.accept_content) == ["json"]
