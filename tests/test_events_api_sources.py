"""CRM and offline event sources: their ids, required fields and age limits; the outbox batching
by source and id (schema version 3, migrated from version 2 with rows in it, by several processes
at once); requests cut to TikTok's limits; the fake Events API's checks and assertions."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from events_api_support import TOKEN, Clock, manual_sender, timed_event
from outbox_process import CODE

from pixel_embed.errors import InvalidEvent
from pixel_embed.events_api import EventsApiClient
from pixel_embed.events_api.batching import (
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    batches,
    post_isolating,
)
from pixel_embed.events_api.delivery import BackgroundSender, deliver_once
from pixel_embed.events_api.outbox import SCHEMA_VERSION, Outbox
from pixel_embed.events_api.payload import request_body
from pixel_embed.events_api.sources import MAX_AGE, Destination, destination, missing_fields
from pixel_embed.matching import sha256_hex
from pixel_embed.testing.events_api import FakeEventsApi

HERE = Path(__file__).parent
VERSION_2 = HERE / "fixtures" / "outbox-v2.sqlite3"
CRM_SET = "7654321098765432109"
OFFLINE_SET = "7123456789012345678"
DAY = 86400.0
EMAIL_HASH = sha256_hex("jane@example.com")


def crm_event(event_id: str, clock: Clock, age: float = 0.0, **lead: str) -> dict[str, object]:
    data = timed_event(event_id, clock, age)
    data["event"] = "QualifiedLead"
    data["user"] = {}
    data["lead"] = lead or {"lead_id": "7000000000000001", "lead_event_source": "HubSpot"}
    return data


def offline_event(event_id: str, clock: Clock, age: float = 0.0) -> dict[str, object]:
    data = timed_event(event_id, clock, age)
    data["user"] = {"email": EMAIL_HASH}
    return data


@pytest.fixture
def clock() -> Clock:
    return Clock()


# Destinations ---------------------------------------------------------------------------------


def test_a_pixel_code_is_a_web_destination_and_other_sources_carry_their_name() -> None:
    assert destination(CODE) == Destination("web", CODE)
    assert destination(f"crm:{CRM_SET}") == Destination("crm", CRM_SET)
    assert destination(f"offline:{OFFLINE_SET}").key == f"offline:{OFFLINE_SET}"
    assert Destination("web", CODE).key == CODE  # queued events of earlier releases read the same
    assert str(Destination("crm", CRM_SET)) == f"CRM event set {CRM_SET}"
    assert MAX_AGE == {"web": 2 * DAY, "crm": 28 * DAY, "offline": 28 * DAY}


@pytest.mark.parametrize(
    ("source", "source_id", "message"),
    [
        ("crm", CODE, "is not a CRM event set id (digits"),
        ("offline", "", "is not a offline event set id"),
        ("web", "C0DE</script>", "is not a pixel code"),
        ("web", "x" * 65, "is not a pixel code"),
        ("app", "123", "event_source 'app' is not one of web, crm, offline"),
    ],
)
def test_a_wrong_source_or_id_is_refused_naming_the_field(
    source: str, source_id: str, message: str
) -> None:
    with pytest.raises(InvalidEvent, match=message.replace("(", r"\(")):
        Destination(source, source_id)  # type: ignore[arg-type]


def test_the_request_body_says_the_source_and_its_id() -> None:
    body = request_body(f"crm:{CRM_SET}", [{"event": "QualifiedLead"}], test_event_code="T1")
    assert body == {
        "event_source": "crm",
        "event_source_id": CRM_SET,
        "test_event_code": "T1",
        "data": [{"event": "QualifiedLead"}],
    }
    assert request_body(CODE, [])["event_source"] == "web"


def test_each_source_requires_what_tiktok_matches_it_by() -> None:
    assert missing_fields("crm", {"lead": {"lead_id": "1"}}) is None
    assert missing_fields("crm", {"user": {"phone": EMAIL_HASH}}) is None
    error = missing_fields("crm", {"user": {"ttclid": "x"}, "lead": {"lead_event_source": "X"}})
    assert error is not None
    assert error.field == "lead.lead_id"
    assert "needs the TikTok lead id, or the lead's e-mail or phone" in error.problem
    bad = missing_fields("crm", {"lead": {"lead_id": "1\n2"}})
    assert bad is not None
    assert bad.field == "lead.lead_id"
    assert missing_fields("offline", {"user": {"external_id": EMAIL_HASH}}) is None
    error = missing_fields("offline", {"user": {"ip": "203.0.113.9", "email": ""}})
    assert error is not None
    assert error.field == "user.email"
    assert "customer's e-mail, phone or external id" in error.problem
    error = missing_fields("web", {"lead": {"lead_id": "1"}})
    assert error is not None
    assert error.field == "lead"
    assert missing_fields("web", {"user": {}}) is None


# The fake Events API ------------------------------------------------------------------------


def test_the_fake_accepts_crm_and_offline_events_and_refuses_a_missing_field_clearly(
    fake: FakeEventsApi, clock: Clock
) -> None:
    client = EventsApiClient(access_token=TOKEN, url=fake.url)
    client.post(f"crm:{CRM_SET}", [crm_event("lead-1", clock)])
    client.post(f"offline:{OFFLINE_SET}", [offline_event("till-1", clock)])
    assert fake.problems == []
    fake.to_have_received(
        "QualifiedLead", source="crm", source_id=CRM_SET, lead={"lead_id": "7000000000000001"}
    )
    fake.to_have_received("CompletePayment", source="offline", user={"email": EMAIL_HASH})

    with pytest.raises(Exception, match="TikTok code 40002") as refused:
        client.post(f"crm:{CRM_SET}", [crm_event("lead-2", clock, lead_event_source="HubSpot")])
    assert "data[0].lead.lead_id: crm event: is missing" in str(refused.value)
    no_keys = offline_event("till-2", clock)
    no_keys["user"] = {"ip": "203.0.113.9"}
    with pytest.raises(Exception, match=r"data\[0\].user.email: offline event: is missing"):
        client.post(f"offline:{OFFLINE_SET}", [no_keys])
    # An event set id is digits: a pixel code sent as a CRM source is refused too.
    body = orjson.dumps({**request_body(CODE, [crm_event("x", clock)]), "event_source": "crm"})
    with pytest.raises(Exception, match="is not a CRM event set id"):
        client.post_body(body)
    assert len(fake.problems) == 3


def test_to_have_received_lists_what_arrived_when_nothing_matches(
    fake: FakeEventsApi, clock: Clock
) -> None:
    client = EventsApiClient(access_token=TOKEN, url=fake.url)
    client.post(CODE, [timed_event("order-1", clock)])
    assert fake.to_have_received("Purchase", event_id="order-1")["event_id"] == "order-1"
    assert fake.to_have_received("CompletePayment", user={"email": None}, timeout=0)
    with pytest.raises(AssertionError) as failure:
        fake.to_have_received("Purchase", event_id="order-2", user={"ttclid": "E.C.P"}, timeout=0.2)
    message = str(failure.value)
    assert "no event like 'Purchase', event_id='order-2', user={'ttclid': 'E.C.P'}" in message
    assert "it received 1 event(s):" in message
    assert f"CompletePayment event_id='order-1' (web {CODE}) user keys: none" in message


def test_the_fake_refuses_more_events_than_tiktok_takes_in_one_request(
    fake: FakeEventsApi, clock: Clock
) -> None:
    client = EventsApiClient(access_token=TOKEN, url=fake.url)
    events = [timed_event(f"e{n}", clock) for n in range(MAX_BATCH_EVENTS + 1)]
    with pytest.raises(Exception, match="TikTok takes 1000 at most"):
        client.post(CODE, events)
    # post_isolating cuts it first: two requests, every event accepted.
    assert post_isolating(client, CODE, events) == []
    assert [len(r.events) for r in fake.requests[1:]] == [1000, 1]


# Batches -------------------------------------------------------------------------------------


def test_requests_are_cut_by_count_and_by_bytes_in_order() -> None:
    items = list(range(10))
    assert batches(items, [1] * 10, max_events=4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    sizes = [400, 400, 400, 2000, 10]
    assert batches(list(range(5)), sizes, max_bytes=1024 + 900) == [[0, 1], [2], [3], [4]]
    assert batches([], []) == []


def test_the_outbox_sends_big_events_in_requests_under_the_byte_limit(
    fake: FakeEventsApi, tmp_path: Path, clock: Clock
) -> None:
    outbox = Outbox(str(tmp_path / "o.sqlite3"), clock=clock)
    sender = manual_sender(outbox, fake)
    big = []
    for n in range(600):
        data = timed_event(f"big-{n}", clock)
        data["properties"] = {"description": "x" * 3000}
        big.append((CODE, data))
    outbox.add(big)
    while sender.deliver_due():
        pass
    sizes = [len(orjson.dumps(request.body)) for request in fake.requests]
    assert len(fake.accepted) == 600
    assert not fake.problems
    assert max(sizes) <= MAX_BATCH_BYTES
    assert len(fake.requests) == 2


# The outbox --------------------------------------------------------------------------------


def test_the_outbox_batches_by_source_and_id_and_ages_each_by_its_own_limit(
    fake: FakeEventsApi, tmp_path: Path, clock: Clock
) -> None:
    outbox = Outbox(str(tmp_path / "o.sqlite3"), clock=clock)
    sender = manual_sender(outbox, fake)
    outbox.add(
        [
            (CODE, timed_event("web-new", clock)),
            (f"crm:{CRM_SET}", crm_event("lead-old", clock, age=20 * DAY)),
            (CODE, timed_event("web-old", clock, age=3 * DAY)),
            (f"offline:{OFFLINE_SET}", offline_event("till-old", clock, age=27 * DAY)),
            (f"offline:{OFFLINE_SET}", offline_event("till-too-old", clock, age=29 * DAY)),
            (f"crm:{CRM_SET}", crm_event("lead-new", clock)),
        ]
    )
    sender.deliver_due()
    by_request = {
        (r.body["event_source"], r.body["event_source_id"]): [e["event_id"] for e in r.events]
        for r in fake.requests
    }
    assert by_request == {
        ("web", CODE): ["web-new"],
        ("crm", CRM_SET): ["lead-old", "lead-new"],
        ("offline", OFFLINE_SET): ["till-old"],
    }
    assert not fake.problems
    reasons = {dead.event_id: (dead.source, dead.reason) for dead in outbox.dead_letters()}
    assert reasons == {
        "web-old": ("web", "too old: TikTok gets web events at most 48 h old"),
        "till-too-old": ("offline", "too old: TikTok gets offline events at most 28 days old"),
    }
    # A dead letter put back keeps its source.
    outbox.retry_dead([d.id for d in outbox.dead_letters() if d.event_id == "till-too-old"])
    assert outbox.claim("t", 10, 60)[0].key == f"offline:{OFFLINE_SET}"


def test_task_queue_jobs_age_crm_and_offline_events_by_their_own_limit(
    fake: FakeEventsApi, clock: Clock
) -> None:
    client = EventsApiClient(access_token=TOKEN, url=fake.url)
    stale = crm_event("lead-20-days", clock, age=20 * DAY)
    assert deliver_once(client, f"crm:{CRM_SET}", [stale], 1, max_age=3600, now=clock.now) is None
    assert [e["event_id"] for e in fake.accepted] == ["lead-20-days"]


def copy_of_version_2(tmp_path: Path) -> str:
    path = tmp_path / "v2.sqlite3"
    shutil.copyfile(VERSION_2, path)
    return str(path)


def test_a_version_2_file_with_rows_is_migrated_and_keeps_everything(
    fake: FakeEventsApi, tmp_path: Path, clock: Clock
) -> None:
    path = copy_of_version_2(tmp_path)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 2

    outbox = Outbox(path, clock=clock)

    assert outbox.schema_version == SCHEMA_VERSION == 3
    stats = outbox.stats()
    assert (stats.waiting, stats.in_delivery, stats.dead) == (3, 1, 2)
    assert {(d.id, d.event_id, d.source) for d in outbox.dead_letters()} == {
        (1, "v2-e2", "web"),
        (2, "v2-e3", "web"),
    }
    sender = manual_sender(outbox, fake)
    sender.deliver_due()  # e4, e5: v2-e1 is still leased by the process that died
    clock.now += 61
    outbox.add([(f"crm:{CRM_SET}", crm_event("after-upgrade", clock))])
    sender.deliver_due()
    assert sorted(e["event_id"] for e in fake.accepted) == [
        "after-upgrade",
        "v2-e1",
        "v2-e4",
        "v2-e5",
    ]
    assert {r.body["event_source"] for r in fake.requests} == {"web", "crm"}
    assert not fake.problems
    assert outbox.retry_dead([1]) == 1
    assert outbox.claim("t", 5, 60)[0].event_id == "v2-e2"


_OPEN_AND_ADD = """
import sys
sys.path.insert(0, {tests!r})
from events_api_support import Clock, timed_event
from pixel_embed.events_api.outbox import Outbox
clock = Clock()
outbox = Outbox(sys.argv[1], clock=clock)
outbox.add([("CABCDE1234567890ABCD", timed_event("p" + sys.argv[2], clock))])
print(outbox.schema_version)
"""


def test_processes_opening_a_version_2_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = copy_of_version_2(tmp_path)
    script = _OPEN_AND_ADD.format(tests=str(HERE))
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, path, str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    results = [process.communicate(timeout=60) for process in processes]
    assert [out.strip() for out, _ in results] == ["3"] * 4, results
    outbox = Outbox(path)
    assert outbox.stats().waiting == 3 + 4
    tables = sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type='table'")
    names = sorted(name for (name,) in tables)
    assert names == ["dead", "events", "quality", "sqlite_sequence", "totals"]


def test_a_previous_release_process_keeps_writing_after_the_upgrade(
    fake: FakeEventsApi, tmp_path: Path, clock: Clock
) -> None:
    """A rolling upgrade: a version-2 process still running writes with version 2's statement."""
    path = copy_of_version_2(tmp_path)
    outbox = Outbox(path, clock=clock)
    body = orjson.dumps(timed_event("from-old-process", clock))
    old = sqlite3.connect(path, isolation_level=None)
    old.execute(
        "INSERT INTO events (pixel_code, event_id, event, event_time, body, size, created, due)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (CODE, "from-old-process", "CompletePayment", int(clock.now), body, len(body), 0, 0),
    )
    manual_sender(outbox, fake).deliver_due()
    fake.to_have_received("CompletePayment", event_id="from-old-process", source="web")


def test_a_crm_event_an_old_process_claims_comes_back_right_from_the_dead_letters(
    fake: FakeEventsApi, tmp_path: Path, clock: Clock
) -> None:
    """A previous-release process claims with version 2's statements, sends the CRM event as a
    web event (its key as the pixel code), TikTok refuses it, and it buries it with its key."""
    path = copy_of_version_2(tmp_path)
    outbox = Outbox(path, clock=clock)
    outbox.add([(f"crm:{CRM_SET}", crm_event("lead-during-upgrade", clock))])
    old = sqlite3.connect(path, isolation_level=None)
    old.execute("BEGIN IMMEDIATE")
    [row] = old.execute(
        "UPDATE events SET due = ?, owner = 'old', tries = tries + 1 WHERE event_id = ? "
        "RETURNING id, pixel_code, event_id, event, event_time, body, size, created, tries",
        (clock.now + 60, "lead-during-upgrade"),
    ).fetchall()
    body = orjson.dumps({"event_source": "web", "event_source_id": row[1], "data": [{}]})
    refused = EventsApiClient(access_token=TOKEN, url=fake.url)
    with pytest.raises(Exception, match="is not a pixel code"):
        refused.post_body(body)
    old.execute(
        "INSERT INTO dead (pixel_code, event_id, event, event_time, body, size, created, tries,"
        " failed, reason) SELECT pixel_code, event_id, event, event_time, body, size, created,"
        " tries, 0, 'TikTok code 40002' FROM events WHERE id = ?",
        (row[0],),
    )
    old.execute("DELETE FROM events WHERE id = ?", (row[0],))
    old.execute("COMMIT")
    [dead] = [d for d in outbox.dead_letters() if d.event_id == "lead-during-upgrade"]
    assert (dead.source, dead.key) == ("crm", f"crm:{CRM_SET}")

    assert outbox.retry_dead([dead.id]) == 1
    manual_sender(outbox, fake).deliver_due()
    fake.to_have_received("QualifiedLead", event_id="lead-during-upgrade", source_id=CRM_SET)


# The memory queue ---------------------------------------------------------------------------


def test_the_memory_queue_delivers_crm_events_to_their_event_set(
    fake: FakeEventsApi, clock: Clock
) -> None:
    sender = BackgroundSender(EventsApiClient(access_token=TOKEN, url=fake.url))
    try:
        sender.send(f"crm:{CRM_SET}", crm_event("lead-9", clock))
        sender.send(CODE, timed_event("web-9", clock))
        assert sender.flush(timeout=10)
    finally:
        sender.close(timeout=2)
    fake.to_have_received("QualifiedLead", event_id="lead-9", source="crm", source_id=CRM_SET)
    fake.to_have_received("CompletePayment", event_id="web-9", source="web", source_id=CODE)
    assert not fake.problems


def test_a_refused_crm_event_is_dead_lettered_alone_with_the_fakes_reason(
    fake: FakeEventsApi, tmp_path: Path, clock: Clock
) -> None:
    outbox = Outbox(str(tmp_path / "o.sqlite3"), clock=clock)
    sender = manual_sender(outbox, fake)
    good = [(f"crm:{CRM_SET}", crm_event(f"lead-{n}", clock)) for n in range(5)]
    bad = crm_event("lead-bad", clock)
    bad["lead"] = {"lead_event_source": "HubSpot"}
    outbox.add([*good[:2], (f"crm:{CRM_SET}", bad), *good[2:]])
    sender.deliver_due()
    assert sorted(e["event_id"] for e in fake.accepted) == [f"lead-{n}" for n in range(5)]
    [dead] = outbox.dead_letters()
    assert dead.event_id == "lead-bad"
    assert "lead.lead_id: crm event: is missing" in dead.reason


def test_a_restart_mid_batch_sends_each_source_again_to_its_own_event_set(
    fake: FakeEventsApi, tmp_path: Path, clock: Clock
) -> None:
    """A process claims a batch of three sources and dies before recording anything; after the
    lease, the restarted process sends each again, with the same event ids, to its own set."""
    path = str(tmp_path / "o.sqlite3")
    outbox = Outbox(path, clock=clock)
    outbox.add(
        [
            (CODE, timed_event("web-1", clock)),
            (f"crm:{CRM_SET}", crm_event("lead-1", clock)),
            (f"offline:{OFFLINE_SET}", offline_event("till-1", clock)),
        ]
    )
    assert len(outbox.claim("died-mid-batch", 10, lease=60.0)) == 3
    restarted = manual_sender(Outbox(path, clock=clock), fake)
    assert restarted.deliver_due() == 0  # still leased
    clock.now += 61
    assert restarted.deliver_due() == 3
    sent = {(r.body["event_source"], e["event_id"]) for r in fake.requests for e in r.events}
    assert sent == {("web", "web-1"), ("crm", "lead-1"), ("offline", "till-1")}
    assert outbox.stats().waiting == 0
