"""``manage.py tiktok_pixel``: the pixel-embed commands with the project's settings, and
server-event delivery, against the fake Events API."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings
from django_support import running_shop  # noqa: F401 - sets Django up

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
