"""The Events API transport under a misbehaving endpoint: redirects are never followed, every
broken answer is a retryable :class:`DeliveryError`, and the access token never leaks (issue 11,
items 4, 5 and 8)."""

from __future__ import annotations

import dataclasses
import logging
import pickle
import shutil
import subprocess
import tracemalloc
from pathlib import Path

import pytest
from events_api_support import TOKEN, assert_clean_logs, fake_api
from hypothesis import given
from hypothesis import strategies as st
from test_events_api_delivery import CODE, FAST, purchase

from pixel_embed.events_api import BackgroundSender, DeliveryError, EventsApiClient, deliver
from pixel_embed.events_api.client import scrub
from pixel_embed.testing.events_api import Answer, FakeEventsApi


@pytest.fixture
def client(fake: FakeEventsApi) -> EventsApiClient:
    return EventsApiClient(access_token=TOKEN, url=fake.url, timeout=2.0)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_never_followed(
    fake: FakeEventsApi, client: EventsApiClient, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    with fake_api() as elsewhere:
        fake.answer(Answer(status, location=elsewhere.url))

        with pytest.raises(DeliveryError) as caught:
            client.post(CODE, [purchase()])

        assert caught.value.problem == f"HTTP {status} redirect, not followed"
        assert not caught.value.retryable
        assert elsewhere.requests == []  # the token went nowhere else
        assert not deliver(client, CODE, [purchase()], FAST) or fake.accepted
    assert_clean_logs(caplog)


def test_a_redirected_batch_is_not_counted_as_sent(
    fake: FakeEventsApi, client: EventsApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    fake.answer(Answer(302, location="http://203.0.113.1/steal"))
    sender = BackgroundSender(client, policy=FAST)
    sender.send(CODE, purchase())
    assert sender.flush(timeout=10)
    sender.close()

    assert (sender.sent, sender.failed) == (0, 1)
    assert "HTTP 302 redirect, not followed" in caplog.text
    assert_clean_logs(caplog)


BROKEN_ANSWERS = {
    "BadStatusLine": b"not HTTP at all\r\n\r\n",
    "IncompleteRead": b'HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{"code": 0',
    "LineTooLong": b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n",
    "closed without an answer": b"",
    "a reset": b"HTTP/1.1 5",
}


@pytest.mark.parametrize("raw", BROKEN_ANSWERS.values(), ids=BROKEN_ANSWERS.keys())
def test_a_broken_answer_is_a_retryable_delivery_error(
    fake: FakeEventsApi, client: EventsApiClient, caplog: pytest.LogCaptureFixture, raw: bytes
) -> None:
    fake.answer(Answer(raw=raw))

    with caplog.at_level(logging.DEBUG):
        with pytest.raises(DeliveryError) as caught:
            client.post(CODE, [purchase()])
        assert caught.value.retryable
        assert TOKEN.lower() not in str(caught.value).lower()

        fake.answer(Answer(raw=raw))
        assert deliver(client, CODE, [purchase("again")], FAST)  # the retry gets through
    assert [event["event_id"] for event in fake.accepted] == ["again"]
    assert_clean_logs(caplog)


def test_an_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: no certificate to test with")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subprocess.run(
        [openssl, *request, "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    with FakeEventsApi(access_token=TOKEN, tls=(str(cert), str(key))) as fake:
        client = EventsApiClient(access_token=TOKEN, url=fake.url, timeout=5.0)
        with pytest.raises(DeliveryError) as caught:
            client.post(CODE, [purchase()])
        assert caught.value.problem == "the TLS certificate check failed"
        assert not caught.value.retryable
        assert fake.requests == []  # nothing, the token least of all, went to it


def test_a_refused_connection_is_retryable() -> None:
    with fake_api() as fake:
        url = fake.url
    with pytest.raises(DeliveryError) as caught:
        EventsApiClient(access_token=TOKEN, url=url).post(CODE, [purchase()])
    assert caught.value.retryable
    assert caught.value.problem.startswith("could not connect")


def test_connections_are_kept_open_between_batches(
    fake: FakeEventsApi, client: EventsApiClient
) -> None:
    for number in range(3):
        client.post(CODE, [purchase(f"e{number}")])

    assert len({request.client_port for request in fake.requests}) == 1


def test_the_token_is_kept_out_of_asdict_pickle_and_repr(client: EventsApiClient) -> None:
    assert TOKEN not in repr(client)
    assert TOKEN not in str(dataclasses.asdict(client))
    assert dataclasses.asdict(client)["url"] == client.url
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(client)


ALTERNATING = "".join(c.upper() if i % 2 else c for i, c in enumerate(TOKEN))


@pytest.mark.parametrize("echo", [TOKEN.upper(), TOKEN.title(), ALTERNATING])
def test_the_token_is_scrubbed_in_any_letter_case(
    fake: FakeEventsApi, client: EventsApiClient, caplog: pytest.LogCaptureFixture, echo: str
) -> None:
    fake.answer(Answer(200, code=40105, message=f"token {echo} is invalid"))

    assert not deliver(client, CODE, [purchase()], FAST)

    assert "token [access token] is invalid" in caplog.text
    assert TOKEN.lower() not in caplog.text.lower()


def test_a_delivery_error_survives_a_pickle() -> None:
    error = DeliveryError("HTTP 503", retryable=True, retry_after=2.0)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.problem, copy.retryable, copy.retry_after) == ("HTTP 503", True, 2.0)


@given(
    before=st.text(max_size=40),
    after=st.text(max_size=40),
    flips=st.lists(st.booleans(), min_size=len(TOKEN), max_size=len(TOKEN)),
)
def test_scrub_removes_the_token_whatever_surrounds_it(
    before: str, after: str, flips: list[bool]
) -> None:
    echoed = "".join(c.upper() if flip else c for c, flip in zip(TOKEN, flips, strict=True))

    text = scrub(before + echoed + after, TOKEN)

    assert TOKEN.lower() not in text.lower()
    assert all(c.isprintable() for c in text)


def test_the_memory_queue_is_bounded_in_bytes(
    fake: FakeEventsApi, client: EventsApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    one = len(pickle.dumps(purchase()))  # about the size of an event's JSON, for scale
    sender = BackgroundSender(client, policy=FAST, queue_size=1000, queue_bytes=one * 3)
    fake.answer(Answer(hang=True))
    try:
        for number in range(20):
            sender.send(CODE, purchase(f"e{number}"))
        assert 14 <= sender.dropped < 20
        assert "because the queue is full" in caplog.text
    finally:
        fake.release()
        sender.close(timeout=5)
    assert sender.sent == 20 - sender.dropped


def test_a_hung_endpoint_holds_at_most_the_byte_budget_in_memory(
    fake: FakeEventsApi, client: EventsApiClient
) -> None:
    budget = 4 * 1024 * 1024
    sender = BackgroundSender(client, policy=FAST, queue_bytes=budget)
    fake.answer(Answer(hang=True))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for number in range(100):  # 40 MB of events, each its own 400 kB string
            data = {**purchase(f"e{number}"), "properties": {"description": "x" * 400_000}}
            sender.send(CODE, data)
            del data
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        fake.release()
        sender.close(timeout=10)
    # The budget counts events as JSON; in memory they weigh a little more, and the request
    # hung in flight holds copies on both sides (the fake runs in this process): ~3.5 MB.
    assert held < 1.5 * budget + 4 * 1024 * 1024  # not the 40 MB sent
    assert sender.dropped >= 85
