"""A stand-in for TikTok's Events API on 127.0.0.1 that checks every request it gets.

::

    with FakeEventsApi(access_token="test-token") as fake:
        app.config.update(fake.config)
        fake.answer(Answer(429, retry_after=1), Answer(500))  # then 200s
        …
        fake.to_have_received("Purchase", event_id="order-42", user={"ttclid": "E.C.P.1"})
        assert not fake.problems

In a test, the ``tiktok_events_api`` fixture (the QA kit's pytest plugin) gives one.

Each request is checked against the contract (path, ``Access-Token``, JSON shape); a request
that breaks it is answered like TikTok does (HTTP 200, a non-zero ``code``) and described in
:attr:`FakeEventsApi.problems`.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypeVar

import pytest

from ..events import wire_event_name
from .events_api_contract import EVENTS_API_PATH as EVENTS_API_PATH
from .events_api_contract import contract_problems as contract_problems
from .outbox import outbox_locked as outbox_locked

_T = TypeVar("_T")
# No test waits on a hung answer longer than this, even if it forgets to release it.
_MAX_HANG = 30.0


@dataclass(frozen=True)
class Answer:
    """How the fake answers one request.

    :param status: the HTTP status.
    :param retry_after: a ``Retry-After`` header value, in seconds.
    :param hang: hold the request until :meth:`FakeEventsApi.release` (then answer ``status``).
    :param code: TikTok's JSON ``code`` (0 is success).
    :param message: TikTok's JSON ``message``.
    :param location: a ``Location`` header (with a 3xx status: a redirect).
    :param raw: bytes written as the whole answer instead (a broken server), then the
        connection is closed.
    """

    status: int = 200
    retry_after: int | None = None
    hang: bool = False
    code: int = 0
    message: str = "OK"
    location: str | None = None
    raw: bytes | None = None

    @property
    def accepts(self) -> bool:
        """Whether TikTok would have taken the events of a request answered so."""
        return self.raw is None and 200 <= self.status < 300 and self.code == 0


@dataclass(frozen=True)
class ReceivedRequest:
    """One request the fake received, as it arrived."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float = field(default_factory=time.monotonic)
    #: The client's port: requests on one kept-alive connection share it.
    client_port: int = 0

    @property
    def events(self) -> list[dict[str, Any]]:
        """The entries of the body's ``data`` list."""
        data = self.body.get("data") if isinstance(self.body, dict) else None
        return list(data) if isinstance(data, list) else []


@dataclass(frozen=True)
class ReceivedEvent:
    """One event the fake received, with its request's source and id."""

    source: str
    source_id: str
    data: dict[str, Any]

    def describe(self) -> str:
        """One line for a failure message: the event, its id, source, and what it carried."""
        user = self.data.get("user")
        keys = ", ".join(sorted(user)) if isinstance(user, dict) and user else "none"
        text = (
            f"{self.data.get('event')} event_id={self.data.get('event_id')!r} "
            f"({self.source} {self.source_id}) user keys: {keys}"
        )
        for part in ("properties", "lead"):
            value = self.data.get(part)
            if value:
                text += f"; {part} {json.dumps(value, sort_keys=True)[:200]}"
        return text


def _matches(actual: Any, expected: Any) -> bool:
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return False
        return all(
            key not in actual if value is None else _matches(actual.get(key), value)
            for key, value in expected.items()
        )
    return bool(actual == expected)


class FakeEventsApi:
    """A threaded HTTP server on 127.0.0.1 that plays TikTok's Events API.

    :param access_token: the token requests must carry.
    :param tls: a certificate file and its key file: serve HTTPS with them.
    :ivar requests: every request received, in order (hung ones included).
    :ivar problems: every contract violation seen.
    :ivar accepted: the events of every request answered with success, in order.
    """

    def __init__(self, access_token: str, *, tls: tuple[str, str] | None = None) -> None:
        self.access_token = access_token
        self.requests: list[ReceivedRequest] = []
        self.problems: list[str] = []
        self.accepted: list[dict[str, Any]] = []
        self._answers: list[Answer] = []
        self._poison: dict[str, Answer] = {}
        self._lock = threading.Condition()
        self._release = threading.Event()
        self._hanging = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self._scheme = "https"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-events-api",
            daemon=True,
        )

    @property
    def url(self) -> str:
        """The endpoint's URL, for ``TIKTOK_PIXEL_EVENTS_API_URL``."""
        return f"{self._scheme}://127.0.0.1:{self._server.server_port}{EVENTS_API_PATH}"

    def answer(self, *answers: Answer) -> None:
        """Answer the next requests so, in order; later ones get HTTP 200, code 0."""
        with self._lock:
            self._answers.extend(answers)

    def refuse(self, event_ids: Iterable[str], answer: Answer) -> None:
        """Answer every request that carries one of these events so (TikTok refusing a batch
        for one bad event), whatever else it carries; before the queued answers."""
        with self._lock:
            self._poison.update(dict.fromkeys(event_ids, answer))

    def clear_answers(self) -> None:
        """Forget the answers not given yet: later requests get HTTP 200, code 0."""
        with self._lock:
            self._answers.clear()

    def release(self) -> None:
        """Let hung requests (and later ones asked to hang) be answered."""
        self._release.set()

    def wait_until_hanging(self, timeout: float = 5.0) -> bool:
        """Wait for a request to be held by a hanging answer."""
        return self._hanging.wait(timeout)

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event received, across requests."""
        with self._lock:
            return [event for received in self.requests for event in received.events]

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[ReceivedRequest]:
        """The requests received, once there are ``count``.

        :raises AssertionError: fewer arrived within ``timeout`` seconds.
        """
        return self._wait_for("request", lambda: list(self.requests), count, timeout)

    def wait_for_accepted(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The events accepted (answered with success), once there are ``count``.

        :raises AssertionError: fewer were accepted within ``timeout`` seconds.
        """
        return self._wait_for("accepted event", lambda: list(self.accepted), count, timeout)

    def wait_for_events(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The events received, once there are ``count``.

        :raises AssertionError: fewer arrived within ``timeout`` seconds.
        """
        return self._wait_for("event", lambda: self.events, count, timeout)

    @property
    def config(self) -> dict[str, str]:
        """The settings that point an app at this fake (``app.config.update(fake.config)``)."""
        return {
            "TIKTOK_PIXEL_ACCESS_TOKEN": self.access_token,
            "TIKTOK_PIXEL_EVENTS_API_URL": self.url,
        }

    def received(self) -> list[ReceivedEvent]:
        """Every event received, with the source and id of the request that carried it."""
        with self._lock:
            return [
                ReceivedEvent(
                    str(received.body.get("event_source")),
                    str(received.body.get("event_source_id")),
                    event,
                )
                for received in self.requests
                if isinstance(received.body, dict)
                for event in received.events
                if isinstance(event, dict)
            ]

    def to_have_received(
        self,
        event: str,
        *,
        timeout: float = 5.0,
        source: str | None = None,
        source_id: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Wait until an event like this one arrives, and return it; fail with what did.

        ``event`` is the page's name or the wire name (``CompletePayment`` matches
        ``Purchase``). Each keyword is a field of the event: ``event_id="…"`` must be equal;
        an object such as ``user={"ttclid": "…", "email": sha256_hex(...)}``,
        ``properties={…}`` or ``lead={…}`` must hold at least those keys with those values
        (``None``: the key must be absent).

        ::

            tiktok_events_api.to_have_received(
                "Purchase", event_id=order_event_id("Purchase", 42), user={"ttclid": "E.C.P.x"}
            )

        :param source: ``"web"``, ``"crm"`` or ``"offline"`` (any, by default).
        :param source_id: the pixel code or event set id (any, by default).
        :raises AssertionError: no such event arrived within ``timeout`` seconds; the message
            lists every event received and every contract violation seen.
        """
        name = wire_event_name(event)

        def found() -> dict[str, Any] | None:
            for item in self.received():
                if (
                    wire_event_name(str(item.data.get("event"))) == name
                    and source in (None, item.source)
                    and source_id in (None, item.source_id)
                    and all(_matches(item.data.get(k), v) for k, v in fields.items())
                ):
                    return item.data
            return None

        end = time.monotonic() + timeout
        with self._lock:
            while (match := found()) is None:
                left = end - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(min(left, 0.05))
        if match is not None:
            return match
        wanted = ", ".join(
            [f"{name!r}"]
            + [f"{k}={v!r}" for k, v in (("source", source), ("source_id", source_id)) if v]
            + [f"{k}={v!r}" for k, v in fields.items()]
        )
        lines = [f"the fake Events API received no event like {wanted} within {timeout:g} s"]
        got = self.received()
        lines.append(f"it received {len(got)} event(s):" if got else "it received no event")
        lines += [f"  {item.describe()}" for item in got[:50]]
        if len(got) > 50:
            lines.append(f"  … and {len(got) - 50} more")
        if self.problems:
            lines.append("and refused requests for:")
            lines += [f"  {problem}" for problem in self.problems[:20]]
        raise AssertionError("\n".join(lines))

    def _wait_for(
        self, what: str, items: Callable[[], list[_T]], count: int, timeout: float
    ) -> list[_T]:
        with self._lock:
            if not self._lock.wait_for(lambda: len(items()) >= count, timeout):
                raise AssertionError(
                    f"expected {count} Events API {what}(s) within {timeout:g} s, "
                    f"got {len(items())}"
                )
            return items()

    def __enter__(self) -> FakeEventsApi:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _receive(
        self, method: str, path: str, headers: dict[str, str], raw: bytes, port: int = 0
    ) -> Answer:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        problems = contract_problems(method, path, headers, body, self.access_token)
        with self._lock:
            self.requests.append(ReceivedRequest(method, path, headers, body, client_port=port))
            self.problems.extend(problems)
            poisoned = [
                self._poison[item["event_id"]]
                for item in (body.get("data") if isinstance(body, dict) else None) or []
                if isinstance(item, dict) and item.get("event_id") in self._poison
            ]
            if poisoned:
                answer = poisoned[0]
            else:
                answer = self._answers.pop(0) if self._answers else Answer()
            self._lock.notify_all()
        if problems:
            return Answer(200, code=40002, message="; ".join(problems))
        if answer.hang:
            self._hanging.set()
            self._release.wait(_MAX_HANG)
        if answer.accepts and isinstance(body, dict):
            with self._lock:
                self.accepted.extend(body["data"])
                self._lock.notify_all()
        return answer

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as TikTok's servers
            # Headers and body go out in two writes: without this, Nagle's algorithm holds the
            # body until the client's delayed ACK, 40 ms per request on a kept-alive connection.
            disable_nagle_algorithm = True

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {key.lower(): value for key, value in self.headers.items()}
                answer = fake._receive(
                    self.command, self.path, headers, raw, self.client_address[1]
                )
                if answer.raw is not None:
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.wfile.write(answer.raw)
                    return
                text = json.dumps({"code": answer.code, "message": answer.message}).encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(text)))
                    if answer.location is not None:
                        self.send_header("Location", answer.location)
                    if answer.retry_after is not None:
                        self.send_header("Retry-After", str(answer.retry_after))
                    self.end_headers()
                    self.wfile.write(text)
                except OSError:
                    pass  # the client gave up waiting (a time-out test)

            do_POST = do_GET = do_PUT = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


#: The access token the ``tiktok_events_api`` fixture's fake expects.
FAKE_ACCESS_TOKEN = "tt-fake-0123456789abcdef"


@pytest.fixture
def tiktok_events_api() -> Iterator[FakeEventsApi]:
    """A fake of TikTok's Events API on 127.0.0.1 for one test, checking every request against
    the contract (each source's required fields included). Point the app at it with
    ``app.config.update(tiktok_events_api.config)``, then assert with
    :meth:`FakeEventsApi.to_have_received`."""
    with FakeEventsApi(access_token=FAKE_ACCESS_TOKEN) as fake:
        yield fake
