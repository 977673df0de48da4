"""One synchronous Events API request, with the standard library's ``urllib``.

No new dependency: one JSON POST per batch needs no connection pool, and the background
worker sends one request at a time.

The access token only ever goes into the ``Access-Token`` header: it is never part of an
exception, a log line or a ``repr``.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import PixelError
from .payload import request_body

#: TikTok's Events API 2.0 endpoint for web events.
EVENTS_API_URL = "https://business-api.tiktok.com/open_api/v1.3/event/track/"
#: Seconds to wait for TikTok's answer before the attempt counts as failed (and is retried).
DEFAULT_TIMEOUT = 5.0

# TikTok's Business API answers HTTP 200 with a JSON "code" (0 is success). 40100 is its rate
# limit ("you've hit the rate limit for this API", in TikTok Business API error tables such as
# SleekFlow's troubleshooting page; some tools report 42900 for the same); 5xxxx are TikTok-side
# errors. All are worth another try, like HTTP 429 and 5xx; 40001, 40002, 40105 (permission,
# parameters, token) are not.
_RETRYABLE_CODES = frozenset({40100, 42900})
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
    """

    def __init__(self, problem: str, *, retryable: bool, retry_after: float | None = None) -> None:
        self.problem = problem
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(f"TikTok Events API request failed: {problem}")


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


def _scrub(text: str, secret: str) -> str:
    """A server message fit for a log: no token, no address, at most 200 characters."""
    text = text.replace(secret, "[access token]") if secret else text
    text = _EMAIL.sub("[e-mail]", _IP_ADDRESS.sub("[address]", text))
    return text[:200]


@dataclass(frozen=True)
class EventsApiClient:
    """Sends batches of events to the Events API, one synchronous request each.

    :param access_token: the Events API access token from TikTok Events Manager.
    :param url: the endpoint (a local fake in tests).
    :param test_event_code: the Events Manager "Test events" code, while testing.
    :param timeout: seconds to wait for an answer.
    """

    access_token: str = field(repr=False)
    url: str = EVENTS_API_URL
    test_event_code: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    def post(self, pixel_code: str, data: Sequence[Mapping[str, Any]]) -> None:
        """Send events (entries of ``data``, see :func:`.payload.server_event`) for one pixel.

        :raises DeliveryError: TikTok refused the batch or could not be reached.
        """
        body = request_body(pixel_code, data, test_event_code=self.test_event_code)
        request = urllib.request.Request(
            self.url,
            data=json.dumps(body, separators=(",", ":")).encode("utf-8"),
            headers={"Access-Token": self.access_token, "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = response.read()
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
            raise DeliveryError(
                f"HTTP {status}",
                retryable=status == 429 or status >= 500,
                retry_after=parse_retry_after(exc.headers.get("Retry-After")),
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                problem = f"timed out after {self.timeout:g} s"
            else:
                problem = f"could not connect ({type(reason).__name__})"
            raise DeliveryError(problem, retryable=True) from None
        self._check(answer)

    def _check(self, answer: bytes) -> None:
        try:
            result = json.loads(answer or b"{}")
        except ValueError:
            return  # a 2xx without JSON: nothing says it failed
        code = result.get("code", 0) if isinstance(result, dict) else 0
        if not isinstance(code, int) or code == 0:
            return
        message = _scrub(str(result.get("message", "")), self.access_token)
        raise DeliveryError(
            f"TikTok code {code}: {message}",
            retryable=code in _RETRYABLE_CODES or code >= 50000,
        )
