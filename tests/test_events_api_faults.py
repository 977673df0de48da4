"""The faults an independent review found in the outbox (issue 21), each reproduced against the
real fake Events API: a second dead letter, a poison event in a batch, a locked file, a restart
with nobody visiting. Each test failed on the release before the fix."""

from __future__ import annotations

import shutil
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from events_api_support import TOKEN, Clock, manual_sender, timed_event
from outbox_process import CODE

from pixel_embed.events_api.outbox import SCHEMA_VERSION, Outbox
from pixel_embed.testing.events_api import Answer, FakeEventsApi

HERE = Path(__file__).parent
#: An outbox written by the release before issue 21 (schema version 1, commit 963428c): events
#: v1-e1 (due), v1-e2 (due in 600 s), dead letters #3 (v1-e3) and #4 (v1-e4).
VERSION_1 = HERE / "fixtures" / "outbox-v1.sqlite3"
HOUR = 3600.0


@pytest.fixture
def fake() -> Iterator[FakeEventsApi]:
    with FakeEventsApi(access_token=TOKEN) as fake:
        yield fake


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

    assert outbox.schema_version == SCHEMA_VERSION == 2
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
