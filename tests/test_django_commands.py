"""``manage.py tiktok_pixel``: the pixel-embed commands with the project's settings, and
server-event delivery, against the fake Events API."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings
from django_support import running_shop  # noqa: F401 - sets Django up
from events_api_support import HOSTILE_OPTIONS
from test_events_api_taskqueues import (
    redis_contents,
    redis_url,  # noqa: F401 - the fixture: a real Redis
)

from pixel_embed import hash_phone, order_event_id
from pixel_embed.testing.events_api import Answer, FakeEventsApi

TOKEN = "django-test-token"


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("tiktok_pixel", *args, stdout=out)
    return out.getvalue()


def test_snippet_uses_the_projects_settings(capsys: pytest.CaptureFixture[str]) -> None:
    run("snippet")
    printed = capsys.readouterr().out
    assert 'ttq.load("CDEMOSHOP00PIXEL0001")' in printed
    assert "ttq.holdConsent();" in printed


def test_snippet_takes_a_code_of_its_own(capsys: pytest.CaptureFixture[str]) -> None:
    run("snippet", "--code", "CABCDE1234567890ABCD")
    assert 'ttq.load("CABCDE1234567890ABCD")' in capsys.readouterr().out


def test_hash_reads_phones_with_the_default_region(capsys: pytest.CaptureFixture[str]) -> None:
    run("hash", "--phone", "(213) 373-4253")
    assert hash_phone("+12133734253") in capsys.readouterr().out


def test_a_bad_option_exits_non_zero_with_pixel_embeds_message() -> None:
    with pytest.raises(SystemExit) as exit_:
        run("hash", "--no-such-option")
    assert exit_.value.code != 0


@pytest.fixture
def outbox_site(tmp_path: Path) -> Iterator[FakeEventsApi]:
    with (
        FakeEventsApi(access_token=TOKEN) as fake,
        override_settings(
            TIKTOK_PIXEL_ACCESS_TOKEN=TOKEN,
            TIKTOK_PIXEL_EVENTS_API_URL=fake.url,
            TIKTOK_PIXEL_EVENTS_QUEUE=f"sqlite:///{tmp_path / 'outbox.sqlite3'}",
            TIKTOK_PIXEL_EVENTS_DELIVERY="worker",
            TIKTOK_PIXEL_EVENTS_API_MAX_TRIES=1,
        ),
    ):
        yield fake


@pytest.mark.django_db
def test_events_status_retry_purge_and_deliver(outbox_site: FakeEventsApi) -> None:
    # A purchase on the demo shop: its server copy waits in the outbox for the worker.
    shopper = Client()
    shopper.post("/cart/add", {"product": "enamel-mug"})
    order_page = shopper.post("/checkout/pay")["Location"]
    event_id = order_event_id("CompletePayment", order_page.rsplit("/", 1)[1])
    assert "waiting: 1" in run("events", "status")
    outbox_site.answer(Answer(400, code=40001, message="bad event"))
    assert "stopped: 0 event(s) waiting, 1 dead letter(s)" in run("events", "deliver", "--burst")
    status = run("events", "status")
    assert "dead letters: 1" in status
    assert event_id in status
    assert '"dead": 1' in run("events", "status", "--json")
    assert "1 dead letter(s) put back" in run("events", "retry")
    outbox_site.clear_answers()
    run("events", "deliver", "--burst")
    assert [e["event_id"] for e in outbox_site.wait_for_accepted(1)] == [event_id]
    assert not outbox_site.problems
    assert "0 dead letter(s) deleted" in run("events", "purge", "--yes")


@pytest.mark.parametrize("args", HOSTILE_OPTIONS, ids="_".join)
def test_events_refuse_a_hostile_value_naming_the_option(
    args: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        run("events", *args)
    assert exit_.value.code == 2
    told = capsys.readouterr().err.splitlines()[-1]
    assert told.startswith(f"manage.py tiktok_pixel events {args[0]}: error: argument {args[1]}: ")


def test_events_say_when_server_events_are_off() -> None:
    with pytest.raises(CommandError, match="server events are off"):
        run("events", "status")


def test_events_need_the_outbox_to_retry() -> None:
    with (
        FakeEventsApi(access_token=TOKEN) as fake,
        override_settings(TIKTOK_PIXEL_ACCESS_TOKEN=TOKEN, TIKTOK_PIXEL_EVENTS_API_URL=fake.url),
        pytest.raises(CommandError, match="only the sqlite outbox keeps dead letters"),
    ):
        run("events", "retry")


@pytest.mark.django_db
def test_events_through_rq_reach_tiktok_by_the_projects_own_rq_worker(
    redis_url: str,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    from redis import Redis
    from rq import Queue

    Redis.from_url(redis_url).flushall()
    with FakeEventsApi(access_token=TOKEN) as fake:
        queue = Queue("pixel", connection=Redis.from_url(redis_url))
        with override_settings(
            TIKTOK_PIXEL_ACCESS_TOKEN=TOKEN,
            TIKTOK_PIXEL_EVENTS_API_URL=fake.url,
            TIKTOK_PIXEL_EVENTS_QUEUE="rq",
            TIKTOK_PIXEL_RQ_QUEUE=queue,
        ):
            shopper = Client()
            shopper.post("/cart/add", {"product": "enamel-mug"})
            order = shopper.post("/checkout/pay")["Location"].rsplit("/", 1)[1]
        assert len(queue) == 1  # the purchase's server copy waits in Redis
        env = {
            **os.environ,
            "DEMO_DB": str(tmp_path / "demo.sqlite3"),
            "DEMO_RQ_URL": redis_url,
            "DEMO_EVENTS_API_TOKEN": TOKEN,
            "DEMO_EVENTS_API_URL": fake.url,
        }
        env.pop("DJANGO_SETTINGS_MODULE", None)
        command = ["tiktok_pixel", "events", "rq-worker", "--burst"]
        subprocess.run(
            [sys.executable, "-m", "demo_django", *command], env=env, timeout=120, check=True
        )
        [accepted] = fake.wait_for_accepted(1)
    assert accepted["event_id"] == order_event_id("CompletePayment", order)
    assert TOKEN.encode() not in redis_contents(redis_url)  # the worker's client: settings


def test_rq_worker_says_when_the_queue_is_not_rq() -> None:
    with pytest.raises(CommandError, match="server events are off"):
        run("events", "rq-worker", "--burst")
