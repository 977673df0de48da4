"""Delivery to a local fake Events API: the request contract, retries, give-up, batching,
shutdown, and logs free of the token and of personal data."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from events_api_support import RAW_EMAIL, TOKEN, USER_AGENT, assert_clean_logs, fake_api

from pixel_embed import Identity, validate_event
from pixel_embed.events_api import (
    BackgroundSender,
    EventsApiClient,
    RequestContext,
    RetryPolicy,
    deliver,
    server_event,
)
from pixel_embed.events_api.delivery import deliver_once
from pixel_embed.testing.events_api import EVENTS_API_PATH, Answer, FakeEventsApi

CODE = "CABCDE1234567890ABCD"
OTHER_CODE = "CZYXWV0987654321ZYXW"
FAST = RetryPolicy(max_tries=3, backoff=0.01, max_delay=2.0)


@pytest.fixture
def client(fake: FakeEventsApi) -> EventsApiClient:
    return EventsApiClient(access_token=TOKEN, url=fake.url, test_event_code="TEST42")


@pytest.fixture
def sender(client: EventsApiClient) -> Iterator[BackgroundSender]:
    sender = BackgroundSender(client, policy=FAST)
    yield sender
    sender.close(timeout=2)


def purchase(event_id: str = "order-1") -> dict[str, Any]:
    event = validate_event("CompletePayment", {"value": 10, "currency": "EUR"}, event_id=event_id)
    identity = Identity.from_raw(email=RAW_EMAIL)
    context = RequestContext(ip="198.51.100.7", user_agent=USER_AGENT, url="http://shop/pay")
    return server_event(event, identity, context)


def test_a_request_keeps_the_contract(fake: FakeEventsApi, client: EventsApiClient) -> None:
    data = purchase()

    client.post(CODE, [data])

    [received] = fake.wait_for_requests(1)
    assert fake.problems == []
    assert received.method == "POST"
    assert received.path == EVENTS_API_PATH
    assert received.headers["access-token"] == TOKEN
    assert received.headers["content-type"] == "application/json"
    assert received.body == {
        "event_source": "web",
        "event_source_id": CODE,
        "test_event_code": "TEST42",
        "data": [data],
    }


def test_429_and_500_are_retried_after_retry_after(
    fake: FakeEventsApi, client: EventsApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    fake.answer(Answer(429, retry_after=1), Answer(500))

    assert deliver(client, CODE, [purchase()], FAST)

    first, second, third = fake.wait_for_requests(3)
    assert first.body == second.body == third.body
    assert second.at - first.at >= 1.0  # TikTok asked for a second's pause
    assert "HTTP 429" in caplog.text
    assert "HTTP 500" in caplog.text
    assert_clean_logs(caplog)


def test_tiktok_rate_limit_code_is_retried(fake: FakeEventsApi, client: EventsApiClient) -> None:
    fake.answer(Answer(200, code=40100))

    assert deliver(client, CODE, [purchase()], FAST)
    assert len(fake.wait_for_requests(2)) == 2


def test_gives_up_after_max_tries_with_a_clean_error(
    fake: FakeEventsApi, client: EventsApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    fake.answer(*[Answer(503)] * 3)

    with caplog.at_level(logging.DEBUG, logger="pixel_embed"):
        assert not deliver(client, CODE, [purchase("order-9")], FAST)

    assert len(fake.requests) == 3
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "gave up on 1 event(s) for pixel CABCDE1234567890ABCD after 3 tries" in error.message
    assert "HTTP 503" in error.message
    assert "Purchase order-9" in error.message  # the name sent (CompletePayment on the page)
    assert_clean_logs(caplog)


@pytest.mark.parametrize("answer", [Answer(400), Answer(401), Answer(200, code=40001)])
def test_refusals_are_not_retried(
    fake: FakeEventsApi, client: EventsApiClient, caplog: pytest.LogCaptureFixture, answer: Answer
) -> None:
    fake.answer(answer)

    assert not deliver(client, CODE, [purchase()], FAST)

    assert len(fake.requests) == 1
    assert "gave up on 1 event(s)" in caplog.text
    assert_clean_logs(caplog)


def test_tiktok_messages_are_scrubbed_before_logging(
    fake: FakeEventsApi, client: EventsApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    echo = f"bad token {TOKEN} for {RAW_EMAIL.lower()} at 198.51.100.7"
    fake.answer(Answer(200, code=40001, message=echo))

    assert not deliver(client, CODE, [purchase()], FAST)

    assert "TikTok code 40001: bad token [access token] for [e-mail] at [address]" in caplog.text
    assert "198.51.100.7" not in caplog.text
    assert_clean_logs(caplog)


def test_a_time_out_is_retried(fake: FakeEventsApi, caplog: pytest.LogCaptureFixture) -> None:
    client = EventsApiClient(access_token=TOKEN, url=fake.url, timeout=0.2)
    fake.answer(Answer(hang=True))

    assert not deliver(client, CODE, [purchase()], RetryPolicy(max_tries=1))
    fake.release()

    assert "timed out after 0.2 s" in caplog.text
    assert_clean_logs(caplog)


def test_an_unreachable_endpoint_is_an_error_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    with fake_api() as fake:
        url = fake.url  # the port is free again once the fake has stopped
    client = EventsApiClient(access_token=TOKEN, url=url)

    assert not deliver(client, CODE, [purchase()], RetryPolicy(max_tries=2, backoff=0.01))

    assert "could not connect" in caplog.text
    assert_clean_logs(caplog)


def test_events_are_batched_per_pixel(fake: FakeEventsApi, sender: BackgroundSender) -> None:
    fake.answer(Answer(hang=True))
    sender.send(CODE, purchase("first"))
    assert fake.wait_until_hanging()
    # While the worker waits on TikTok, events pile up; they go out in one request per pixel.
    sender.send(CODE, purchase("a"))
    sender.send(OTHER_CODE, purchase("b"))
    sender.send(CODE, purchase("c"))
    fake.release()

    assert sender.flush(timeout=10)
    requests = fake.wait_for_requests(3)
    batches = {r.body["event_source_id"]: [e["event_id"] for e in r.events] for r in requests[1:]}
    assert batches == {CODE: ["a", "c"], OTHER_CODE: ["b"]}
    assert (sender.sent, sender.failed, sender.dropped) == (4, 0, 0)
    assert fake.problems == []


def test_a_full_queue_drops_instead_of_blocking(
    fake: FakeEventsApi, client: EventsApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    sender = BackgroundSender(client, policy=FAST, queue_size=2)
    fake.answer(Answer(hang=True))
    try:
        for number in range(5):
            sender.send(CODE, purchase(f"e{number}"))
        assert sender.dropped == 3
        assert "because the queue is full" in caplog.text
    finally:
        fake.release()
        sender.close(timeout=5)
    assert sender.sent == 2
    assert_clean_logs(caplog)


def test_close_delivers_what_is_queued(fake: FakeEventsApi, client: EventsApiClient) -> None:
    sender = BackgroundSender(client, policy=FAST)
    for number in range(3):
        sender.send(CODE, purchase(f"e{number}"))

    sender.close()

    assert sorted(e["event_id"] for e in fake.events) == ["e0", "e1", "e2"]
    sender.send(CODE, purchase("late"))
    assert sender.dropped == 1


def test_close_gives_up_on_a_hung_endpoint(
    fake: FakeEventsApi, client: EventsApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    sender = BackgroundSender(client, policy=FAST)
    fake.answer(Answer(hang=True))
    sender.send(CODE, purchase())
    assert fake.wait_until_hanging()

    sender.close(timeout=0.1)

    assert "closed with 1 event(s) undelivered" in caplog.text
    fake.release()


def test_close_does_not_wait_out_a_long_back_off(
    fake: FakeEventsApi, client: EventsApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    sender = BackgroundSender(client, policy=RetryPolicy(max_tries=5, max_delay=30.0))
    fake.answer(Answer(503, retry_after=30))
    sender.send(CODE, purchase())
    fake.wait_for_requests(1)

    sender.close(timeout=0.5)

    assert sender.failed == 1
    assert "HTTP 503, and no time left to retry" in caplog.text
    assert len(fake.requests) == 1


def test_the_token_stays_out_of_the_client_repr(client: EventsApiClient) -> None:
    assert TOKEN not in repr(client)
    assert TOKEN not in str(client)


def test_a_task_queue_attempt_follows_the_outbox_rules(
    fake: FakeEventsApi, client: EventsApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    old = {**purchase("old"), "event_time": 1_000}
    fake.answer(Answer(503, retry_after=7))

    again = deliver_once(client, CODE, [old, purchase("new")], 1, max_age=3600)

    assert again is not None
    events, delay = again
    assert [event["event_id"] for event in events] == ["new"]  # the old one is given up on
    assert delay == 7
    assert "gave up on 1 event(s) for pixel CABCDE1234567890ABCD as too old" in caplog.text
    fake.answer(Answer(400))
    assert deliver_once(client, CODE, events, 2, max_age=3600) is None
    assert "after 2 tries: HTTP 400" in caplog.text
    assert deliver_once(client, CODE, events, 3, max_age=3600) is None
    assert [event["event_id"] for event in fake.accepted] == ["new"]
    assert_clean_logs(caplog)


def test_a_task_queue_attempt_gives_up_on_the_poison_event_alone(
    fake: FakeEventsApi, client: EventsApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    # A Celery or RQ job carries a request's events: one bad event must not take the others.
    fake.refuse(["bad"], Answer(200, code=40002, message="bad currency"))
    events = [purchase("good-1"), purchase("bad"), purchase("good-2")]

    assert deliver_once(client, CODE, events, 1, max_age=3600) is None

    assert sorted(event["event_id"] for event in fake.accepted) == ["good-1", "good-2"]
    assert "gave up on 1 event(s) for pixel CABCDE1234567890ABCD after 1 try" in caplog.text
    assert "(events: Purchase bad)" in caplog.text


def test_the_memory_queue_gives_up_on_the_poison_event_alone(
    fake: FakeEventsApi, client: EventsApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    fake.refuse(["bad"], Answer(400))
    batch = [purchase(event_id) for event_id in ("good-1", "bad", "good-2", "good-3")]

    assert deliver(client, CODE, batch) is False  # not every event was accepted

    assert sorted(e["event_id"] for e in fake.accepted) == ["good-1", "good-2", "good-3"]
    assert "gave up on 1 event(s) for pixel CABCDE1234567890ABCD after 1 try: HTTP 400" in (
        caplog.text
    )
