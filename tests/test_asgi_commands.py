"""``pixel-embed events --app MODULE:ATTRIBUTE status|retry|purge|deliver``, run as a site runs
it: a process of its own, the app imported from the working directory as uvicorn imports it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from events_api_support import HOSTILE_OPTIONS, TOKEN, manual_sender
from outbox_process import CODE, event

from pixel_embed.events_api.outbox import Outbox
from pixel_embed.integrations.starlette.commands import main
from pixel_embed.testing.events_api import Answer, FakeEventsApi

TESTS = Path(__file__).resolve().parent
APP = "asgi_worker_app:app"


@pytest.fixture
def fake() -> Iterator[FakeEventsApi]:
    with FakeEventsApi(access_token=TOKEN) as api:
        yield api


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    return Outbox(str(tmp_path / "events.sqlite3"))


def events(
    fake: FakeEventsApi, queue: str, *args: str, status: int = 0
) -> subprocess.CompletedProcess[str]:
    """``pixel-embed events ARGS`` in the tests folder, the app's settings in its environment."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS.parent), os.environ.get("PYTHONPATH", "")]),
        "ASGI_TEST_API_URL": fake.url,
        "ASGI_TEST_TOKEN": fake.access_token,
        "ASGI_TEST_QUEUE": queue,
    }
    command = [sys.executable, "-m", "pixel_embed.cli", "events", *args]
    done = subprocess.run(
        command,
        cwd=TESTS,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == status, done.stdout + done.stderr
    return done


def test_status_retry_purge_and_deliver(fake: FakeEventsApi, outbox: Outbox) -> None:
    queue = f"sqlite:///{outbox.path}"
    outbox.add([(CODE, event("e1")), (CODE, event("e2")), (CODE, event("e3"))])
    assert "waiting: 3 (0 in delivery" in events(fake, queue, "--app", APP, "status").stdout
    assert fake.requests == []  # looking does not deliver
    fake.answer(*[Answer(400)] * 5)  # the batch, then its halves down to single events
    manual_sender(outbox, fake).deliver_due()

    text = events(fake, queue, "--app", APP, "status").stdout
    assert "dead letters: 3" in text
    assert "3 x HTTP 400 (gave up after 1 try)" in text
    assert f"CompletePayment e1 pixel {CODE}, 1 tries" in text
    report = json.loads(events(fake, queue, "--app", APP, "status", "--json").stdout)
    assert report["dead"] == 3
    assert report["queue"] == queue

    [first, *_] = outbox.dead_letters()
    retried = events(fake, queue, "--app", APP, "retry", "--id", str(first.id)).stdout
    assert retried == "1 dead letter(s) put back in the outbox\n"
    refused = events(fake, queue, "--app", APP, "purge", status=2).stderr
    assert "pass --yes to confirm" in refused
    assert (
        events(fake, queue, "--app", APP, "purge", "--yes").stdout == "2 dead letter(s) deleted\n"
    )

    delivered = events(fake, queue, "--app", APP, "deliver", "--burst").stdout
    assert "stopped: 0 event(s) waiting, 0 dead letter(s)" in delivered
    assert [e["event_id"] for e in fake.accepted] == [first.event_id]


def test_the_pixel_itself_and_a_factory_are_found_too(fake: FakeEventsApi, outbox: Outbox) -> None:
    queue = f"sqlite:///{outbox.path}"
    assert "waiting: 0" in events(fake, queue, "--app", "asgi_worker_app:pixel", "status").stdout
    factory = ("--app", "demo_fastapi:create_app", "--factory", "status")
    off = events(fake, queue, *factory, status=2).stderr
    assert "server events are off: set TIKTOK_PIXEL_ACCESS_TOKEN" in off


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("asgi_worker_app", "is not MODULE:ATTRIBUTE, such as 'shop.main:app'"),
        ("no_such_module:app", "cannot import 'no_such_module'"),
        ("asgi_worker_app:nothing", "'asgi_worker_app' has no 'nothing'"),
        ("asgi_worker_app:CODE", "holds no TikTokPixel"),
        ("asgi_worker_app:buy", "holds no TikTokPixel"),
    ],
)
def test_a_wrong_app_is_named_with_the_problem(
    fake: FakeEventsApi, outbox: Outbox, target: str, problem: str
) -> None:
    done = events(fake, f"sqlite:///{outbox.path}", "--app", target, "status", status=2)
    assert problem in done.stderr
    assert "Traceback" not in done.stderr


def test_an_app_path_and_a_factory_that_is_the_app_are_named_with_the_problem(
    fake: FakeEventsApi, outbox: Outbox
) -> None:
    queue = f"sqlite:///{outbox.path}"
    path = events(fake, queue, "--app", "../../etc/passwd:x", "status", status=2).stderr
    assert "'../../etc/passwd' is not a module name" in path
    factory = events(fake, queue, "--app", APP, "--factory", "status", status=2).stderr
    assert "'app' is the app itself, not a function that builds it: drop --factory" in factory
    for told in (path, factory):
        assert len(told.splitlines()) == 1
        assert "Traceback" not in told


@pytest.mark.parametrize("args", HOSTILE_OPTIONS, ids="_".join)
def test_a_hostile_value_is_a_usage_error_naming_the_option(
    args: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    # Refused before the app is imported: no traceback, and nothing deleted.
    action, option, *_ = args
    assert main(["--app", APP, *args]) == 2
    told = capsys.readouterr().err.splitlines()[-1]
    assert told.startswith(f"pixel-embed events {action}: error: argument {option}: ")


def test_the_memory_queue_has_no_dead_letters_to_retry(fake: FakeEventsApi) -> None:
    done = events(fake, "memory", "--app", APP, "retry", status=2)
    assert "only the sqlite outbox keeps dead letters" in done.stderr
    assert "queue: memory" in events(fake, "memory", "--app", APP, "status").stdout


def test_quality_reports_the_matching_keys_of_the_outbox(
    fake: FakeEventsApi, outbox: Outbox
) -> None:
    queue = f"sqlite:///{outbox.path}"
    outbox.add([(CODE, event("q1")), (CODE, event("q2"))])
    report = json.loads(events(fake, queue, "--app", APP, "quality", "--json").stdout)
    assert isinstance(report, dict)
    assert events(fake, queue, "--app", APP, "quality").stdout.strip()
