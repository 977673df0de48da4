"""One Events API request, over a pooled, TLS-verified urllib3 connection.

urllib3 keeps connections open between batches (a new TLS handshake per batch costs TikTok's
round trip twice over), verifies certificates against the system's store, and lets us turn
redirects off. Retries are ours (:mod:`.delivery`, :mod:`.outbox`): they must survive a
restart, which urllib3's in-process ``Retry`` cannot.

The access token only ever goes into the ``Access-Token`` header: it is never part of an
exception, a log line, a ``repr``, :func:`dataclasses.asdict` or a pickle.
"""

from __future__ import annotations

import email.utils
import http.client
import os
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import InitVar, dataclass
from typing import Any, ClassVar, NoReturn

import orjson
import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import NewConnectionError, SSLError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from ..errors import PixelError
from .payload import request_body

#: TikTok's Events API 2.0 endpoint (web, CRM and offline events alike).
EVENTS_API_URL = "https://business-api.tiktok.com/open_api/v1.3/event/track/"
#: Seconds to wait for TikTok's answer before the attempt counts as failed (and is retried).
DEFAULT_TIMEOUT = 5.0
#: Bytes of TikTok's answer read at most (it is a short JSON object).
MAX_ANSWER_BYTES = 64 * 1024

# TikTok's Business API answers HTTP 200 with a JSON "code" (0 is success). 40100 is its rate
# limit ("you've hit the rate limit for this API", in TikTok Business API error tables such as
# SleekFlow's troubleshooting page; some tools report 42900 for the same); 5xxxx are TikTok-side
# errors. All are worth another try, like HTTP 429 and 5xx; 40001, 40002, 40105 (permission,
# parameters, token) are not.
_RETRYABLE_CODES = frozenset({40100, 42900})
# Codes and statuses about the request itself (permission, the token), not any one event.
_WHOLE_REQUEST_CODES = frozenset({40001, 40105})
_WHOLE_REQUEST_STATUSES = frozenset({401, 403})
_IP_ADDRESS = re.compile(
    r"\b\d{1,3}(?:\.\d{1,3}){3}\b|\b[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{0,4}){2,7}\b"
)
_EMAIL = re.compile(r"[^\s@\"']+@[^\s@\"']+")


class DeliveryError(PixelError):
    """An Events API request failed.

    :param problem: what went wrong (``"HTTP 500"``, ``"timed out"``), without personal data
        or the access token.
    :param retryable: another try may succeed (HTTP 429 and 5xx, TikTok's rate limit, network
        errors and time-outs).
    :param retry_after: seconds the server asked to wait (``Retry-After``), if it said.
    :param whole_request: the refusal is about the request, not its events (the token, a
        permission, a redirect, a certificate): sending the events in smaller batches would
        be refused the same way.
    """

    def __init__(
        self,
        problem: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        whole_request: bool = False,
    ) -> None:
        self.problem = problem
        self.retryable = retryable
        self.retry_after = retry_after
        self.whole_request = whole_request
        super().__init__(f"TikTok Events API request failed: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Task queues pickle exceptions; keyword-only arguments need saying how.
        return (
            _delivery_error,
            (self.problem, self.retryable, self.retry_after, self.whole_request),
        )


def _delivery_error(
    problem: str, retryable: bool, retry_after: float | None, whole_request: bool = False
) -> DeliveryError:
    return DeliveryError(
        problem, retryable=retryable, retry_after=retry_after, whole_request=whole_request
    )


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def scrub(text: str, secret: str) -> str:
    """A server message fit for a log: no token (in any letter case), no address, no e-mail,
    no control character, at most 200 characters."""
    if secret:
        text = re.sub(re.escape(secret), "[access token]", text, flags=re.IGNORECASE)
    text = _EMAIL.sub("[e-mail]", _IP_ADDRESS.sub("[address]", text))
    return "".join(c if c.isprintable() else " " for c in text[:200])


def _transport_problem(exc: BaseException, timeout: float) -> DeliveryError:
    """A transport failure, by kind only: an exception's text may quote the URL or the answer."""
    # urllib3 makes NewConnectionError a kind of ConnectTimeoutError, for old callers' sake.
    if isinstance(exc, Urllib3Timeout | TimeoutError) and not isinstance(exc, NewConnectionError):
        return DeliveryError(f"timed out after {timeout:g} s", retryable=True)
    if isinstance(exc, SSLError):
        # A certificate that does not verify will not verify on the next try either.
        return DeliveryError(
            "the TLS certificate check failed", retryable=False, whole_request=True
        )
    cause: BaseException = exc
    while cause.__context__ is not None and isinstance(cause, Urllib3Error):
        cause = cause.__context__
    if isinstance(cause, http.client.HTTPException):
        return DeliveryError(f"a broken answer ({type(cause).__name__})", retryable=True)
    return DeliveryError(f"could not connect ({type(cause).__name__})", retryable=True)


@dataclass(frozen=True)
class EventsApiClient:
    """Sends batches of events to the Events API, over a connection pool kept per process.

    Redirects are never followed (a 3xx is a :class:`DeliveryError`: the token must not
    travel to another address), certificates are verified, and every transport failure is a
    :class:`DeliveryError`.

    :param access_token: the Events API access token from TikTok Events Manager. Kept out of
        the ``repr``, :func:`dataclasses.asdict` and pickles (a pickled client would carry it:
        build the client where it runs, e.g. with :func:`~.hooks.client_from_config`).
    :param url: the endpoint (a local fake in tests).
    :param test_event_code: the Events Manager "Test events" code, while testing.
    :param timeout: seconds to wait for an answer.
    """

    access_token: InitVar[str]
    url: str = EVENTS_API_URL
    test_event_code: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    # Set per instance in __post_init__, but not dataclass fields: asdict() must not see them.
    _token: ClassVar[str]
    _pools: ClassVar[dict[int, urllib3.PoolManager]]
    _lock: ClassVar[threading.Lock]

    def __post_init__(self, access_token: str) -> None:
        object.__setattr__(self, "_token", access_token)
        object.__setattr__(self, "_pools", {})
        object.__setattr__(self, "_lock", threading.Lock())

    def __reduce__(self) -> NoReturn:
        raise TypeError(
            "an EventsApiClient is not pickled: it holds the access token; build it where it "
            "runs (pixel_embed.events_api.client_from_config)"
        )

    def _pool(self) -> urllib3.PoolManager:
        # One pool per process: connections must not be shared with a forked parent.
        pid = os.getpid()
        pool = self._pools.get(pid)
        if pool is None:
            with self._lock:
                self._pools.clear()
                pool = self._pools[pid] = urllib3.PoolManager(
                    num_pools=4, maxsize=4, cert_reqs="CERT_REQUIRED", retries=False
                )
        return pool

    def encode(self, pixel_code: str, data: Sequence[Mapping[str, Any]]) -> bytes:
        """The request body for ``data`` (entries of :func:`.payload.server_event`).

        :param pixel_code: the destination's key: a pixel code, or ``"crm:<event set id>"``,
            ``"offline:<event set id>"`` (:attr:`.sources.Destination.key`).
        """
        body = request_body(pixel_code, data, test_event_code=self.test_event_code)
        return orjson.dumps(body)

    def encode_encoded(self, pixel_code: str, events: Sequence[bytes]) -> bytes:
        """The request body for events already encoded as JSON (as the outbox keeps them)."""
        envelope = orjson.dumps(request_body(pixel_code, [], test_event_code=self.test_event_code))
        assert envelope.endswith(b'"data":[]}')  # request_body puts the data last
        return envelope[:-2] + b",".join(events) + b"]}"

    def post(self, pixel_code: str, data: Sequence[Mapping[str, Any]]) -> None:
        """Send events (entries of ``data``, see :func:`.payload.server_event`) for one
        destination (a pixel code, or another source's key: :meth:`encode`).

        :raises DeliveryError: TikTok refused the batch or could not be reached.
        """
        self.post_body(self.encode(pixel_code, data))

    def post_body(self, body: bytes) -> None:
        """Send a request body made by :meth:`encode`.

        :raises DeliveryError: TikTok refused the batch or could not be reached.
        """
        try:
            response = self._pool().request(
                "POST",
                self.url,
                body=body,
                headers={"Access-Token": self._token, "Content-Type": "application/json"},
                timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout),
                redirect=False,
                retries=False,
                preload_content=False,
            )
            try:
                status = response.status
                retry_after = response.headers.get("Retry-After")
                answer = response.read(MAX_ANSWER_BYTES + 1, decode_content=True)
            except BaseException:
                response.close()
                raise
            if len(answer) > MAX_ANSWER_BYTES:
                response.close()  # not worth reading on: no connection to reuse
            else:
                response.release_conn()
        except (Urllib3Error, http.client.HTTPException, OSError) as exc:
            raise _transport_problem(exc, self.timeout) from None
        if 300 <= status < 400:
            # Following it would send the token wherever the answer points.
            raise DeliveryError(
                f"HTTP {status} redirect, not followed", retryable=False, whole_request=True
            )
        if status >= 300 or status < 200:
            raise DeliveryError(
                f"HTTP {status}",
                retryable=status == 429 or status >= 500,
                retry_after=parse_retry_after(retry_after),
                whole_request=status in _WHOLE_REQUEST_STATUSES,
            )
        self._check(answer)

    def _check(self, answer: bytes) -> None:
        try:
            result = orjson.loads(answer or b"{}")
        except orjson.JSONDecodeError:
            return  # a 2xx without JSON: nothing says it failed
        code = result.get("code", 0) if isinstance(result, dict) else 0
        if not isinstance(code, int) or code == 0:
            return
        message = scrub(str(result.get("message", "")), self._token)
        raise DeliveryError(
            f"TikTok code {code}: {message}",
            retryable=code in _RETRYABLE_CODES or code >= 50000,
            whole_request=code in _WHOLE_REQUEST_CODES,
        )
