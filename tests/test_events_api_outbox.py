"""The durable outbox: a request's events written in one transaction, delivered once across
processes and restarts, retried with simulated time, dead-lettered with a reason, bounded."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest
from events_api_support import (
    TOKEN,
    Clock,
    assert_clean_logs,
    closing_sender,
    events_app,
    manual_sender,
    shop,
    timed_event,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from outbox_process import CODE

from pixel_embed import TikTokPixel
from pixel_embed.errors import ConfigurationError
from pixel_embed.events_api import EventsApiClient
from pixel_embed.events_api.hooks import EXTENSION_KEY
from pixel_embed.events_api.outbox import MAX_AGE, SCHEMA_VERSION, Claimed, Outbox
from pixel_embed.events_api.outbox_sender import OutboxSender
from pixel_embed.testing.events_api import Answer, FakeEventsApi

HERE = Path(__file__).parent
HOUR = 3600.0


@pytest.fixture
def clock() -> Clock:
    return Clock()


def outbox_at(path: Path, clock: Clock, **limits: int) -> Outbox:
    return Outbox(str(path), clock=clock, **limits)


def test_a_request_writes_its_events_in_one_transaction_and_they_are_delivered(
    fake: FakeEventsApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = events_app(fake, TIKTOK_PIXEL_EVENTS_QUEUE=f"sqlite:///{tmp_path}/events.sqlite3")
    pixel = TikTokPixel(app)
    shop(app, pixel)

    @app.get("/three")
    def three() -> str:
        pixel.identify(email="jane@example.com")
        for name in ("ViewContent", "AddToCart", "CompletePayment"):
            pixel.track(name, value=1, currency="EUR", server=True)
        return "ok"

    sender = app.extensions[EXTENSION_KEY].sender
    assert isinstance(sender, OutboxSender)
    statements: list[str] = []
    with closing_sender(app):
        sender.outbox._connect().set_trace_callback(statements.append)
        assert app.test_client().get("/three").status_code == 200
        sender.outbox._connect().set_trace_callback(None)
        assert statements.count("BEGIN IMMEDIATE") == 1
        assert sender.flush(timeout=10)
    assert sorted(e["event"] for e in fake.accepted) == [
        "AddToCart",
        "Purchase",
        "ViewContent",
    ]
    stats = sender.stats()
    assert (stats.waiting, stats.delivered, stats.dead) == (0, 3, 0)
    assert fake.problems == []
    assert os.stat(tmp_path / "events.sqlite3").st_mode & 0o077 == 0  # the site's user only
    assert_clean_logs(caplog)


def test_the_file_is_wal_with_a_schema_version(tmp_path: Path, clock: Clock) -> None:
    outbox = outbox_at(tmp_path / "o.sqlite3", clock)
    journal = sqlite3.connect(outbox.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert journal == "wal"
    assert outbox.schema_version == SCHEMA_VERSION


def test_a_file_from_a_newer_release_is_refused(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "o.sqlite3"
    outbox_at(path, clock)
    sqlite3.connect(path).execute("PRAGMA user_version = 99")

    with pytest.raises(ConfigurationError, match="schema version 99, written by a newer"):
        outbox_at(path, clock)


def test_a_sqlite_queue_without_a_file_is_a_configuration_error(fake: FakeEventsApi) -> None:
    app = events_app(fake, TIKTOK_PIXEL_EVENTS_QUEUE="sqlite:///")
    with pytest.raises(ConfigurationError, match="names no file"):
        TikTokPixel(app)


def test_an_unknown_queue_is_a_configuration_error(fake: FakeEventsApi) -> None:
    app = events_app(fake, TIKTOK_PIXEL_EVENTS_QUEUE="postgres://db")
    with pytest.raises(ConfigurationError, match="must be one of 'memory', 'sqlite:///PATH'"):
        TikTokPixel(app)


def test_a_relative_path_is_in_the_instance_folder(fake: FakeEventsApi, tmp_path: Path) -> None:
    app = events_app(fake, TIKTOK_PIXEL_EVENTS_QUEUE="sqlite:///events.sqlite3")
    app.instance_path = str(tmp_path / "instance")
    TikTokPixel(app)
    with closing_sender(app):
        assert (tmp_path / "instance" / "events.sqlite3").exists()


def test_an_endpoint_down_for_hours_then_back_gets_everything(
    fake: FakeEventsApi, tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = outbox_at(tmp_path / "o.sqlite3", clock)
    sender = manual_sender(outbox, fake)
    outbox.add([(CODE, timed_event(f"e{n}", clock)) for n in range(5)])
    start = clock.now
    fake.answer(*[Answer(503)] * 1000)

    attempts = claims = 0
    while clock.now - start < 6 * HOUR:  # far past the memory queue's ~15 s of retries
        claimed = sender.deliver_due()
        assert claimed >= 1  # each event has its own back-off: not always all five at once
        claims += claimed
        attempts += 1
        next_due = outbox.next_due()
        assert next_due is not None
        assert next_due > clock.now
        assert next_due - clock.now <= 600  # at most 10 minutes between tries
        clock.now = next_due
    fake.clear_answers()
    while outbox.stats().waiting:
        clock.now = max(clock.now, outbox.next_due() or clock.now)
        sender.deliver_due()

    assert sorted(e["event_id"] for e in fake.accepted) == [f"e{n}" for n in range(5)]
    assert outbox.stats().retried == claims
    assert len(fake.requests) - len(fake.accepted) <= attempts  # the failed ones, by batch
    assert_clean_logs(caplog)


def test_an_endpoint_down_past_the_age_limit_dead_letters_with_the_reason(
    fake: FakeEventsApi, tmp_path: Path, clock: Clock
) -> None:
    outbox = outbox_at(tmp_path / "o.sqlite3", clock)
    # A 3-hour limit keeps the test short; the default (MAX_AGE) is reached the same way.
    sender = manual_sender(outbox, fake, max_age=3 * HOUR)
    outbox.add([(CODE, timed_event("late", clock))])
    fake.answer(*[Answer(500)] * 10_000)
    start = clock.now

    while outbox.stats().waiting:
        sender.deliver_due()
        clock.now = outbox.next_due() or clock.now

    assert clock.now - start > 3 * HOUR
    assert fake.accepted == []
    [dead] = outbox.dead_letters()
    assert dead.event_id == "late"
    assert dead.reason == "too old: TikTok gets web events at most 3 h old"
    assert outbox.reasons() == [(dead.reason, 1)]


def test_retry_after_survives_a_restart(fake: FakeEventsApi, tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "o.sqlite3"
    first = outbox_at(path, clock)
    first.add([(CODE, timed_event("e1", clock))])
    fake.answer(Answer(429, retry_after=120))
    manual_sender(first, fake).deliver_due()

    restarted = outbox_at(path, clock)  # a new process opens the same file
    sender = manual_sender(restarted, fake)
    assert restarted.next_due() == pytest.approx(clock.now + 120)
    clock.now += 119
    assert sender.deliver_due() == 0
    clock.now += 2
    assert sender.deliver_due() == 1
    assert [e["event_id"] for e in fake.accepted] == ["e1"]


def test_a_refusal_is_dead_lettered_and_can_be_retried(
    fake: FakeEventsApi, tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = outbox_at(tmp_path / "o.sqlite3", clock)
    sender = manual_sender(outbox, fake)
    outbox.add([(CODE, timed_event("e1", clock)), (CODE, timed_event("e2", clock))])
    # The batch is refused, then each of its halves: both events are bad.
    fake.answer(*[Answer(200, code=40002, message=f"bad data, token {TOKEN.upper()}")] * 3)

    sender.deliver_due()

    reasons = outbox.reasons()
    assert reasons == [
        ("TikTok code 40002: bad data, token [access token] (gave up after 1 try)", 2)
    ]
    assert "moved to the dead letters" in caplog.text
    assert outbox.stats().dead == 2
    assert outbox.retry_dead() == 2
    sender.deliver_due()
    assert sorted(e["event_id"] for e in fake.accepted) == ["e1", "e2"]
    assert outbox.stats().dead == 0
    assert_clean_logs(caplog)


def test_a_redirect_keeps_the_events_as_dead_letters(
    fake: FakeEventsApi, tmp_path: Path, clock: Clock
) -> None:
    outbox = outbox_at(tmp_path / "o.sqlite3", clock)
    sender = manual_sender(outbox, fake)
    outbox.add([(CODE, timed_event("e1", clock))])
    fake.answer(Answer(302, location="http://203.0.113.1/"))

    sender.deliver_due()

    [dead] = outbox.dead_letters()
    assert dead.reason == "HTTP 302 redirect, not followed (gave up after 1 try)"
    assert outbox.retry_dead([dead.id]) == 1  # the body was kept


def test_a_full_outbox_refuses_new_events_and_says_so(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = outbox_at(tmp_path / "o.sqlite3", clock, max_events=3)
    assert outbox.add([(CODE, timed_event(f"e{n}", clock)) for n in range(5)]) == 3
    assert outbox.stats().dropped == 2
    assert "the outbox is full" in caplog.text
    assert "CompletePayment e3" in caplog.text

    small = outbox_at(tmp_path / "bytes.sqlite3", clock, max_bytes=500)
    assert small.add([(CODE, timed_event(f"e{n}", clock)) for n in range(5)]) < 5


def test_dead_letters_are_bounded_and_purged(tmp_path: Path, clock: Clock) -> None:
    outbox = outbox_at(tmp_path / "o.sqlite3", clock, max_dead=3)
    outbox.add([(CODE, timed_event(f"e{n}", clock, age=MAX_AGE + 60)) for n in range(5)])
    client = EventsApiClient(access_token=TOKEN, url="http://127.0.0.1:9/")
    OutboxSender(outbox, client, start=False).deliver_due()

    assert [dead.event_id for dead in outbox.dead_letters()] == ["e4", "e3", "e2"]
    clock.now += 10
    assert outbox.purge_dead(older_than=60) == 0
    assert outbox.purge_dead() == 3


def test_an_expired_lease_is_claimed_again(tmp_path: Path, clock: Clock) -> None:
    outbox = outbox_at(tmp_path / "o.sqlite3", clock)
    outbox.add([(CODE, timed_event("e1", clock))])
    assert len(outbox.claim("a", 10, lease=30)) == 1
    assert outbox.claim("b", 10, lease=30) == []  # a's lease holds
    clock.now += 31
    [again] = outbox.claim("b", 10, lease=30)
    assert again.tries == 2
    outbox.delivered("a", [again])  # a came back too late: b's claim is not a's to settle
    assert outbox.stats().waiting == 1


def run(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(HERE / "outbox_process.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=HERE,
    )


def finish(process: subprocess.Popen[str], timeout: float = 120) -> None:
    try:
        _, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err[-3000:]


def test_kill_9_during_delivery_then_a_restart_delivers_each_event_once(
    fake: FakeEventsApi, tmp_path: Path
) -> None:
    path = str(tmp_path / "events.sqlite3")
    fake.answer(Answer(503, hang=True))  # the endpoint hangs on the first batch
    first = run("shop", path, fake.url, "20", "order", "1.0")
    try:
        assert first.stdout is not None
        assert first.stdout.readline().strip() == "ready"
        assert fake.wait_until_hanging(timeout=30)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    fake.release()  # the hung request gets its 503 (its client is dead anyway)
    assert Outbox(path).stats().waiting == 20

    finish(run("shop", path, fake.url, "0", "unused", "1.0"))

    counts = Counter(e["event_id"] for e in fake.accepted)
    assert counts == Counter({f"order-{n}": 1 for n in range(20)})
    assert Outbox(path).stats().waiting == 0


def test_four_processes_share_one_outbox_and_deliver_each_event_once(
    fake: FakeEventsApi, tmp_path: Path
) -> None:
    path = str(tmp_path / "events.sqlite3")
    Outbox(path)
    processes = [run("bulk", path, fake.url, "2000", f"p{n}") for n in range(4)]
    for process in processes:
        finish(process)

    counts = Counter(e["event_id"] for e in fake.accepted)
    assert len(counts) == 8000
    assert set(counts.values()) == {1}
    stats = Outbox(path).stats()
    assert (stats.waiting, stats.delivered, stats.dead, stats.dropped) == (0, 8000, 0, 0)
    assert fake.problems == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_delivers_what_the_memory_queue_holds(
    fake: FakeEventsApi, signum: int
) -> None:
    fake.answer(Answer(hang=True))  # the first batch is in flight when the signal comes
    process = run("memory", "-", fake.url, "30", "order")
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        assert fake.wait_until_hanging(timeout=30)
        process.send_signal(signum)
        fake.release()
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert sorted(e["event_id"] for e in fake.accepted) == sorted(f"order-{n}" for n in range(30))


def test_sigterm_with_a_hung_endpoint_stops_in_time_and_keeps_the_events(
    fake: FakeEventsApi, tmp_path: Path
) -> None:
    path = str(tmp_path / "events.sqlite3")
    fake.answer(Answer(503, hang=True))
    process = run("serve", path, fake.url, "10", "order", "1.0")
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        assert fake.wait_until_hanging(timeout=30)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)  # the 1 s shutdown time, not the 20 s request time-out
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 128 + signal.SIGTERM
    fake.release()
    assert Outbox(path).stats().waiting == 10  # left in the file for the next start

    finish(run("shop", path, fake.url, "0", "unused", "1.0"))
    assert Counter(e["event_id"] for e in fake.accepted) == Counter(
        {f"order-{n}": 1 for n in range(10)}
    )


def test_closing_leaves_what_is_not_due_in_the_file(
    fake: FakeEventsApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = events_app(fake, TIKTOK_PIXEL_EVENTS_QUEUE=f"sqlite:///{tmp_path}/o.sqlite3")
    shop(app, TikTokPixel(app))
    sender = app.extensions[EXTENSION_KEY].sender
    fake.answer(Answer(503, retry_after=600))
    with caplog.at_level(logging.INFO, logger="pixel_embed"):
        app.test_client().get("/buy")
        fake.wait_for_requests(1)
        sender.close(timeout=2)
    assert "1 event(s) wait in the outbox" in caplog.text
    assert sender.stats().waiting == 1


def test_the_default_queue_is_the_outbox_in_the_instance_folder(
    fake: FakeEventsApi, tmp_path: Path
) -> None:
    app = events_app(fake, TIKTOK_PIXEL_EVENTS_QUEUE=None)
    app.instance_path = str(tmp_path / "instance")
    TikTokPixel(app)
    with closing_sender(app):
        sender = app.extensions[EXTENSION_KEY].sender
        assert isinstance(sender, OutboxSender)
        assert sender.outbox.path == str(tmp_path / "instance" / "tiktok-pixel-events.sqlite3")


def test_the_default_falls_back_to_memory_where_it_cannot_write(
    fake: FakeEventsApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    app = events_app(fake, TIKTOK_PIXEL_EVENTS_QUEUE=None)
    app.instance_path = str(tmp_path / "a-file" / "instance")
    TikTokPixel(app)
    with closing_sender(app):
        assert type(app.extensions[EXTENSION_KEY].sender).__name__ == "BackgroundSender"
    assert "server events wait in memory instead" in caplog.text

    chosen = events_app(
        fake, TIKTOK_PIXEL_EVENTS_QUEUE=f"sqlite:///{tmp_path}/a-file/instance/o.sqlite3"
    )
    with pytest.raises(ConfigurationError, match="cannot open the outbox"):
        TikTokPixel(chosen)


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 4)),
        st.tuples(st.just("claim"), st.sampled_from("ab"), st.integers(1, 5)),
        st.tuples(st.just("deliver"), st.sampled_from("ab")),
        st.tuples(st.just("retry_later"), st.sampled_from("ab")),
        st.tuples(st.just("bury"), st.sampled_from("ab")),
        st.tuples(st.just("wait"), st.integers(0, 100)),
        st.tuples(st.just("retry_dead"), st.just(0)),
    ),
    max_size=25,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(operations=OPERATIONS)
def test_every_event_is_in_exactly_one_place_whatever_happens(
    tmp_path: Path, operations: list[tuple[object, ...]]
) -> None:
    clock = Clock()
    outbox = Outbox(str(tmp_path / f"{uuid.uuid4().hex}.sqlite3"), clock=clock)
    claimed: dict[str, list[Claimed]] = {"a": [], "b": []}
    added = 0
    for operation in operations:
        kind, *args = operation
        if kind == "add":
            count = int(str(args[0]))
            added += outbox.add([(CODE, timed_event(f"e{added + n}", clock)) for n in range(count)])
        elif kind == "claim":
            claimed[str(args[0])] = outbox.claim(str(args[0]), int(str(args[1])), lease=30)
        elif kind == "deliver":
            outbox.delivered(str(args[0]), claimed.pop(str(args[0]), []))
        elif kind == "retry_later":
            outbox.retry_later(str(args[0]), claimed.pop(str(args[0]), []), "HTTP 503", clock.now)
        elif kind == "bury":
            outbox.bury(str(args[0]), claimed.pop(str(args[0]), []), "HTTP 400")
        elif kind == "wait":
            clock.now += int(str(args[0]))
        else:
            outbox.retry_dead()
        stats = outbox.stats()
        connection = sqlite3.connect(outbox.path)
        count, size = connection.execute(
            "SELECT count(*), coalesce(sum(size), 0) FROM events"
        ).fetchone()
        connection.close()
        assert (stats.waiting, stats.waiting_bytes) == (count, size)
        assert stats.waiting + stats.dead + stats.delivered == added
