"""The match-quality counters and report: counted where events are enqueued (the outbox file, or
the process for the memory queue), bounded, and read back as shares with advice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from events_api_support import TOKEN, Clock, closing_sender, events_app

from pixel_embed import TikTokPixel
from pixel_embed.events_api import EventsApiClient
from pixel_embed.events_api.delivery import BackgroundSender
from pixel_embed.events_api.hooks import EXTENSION_KEY
from pixel_embed.events_api.outbox import Outbox
from pixel_embed.events_api.quality import (
    KEEP_HOURS,
    MATCH_KEYS,
    MAX_NAMES,
    OTHER,
    MemoryQuality,
    keys_carried,
    match_quality,
)
from pixel_embed.events_api.send import PROCESS_QUALITY
from pixel_embed.integrations.flask.cli import flask_cli
from pixel_embed.matching import sha256_hex
from pixel_embed.testing.events_api import FakeEventsApi

CODE = "CABCDE1234567890ABCD"
HASH = sha256_hex("x")


def data(event: str = "Purchase", **user: object) -> dict[str, object]:
    return {"event": event, "event_id": "e", "event_time": 1, "user": user}


def test_keys_carried_counts_only_values_that_are_there() -> None:
    full = data(email=HASH, phone=[HASH], external_id=HASH, ttclid="t", ttp="p", ip="1.2.3.4")
    assert keys_carried({**full, "user": {**full["user"], "user_agent": "UA"}}) == [1] * 7  # type: ignore[dict-item]
    assert keys_carried(data(email="", phone=[], ttclid="  ", ip=None)) == [0] * 7
    assert keys_carried({"user": "not an object"}) == [0] * 7
    assert keys_carried({"user": {"email": 5, "phone": [None, ""]}}) == [0] * 7


def test_the_report_gives_shares_by_event_and_advice_for_the_weakest_key() -> None:
    clock = Clock()
    store = MemoryQuality(clock=clock)
    store.count([(CODE, data(ttclid="t", ip="1.2.3.4", email=HASH))] * 11)
    store.count([(CODE, data(ip="1.2.3.4", email=HASH))] * 9)
    store.count([(CODE, data("ViewContent", **dict.fromkeys(MATCH_KEYS, "v")))] * 3)
    report = match_quality(store, hours=1, until=clock.now)

    purchase = report.row("Purchase")
    assert purchase.events == 20
    assert purchase.shares["ttclid"] == pytest.approx(0.55)
    assert purchase.shares["ip"] == 1.0
    assert purchase.shares["phone"] == 0.0
    assert purchase.weakest == "phone"
    assert report.row("ViewContent").shares == dict.fromkeys(MATCH_KEYS, 1.0)
    assert report.advice == [
        "100% of Purchase events have no hashed phone: call identify(phone_number=...) where "
        "the visitor gave one"
    ]
    as_json = report.as_dict()
    assert as_json["events"][0]["shares"]["ttclid"] == 0.55
    assert as_json["advice"] == report.advice
    text = report.format()
    assert "event        source  events  hashed e-mail  hashed phone" in text
    assert "Purchase     web     20      100%           0%            0%           55%" in text
    assert "Weakest keys:\n- 100% of Purchase events have no hashed phone" in text


def test_memory_counts_are_bounded_in_names_and_hours() -> None:
    clock = Clock()
    store = MemoryQuality(clock=clock)
    store.count([(CODE, data(f"Custom{n}", ttclid="t")) for n in range(MAX_NAMES + 50)])
    report = match_quality(store, hours=1, until=clock.now)
    assert len(report.rows) == MAX_NAMES + 1
    assert report.row(OTHER).events == 50
    clock.now += KEEP_HOURS * 3600
    store.count([(CODE, data())])
    assert len(store._counts) == 1  # the old hour is gone
    assert match_quality(store, hours=KEEP_HOURS * 2, until=clock.now).row("Purchase").events == 1


def test_a_count_never_raises_whatever_the_event_holds() -> None:
    store = MemoryQuality()
    store.count([("not a pixel code!", data()), (CODE, {"user": None})])
    store.count([(CODE, {"event": ["x"] * 3, "user": {"ip": "1"}})])
    assert match_quality(store).row("['x', 'x', 'x']").shares["ip"] == 1.0


def test_the_outbox_counts_in_its_file_for_every_process(tmp_path: Path) -> None:
    clock = Clock()
    path = str(tmp_path / "o.sqlite3")
    Outbox(path, clock=clock).add([(CODE, data(ttclid="t"))] * 3)
    Outbox(path, clock=clock).add(
        [(CODE, data()), (f"crm:{'7' * 19}", data("Qualified", email=HASH))]
    )
    report = match_quality(Outbox(path, clock=clock), hours=1, until=clock.now)
    assert report.row("Purchase").events == 4
    assert report.row("Purchase").shares["ttclid"] == 0.75
    assert report.row("Qualified", source="crm").shares["email"] == 1.0
    assert report.advice[-1].startswith("crm: 100% of Qualified events have no hashed phone")


def test_the_outbox_keeps_31_days_of_counts_and_at_most_100_names_an_hour(tmp_path: Path) -> None:
    clock = Clock()
    outbox = Outbox(str(tmp_path / "o.sqlite3"), clock=clock)
    outbox.add([(CODE, data(f"Custom{n}")) for n in range(MAX_NAMES + 7)])
    report = match_quality(outbox, hours=1, until=clock.now)
    assert report.row(OTHER).events == 7
    clock.now += KEEP_HOURS * 3600
    outbox.add([(CODE, data())])
    rows = outbox._connect().execute("SELECT count(*) FROM quality").fetchone()[0]
    assert rows == 1


@pytest.mark.parametrize("queue", ["memory", "sqlite"])
def test_a_shops_requests_are_counted_where_they_are_enqueued(
    fake: FakeEventsApi, tmp_path: Path, queue: str
) -> None:
    setting = "memory" if queue == "memory" else f"sqlite:///{tmp_path}/o.sqlite3"
    app = events_app(fake, TIKTOK_PIXEL_EVENTS_QUEUE=setting)
    pixel = TikTokPixel(app)

    @app.get("/buy")
    def buy() -> str:
        pixel.identify(email="jane@example.com")
        pixel.track("CompletePayment", value=1, currency="EUR", server=True)
        return "ok"

    with closing_sender(app):
        client = app.test_client()
        client.get("/buy?ttclid=E.C.P.abc", headers={"User-Agent": "UA/1"})
        client.set_cookie("_ttp", "01HZZZZZZZZZZZZZZZZZZZZZZZ_.tt.1")
        client.get("/buy", headers={"User-Agent": "UA/1"})
        client.delete_cookie("ttclid")
        client.delete_cookie("_ttp")
        client.get("/buy", headers={"User-Agent": "UA/1"})
        sender = app.extensions[EXTENSION_KEY].sender
        store = sender.quality if isinstance(sender, BackgroundSender) else sender.outbox
        row = match_quality(store).row("Purchase")
    assert row.events == 3
    assert row.shares["email"] == 1.0
    assert row.shares["ip"] == 1.0
    assert row.shares["user_agent"] == 1.0
    assert row.shares["ttclid"] == pytest.approx(2 / 3)
    assert row.shares["ttp"] == pytest.approx(1 / 3)


def test_a_dropped_event_is_not_counted(fake: FakeEventsApi) -> None:
    sender = BackgroundSender(EventsApiClient(access_token=TOKEN, url=fake.url), queue_size=1)
    sender.close(timeout=0)
    sender.send(CODE, data(ttclid="t"))
    assert match_quality(sender.quality).rows == []


def test_the_quality_command_prints_the_report_of_the_outbox(
    fake: FakeEventsApi, tmp_path: Path
) -> None:
    app = events_app(fake, TIKTOK_PIXEL_EVENTS_QUEUE=f"sqlite:///{tmp_path}/o.sqlite3")
    pixel = TikTokPixel(app)

    @app.get("/buy")
    def buy() -> str:
        pixel.track("CompletePayment", value=1, currency="EUR", server=True)
        return "ok"

    with closing_sender(app):
        client = app.test_client()
        client.get("/buy?ttclid=E.C.P.1", headers={"User-Agent": "UA/1"})
        app.test_client().get("/buy", headers={"User-Agent": "UA/1"})  # another visitor
        runner = app.test_cli_runner()
        text = runner.invoke(flask_cli, ["events", "quality"])
        as_json = runner.invoke(flask_cli, ["events", "quality", "--json", "--hours", "1"])
    assert text.exit_code == 0, text.output
    assert "Purchase  web     2       0%" in text.output
    assert "100% of Purchase events have no hashed e-mail: call identify(email=...)" in text.output
    report = json.loads(as_json.output)
    assert report["events"][0]["shares"]["ttclid"] == 0.5
    assert report["events"][0]["shares"]["ip"] == 1.0


class ListSender:
    """A site's own sender (a task queue of its own): keeps no counts."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []

    def send(self, key: str, data: Any) -> None:
        if data.get("event_id") == "breaks":
            raise ConnectionError("broker down")
        self.items.append((key, data))

    def close(self, timeout: float | None = None) -> None:
        pass


def test_a_sender_without_counts_is_counted_in_the_process_and_the_command_says_so(
    fake: FakeEventsApi,
) -> None:
    app = events_app(fake)
    sender = ListSender()
    pixel = TikTokPixel(app, sender=sender)

    @app.get("/lead/<event_id>")
    def lead(event_id: str) -> str:
        pixel.track("Lead", event_id=event_id, server=True)
        pixel.track("Contact", event_id=f"{event_id}-contact", server=True)
        return "ok"

    app.test_client().get("/lead/l-1?ttclid=E.C.P.2")
    app.test_client().get("/lead/breaks")  # the first fails, the second is still taken
    assert [data["event_id"] for _, data in sender.items] == [
        "l-1",
        "l-1-contact",
        "breaks-contact",
    ]
    report = match_quality(PROCESS_QUALITY, hours=1)
    assert report.row("Lead").events >= 1
    result = app.test_cli_runner().invoke(flask_cli, ["events", "quality"])
    assert "the counts of this queue live in each process that enqueues events" in result.output
