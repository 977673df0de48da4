"""``flask tiktok-pixel events status|retry|purge`` and the counters a site monitors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from events_api_support import HOSTILE_OPTIONS, closing_sender, events_app
from flask import Flask
from outbox_process import CODE, event

from pixel_embed import TikTokPixel
from pixel_embed.events_api import OutboxSender, delivery_stats
from pixel_embed.events_api.hooks import EXTENSION_KEY
from pixel_embed.integrations.flask.cli import flask_cli
from pixel_embed.testing.events_api import Answer, FakeEventsApi


@pytest.fixture
def app(fake: FakeEventsApi, tmp_path: Path) -> Iterator[Flask]:
    app = events_app(fake, TIKTOK_PIXEL_EVENTS_QUEUE=f"sqlite:///{tmp_path}/o.sqlite3")
    TikTokPixel(app)
    with closing_sender(app):
        yield app


def sender_of(app: Flask) -> OutboxSender:
    sender = app.extensions[EXTENSION_KEY].sender
    assert isinstance(sender, OutboxSender)
    return sender


def cli(app: Flask, *args: str) -> str:
    result = app.test_cli_runner().invoke(flask_cli, ["events", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_status_retry_and_purge(app: Flask, fake: FakeEventsApi) -> None:
    sender = sender_of(app)
    sender.outbox.add([(CODE, event("e1")), (CODE, event("e2")), (CODE, event("e3"))])
    assert "waiting: 3 (0 in delivery" in cli(app, "status")
    fake.answer(*[Answer(400)] * 5)  # the batch, then its halves down to single events
    sender.deliver_due()

    text = cli(app, "status")
    assert "dead letters: 3" in text
    assert "3 x HTTP 400 (gave up after 1 try)" in text
    assert "CompletePayment e1 pixel CABCDE1234567890ABCD, 1 tries" in text
    report = json.loads(cli(app, "status", "--json"))
    assert report["dead"] == 3
    assert report["dead_reasons"] == {"HTTP 400 (gave up after 1 try)": 3}

    [first, *_] = sender.outbox.dead_letters()
    assert cli(app, "retry", "--id", str(first.id)) == "1 dead letter(s) put back in the outbox\n"
    sender.deliver_due()
    assert [e["event_id"] for e in fake.accepted] == [first.event_id]
    assert cli(app, "purge", "--yes") == "2 dead letter(s) deleted\n"
    stats = delivery_stats(app)
    assert stats is not None
    assert (stats.waiting, stats.delivered, stats.dead) == (0, 1, 0)


def test_a_command_does_not_deliver(app: Flask, fake: FakeEventsApi) -> None:
    sender_of(app).outbox.add([(CODE, event("e1"))])
    cli(app, "status")
    assert fake.requests == []


def test_retry_needs_the_outbox(fake: FakeEventsApi) -> None:
    app = events_app(fake)
    TikTokPixel(app)
    with closing_sender(app):
        result = app.test_cli_runner().invoke(flask_cli, ["events", "retry"])
        assert result.exit_code == 1
        assert "only the sqlite outbox keeps dead letters" in result.output
        assert "queue: memory" in cli(app, "status")


@pytest.mark.parametrize("args", HOSTILE_OPTIONS, ids="_".join)
def test_a_hostile_value_is_a_usage_error_naming_the_option(
    app: Flask, args: tuple[str, ...]
) -> None:
    result = app.test_cli_runner().invoke(flask_cli, ["events", *args])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{args[1]}': " in result.output
