"""The faults an independent review found in the outbox (issue 21), each reproduced against the
real fake Events API: a second dead letter, a poison event in a batch, a locked file, a restart
with nobody visiting. Each test failed on the release before the fix."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from events_api_support import (
    TOKEN,
    Clock,
    closing_sender,
    events_app,
    manual_sender,
    shop,
    timed_event,
)
from outbox_process import CODE, event

from pixel_embed import TikTokPixel
from pixel_embed.errors import ConfigurationError
from pixel_embed.events_api import EventsApiClient, OutboxSender
from pixel_embed.events_api import outbox as outbox_module
from pixel_embed.events_api.hooks import EXTENSION_KEY
from pixel_embed.events_api.outbox import SCHEMA_VERSION, Outbox
from pixel_embed.testing.events_api import Answer, FakeEventsApi, outbox_locked

HERE = Path(__file__).parent
#: An outbox written by the release before issue 21 (schema version 1, commit 963428c): events
#: v1-e1 (due), v1-e2 (due in 600 s), dead letters #3 (v1-e3) and #4 (v1-e4).
VERSION_1 = HERE / "fixtures" / "outbox-v1.sqlite3"
HOUR = 3600.0


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_second_dead_letter_is_dead_lettered_and_never_sent_again(
    fake: FakeEventsApi, tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    # Bug 1: the dead letter kept the event's id, which SQLite gives again once the outbox has
    # drained, so the second dead letter collided with the first (IntegrityError), stayed
    # claimed and was POSTed again at every lease's end.
    outbox = Outbox(str(tmp_path / "o.sqlite3"), clock=clock)
    sender = manual_sender(outbox, fake)
    fake.answer(*[Answer(400)] * 100)

    outbox.add([(CODE, timed_event("first", clock))])
    sender.deliver_due()
    outbox.add([(CODE, timed_event("second", clock))])
    sender.deliver_due()
    for _ in range(3):  # past the lease, three times
        clock.now += sender.lease + 1
        sender.deliver_due()

    assert [dead.event_id for dead in outbox.dead_letters()] == ["second", "first"]
    assert Counter(event["event_id"] for event in fake.events) == {"first": 1, "second": 1}
    stats = outbox.stats()
    assert (stats.waiting, stats.dead) == (0, 2)
    assert "the outbox failed" not in caplog.text


def copy_of_version_1(tmp_path: Path) -> str:
    path = tmp_path / "v1.sqlite3"
    shutil.copyfile(VERSION_1, path)
    return str(path)


def test_a_version_1_file_is_migrated_on_open_and_keeps_everything(
    fake: FakeEventsApi, tmp_path: Path, clock: Clock
) -> None:
    path = copy_of_version_1(tmp_path)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 1

    outbox = Outbox(path, clock=clock)

    assert outbox.schema_version == SCHEMA_VERSION == 3
    stats = outbox.stats()
    assert (stats.waiting, stats.dead, stats.retried) == (2, 2, 2)
    # Dead letters keep their numbers: `events retry --id 3` still means v1-e3.
    assert {(dead.id, dead.event_id) for dead in outbox.dead_letters()} == {
        (3, "v1-e3"),
        (4, "v1-e4"),
    }
    # The file's next event would have taken id 3 and collided with dead letter #3.
    sender = manual_sender(outbox, fake)
    fake.answer(*[Answer(400)] * 10)
    outbox.add([(CODE, timed_event("after-upgrade", clock))])
    clock.now += 601
    sender.deliver_due()
    assert sorted(dead.event_id for dead in outbox.dead_letters()) == [
        "after-upgrade",
        "v1-e1",
        "v1-e2",
        "v1-e3",
        "v1-e4",
    ]
    assert outbox.stats().waiting == 0
    assert outbox.retry_dead([3]) == 1
    fake.clear_answers()
    sender.deliver_due()
    assert [event["event_id"] for event in fake.accepted] == ["v1-e3"]
    # Opened again (another process, a restart): nothing to migrate twice.
    assert Outbox(path, clock=clock).stats().dead == 4


@pytest.mark.parametrize(
    "refusal",
    [Answer(400), Answer(200, code=40002, message="data[7]: invalid currency")],
    ids=["http-400", "code-40002"],
)
def test_one_poison_event_is_dead_lettered_alone_with_tiktoks_message(
    fake: FakeEventsApi, tmp_path: Path, clock: Clock, refusal: Answer
) -> None:
    # Bug 2: a batch TikTok refused for one bad event took all its batch-mates to the dead
    # letters (120 events, one poison: 70 delivered, 50 dead).
    outbox = Outbox(str(tmp_path / "o.sqlite3"), clock=clock)
    sender = manual_sender(outbox, fake)
    fake.refuse(["e77"], refusal)
    outbox.add([(CODE, timed_event(f"e{n}", clock)) for n in range(120)])

    while sender.deliver_due():
        pass

    assert Counter(event["event_id"] for event in fake.accepted) == {
        f"e{n}": 1 for n in range(120) if n != 77
    }
    [dead] = outbox.dead_letters()
    assert dead.event_id == "e77"
    expected = "HTTP 400" if refusal.code == 0 else "TikTok code 40002: data[7]: invalid currency"
    assert dead.reason == f"{expected} (gave up after 1 try)"
    stats = outbox.stats()
    assert (stats.waiting, stats.delivered, stats.dead) == (0, 119, 1)


def test_a_refusal_about_the_token_is_not_split(
    fake: FakeEventsApi, tmp_path: Path, clock: Clock
) -> None:
    outbox = Outbox(str(tmp_path / "o.sqlite3"), clock=clock)
    sender = manual_sender(outbox, fake)
    fake.answer(Answer(401))
    outbox.add([(CODE, timed_event(f"e{n}", clock)) for n in range(50)])

    sender.deliver_due()

    assert len(fake.requests) == 1  # halving would be refused 99 times the same way
    assert outbox.reasons() == [("HTTP 401 (gave up after 1 try)", 50)]


def test_events_that_failed_together_are_retried_on_their_own_times(
    fake: FakeEventsApi, tmp_path: Path, clock: Clock
) -> None:
    # Bug 2's other half: on a retryable answer every event of the batch got the batch's one
    # due time, so a good event stayed glued to a bad one that kept failing.
    outbox = Outbox(str(tmp_path / "o.sqlite3"), clock=clock)
    sender = manual_sender(outbox, fake)
    fake.refuse(["bad"], Answer(500))
    outbox.add([(CODE, timed_event(name, clock)) for name in ("good-1", "bad", "good-2")])

    for _ in range(30):
        sender.deliver_due()
        clock.now = outbox.next_due() or clock.now

    assert sorted(event["event_id"] for event in fake.accepted) == ["good-1", "good-2"]
    connection = sqlite3.connect(outbox.path)
    assert connection.execute("SELECT event_id FROM events").fetchall() == [("bad",)]


def outbox_sender(app: object) -> OutboxSender:
    sender = app.extensions[EXTENSION_KEY].sender  # type: ignore[attr-defined]
    assert isinstance(sender, OutboxSender)
    return sender


def test_a_locked_outbox_neither_stalls_the_pages_nor_loses_their_events(
    fake: FakeEventsApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Bug 3: each request waited SQLite's 5 s busy time-out for another process's lock, then
    # dropped its events. Now the request waits 5 ms at most; its events wait in this
    # process's buffer and are written once the lock is free.
    path = tmp_path / "o.sqlite3"
    app = events_app(fake, TIKTOK_PIXEL_EVENTS_QUEUE=f"sqlite:///{path}")
    shop(app, TikTokPixel(app))
    sender = outbox_sender(app)
    browser = app.test_client()
    with closing_sender(app):
        with outbox_locked(str(path)):
            event_ids = [browser.get("/buy").headers["X-Event-Id"] for _ in range(5)]
            assert sender.stats().buffered == 5
            assert "is busy (OperationalError): events wait in this process" in caplog.text
        assert sender.flush(timeout=20)
        assert sorted(event["event_id"] for event in fake.accepted) == sorted(event_ids)
        stats = sender.stats()
        assert (stats.delivered, stats.dropped, stats.buffered, sender.lost) == (5, 0, 0, 0)


def test_a_full_buffer_loses_events_counted_and_logged(
    fake: FakeEventsApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(str(tmp_path / "o.sqlite3"))
    client = EventsApiClient(access_token=TOKEN, url=fake.url)
    sender = OutboxSender(outbox, client, start=False, buffer_events=3, poll_interval=0.05)
    try:
        with outbox_locked(outbox.path):
            sender.send_many([(CODE, event(f"e{n}")) for n in range(5)])
            assert (sender.stats().buffered, sender.lost) == (3, 2)
            assert "lost 2 event(s) (CompletePayment e3, CompletePayment e4)" in caplog.text
        assert sender.flush(timeout=20)
    finally:
        sender.close(timeout=2)
    assert sorted(e["event_id"] for e in fake.accepted) == ["e0", "e1", "e2"]
    assert outbox.stats().dropped == 2  # written to the file's counters once it was free


def test_a_worker_mode_web_process_writes_its_buffer_at_exit(
    fake: FakeEventsApi, tmp_path: Path
) -> None:
    # No delivery thread in "worker" mode: the buffer must still be written when the process
    # exits, not dropped with it.
    path = tmp_path / "o.sqlite3"
    Outbox(str(path))
    script = (
        "import sys, threading, time, sqlite3\n"
        "from outbox_process import shop\n"
        f"app = shop('sqlite:///{path}', '{fake.url}', 5.0, 'worker')\n"
        f"holder = sqlite3.connect('{path}', isolation_level=None, check_same_thread=False)\n"
        "holder.execute('BEGIN IMMEDIATE')\n"
        "assert app.test_client().get('/buy/locked-1').status_code == 200\n"
        # The lock frees while the process exits.
        "threading.Timer(0.5, holder.execute, ['ROLLBACK']).start()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=HERE, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "is busy" in done.stderr
    assert Outbox(str(path)).stats().waiting == 1
    assert fake.requests == []


def test_events_waiting_at_start_are_delivered_with_no_request(
    fake: FakeEventsApi, tmp_path: Path
) -> None:
    # Bug 4: the delivery thread started with the first request a process served.
    path = tmp_path / "o.sqlite3"
    Outbox(str(path)).add([(CODE, event(f"night-{n}")) for n in range(3)])

    app = events_app(fake, TIKTOK_PIXEL_EVENTS_QUEUE=f"sqlite:///{path}")
    TikTokPixel(app)
    with closing_sender(app):
        accepted = fake.wait_for_accepted(3, timeout=20)

    assert sorted(e["event_id"] for e in accepted) == [f"night-{n}" for n in range(3)]


def test_worker_delivery_leaves_the_web_process_without_a_delivery_thread(
    fake: FakeEventsApi, tmp_path: Path
) -> None:
    path = tmp_path / "o.sqlite3"
    Outbox(str(path)).add([(CODE, event("waiting"))])
    app = events_app(
        fake, TIKTOK_PIXEL_EVENTS_QUEUE=f"sqlite:///{path}", TIKTOK_PIXEL_EVENTS_DELIVERY="worker"
    )
    shop(app, TikTokPixel(app))
    with closing_sender(app):
        assert app.test_client().get("/buy").status_code == 200
        sender = outbox_sender(app)
        assert sender._thread is None
        assert sender.stats().waiting == 2
    assert fake.requests == []


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"TIKTOK_PIXEL_EVENTS_DELIVERY": "cron"}, "must be 'thread' or 'worker'"),
        (
            {"TIKTOK_PIXEL_EVENTS_DELIVERY": "worker", "TIKTOK_PIXEL_EVENTS_QUEUE": "memory"},
            "'worker' delivers from the sqlite outbox; TIKTOK_PIXEL_EVENTS_QUEUE is 'memory'",
        ),
    ],
)
def test_a_bad_delivery_setting_is_a_configuration_error(
    fake: FakeEventsApi, config: dict[str, object], problem: str
) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        TikTokPixel(events_app(fake, **config))


def flask_command(path: Path, url: str, *args: str, delivery: str = "thread") -> list[str]:
    factory = f"outbox_process:shop('sqlite:///{path}', '{url}', 2.0, '{delivery}')"
    return [sys.executable, "-m", "flask", "--app", factory, "tiktok-pixel", "events", *args]


def test_a_flask_command_never_starts_delivery(fake: FakeEventsApi, tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    Outbox(str(path)).add([(CODE, event("e1"))])
    done = subprocess.run(
        flask_command(path, fake.url, "status"), cwd=HERE, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "waiting: 1 " in done.stdout
    assert fake.requests == []


def test_the_deliver_command_delivers_and_stops_cleanly_on_sigterm(
    fake: FakeEventsApi, tmp_path: Path
) -> None:
    path = tmp_path / "o.sqlite3"
    Outbox(str(path)).add([(CODE, event(f"e{n}")) for n in range(3)])
    fake.answer(Answer(200, hang=True))  # in flight when SIGTERM comes
    command = flask_command(path, fake.url, "deliver", delivery="worker")
    process = subprocess.Popen(command, cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert fake.wait_until_hanging(timeout=30)
        process.send_signal(signal.SIGTERM)
        fake.release()
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err.decode()[-2000:]
    assert b"stopped: 0 event(s) waiting, 0 dead letter(s)" in out
    assert Counter(e["event_id"] for e in fake.accepted) == {"e0": 1, "e1": 1, "e2": 1}
    assert Outbox(str(path)).stats().delivered == 3


def test_a_forked_child_delivers_under_its_own_name(fake: FakeEventsApi, tmp_path: Path) -> None:
    # gunicorn --preload: the app (and its sender) is built before fork().
    app = events_app(fake, TIKTOK_PIXEL_EVENTS_QUEUE=f"sqlite:///{tmp_path}/o.sqlite3")
    shop(app, TikTokPixel(app))
    sender = outbox_sender(app)
    with closing_sender(app):
        assert app.test_client().get("/buy").status_code == 200
        assert sender.flush(timeout=10)
        parent_owner = sender.owner
        child = os.fork()
        if child == 0:  # pragma: no cover - the child reports through its exit status
            status = 1
            try:
                ok = app.test_client().get("/buy").status_code == 200 and sender.flush(10)
                status = 0 if ok and sender.owner != parent_owner else 2
            finally:
                os._exit(status)
        _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(fake.accepted) == 2
    assert sender.owner == parent_owner


def test_an_outcome_that_cannot_be_written_is_written_before_the_next_claim(
    fake: FakeEventsApi,
    tmp_path: Path,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # TikTok accepted the batch, then another process held the lock past SQLite's busy
    # time-out: the outcome was lost and the events sent again once the lease ran out.
    monkeypatch.setattr(outbox_module, "BUSY_TIMEOUT", 0.2)  # the wait, not the behaviour
    path = str(tmp_path / "o.sqlite3")
    outbox = Outbox(path, clock=clock)
    sender = manual_sender(outbox, fake)
    outbox.add([(CODE, timed_event("e1", clock))])
    fake.answer(Answer(200, hang=True))
    delivering = threading.Thread(target=sender.deliver_due)
    delivering.start()
    assert fake.wait_until_hanging()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    fake.release()  # TikTok answers 200 while the file is locked
    delivering.join(timeout=20)
    assert "could not record what happened to 1 event(s)" in caplog.text
    holder.execute("ROLLBACK")
    holder.close()

    clock.now += sender.lease + 1  # even once the lease has run out
    assert sender.deliver_due() == 0

    assert [event["event_id"] for event in fake.accepted] == ["e1"]
    stats = outbox.stats()
    assert (stats.waiting, stats.delivered) == (0, 1)
