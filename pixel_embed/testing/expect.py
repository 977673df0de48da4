"""One-line assertions on the calls a page made on ``ttq``, waiting briefly for late ones."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from playwright.sync_api import Page

from ..matching import Identity
from .recorder import RecordedCall, pixel_calls

#: How long assertions wait for a matching call, in seconds (Playwright's own default is 5).
DEFAULT_TIMEOUT = 5.0
#: How long the page's calls must stay unchanged before a count or an absence is judged, in
#: seconds: calls made after an in-page action (an htmx or fetch() response) come late.
QUIET = 0.5


def _short(value: Any, width: int = 70) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=True)
    return text if len(text) <= width else text[: width - 1] + "…"


def format_calls(calls: Sequence[RecordedCall], *, start: int = 1) -> str:
    """The calls as a readable table (the body of every assertion message).

    :param start: the number of the first call (the table of a later page of a journey).
    """
    if not calls:
        return "  (no ttq calls were recorded on this page)"
    rows = [("#", "pixel", "method", "event / arguments", "event_id")]
    for number, call in enumerate(calls, start):
        if call.method == "track":
            detail = f"{call.event} {_short(call.params)}"
        else:
            detail = _short(list(call.args)) if call.args else ""
        rows.append((str(number), call.pixel or "-", call.method, detail, call.event_id or ""))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        (
            "  "
            + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4]))
            + "  "
            + row[4]
        ).rstrip()
        for row in rows
    )


def _matches(actual: dict[str, Any], expected: dict[str, Any]) -> bool:
    return all(key in actual and actual[key] == value for key, value in expected.items())


#: The methods of TikTok's ttq stub, and ``load``.
TTQ_METHODS = frozenset(
    {
        "load",
        "page",
        "track",
        "identify",
        "instances",
        "debug",
        "on",
        "off",
        "once",
        "ready",
        "alias",
        "group",
        "enableCookie",
        "disableCookie",
        "holdConsent",
        "revokeConsent",
        "grantConsent",
    }
)


def _as_step(step: tuple[Any, ...] | str) -> tuple[Any, ...]:
    if isinstance(step, str):
        return (step,) if step in TTQ_METHODS else ("track", step)
    return tuple(step)


def _step(step: tuple[Any, ...]) -> str:
    method, *args = step
    return f"ttq.{method}({', '.join(map(repr, args))})"


def _describe(method: str, expected: dict[str, Any], first: str | None = None) -> str:
    args = [repr(first)] if first is not None else []
    args += [f"{key}={value!r}" for key, value in expected.items()]
    return f"ttq.{method}({', '.join(args)})"


class PixelExpectation:
    """Assertions on one page's pixel calls; made by :func:`expect_pixel`."""

    def __init__(self, page: Page, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._page = page
        self._timeout = timeout

    def _wait(self, what: str, found: Callable[[list[RecordedCall]], bool]) -> list[RecordedCall]:
        deadline = time.monotonic() + self._timeout
        while True:
            calls = pixel_calls(self._page)
            if found(calls):
                return calls
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"expected {what} within {self._timeout:g} s on {self._page.url}; "
                    f"the page made these calls:\n{format_calls(calls)}"
                )
            self._page.wait_for_timeout(50)

    def _settled(self) -> list[RecordedCall]:
        # A negative assertion is only worth something once the page (and the SDK request it
        # started before its load event) has loaded, and no call came for QUIET seconds (a
        # click's htmx or fetch() response makes its calls after the load event).
        self._page.wait_for_load_state("load", timeout=self._timeout * 1000)
        deadline = time.monotonic() + self._timeout
        calls, since = pixel_calls(self._page), time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - since < QUIET:
            self._page.wait_for_timeout(50)
            latest = pixel_calls(self._page)
            if len(latest) != len(calls):
                calls, since = latest, time.monotonic()
        return calls

    def to_have_loaded(self, code: str) -> None:
        """The SDK was loaded for pixel ``code``."""
        self._wait(
            f"ttq.load({code!r})",
            lambda calls: any(c.method == "load" and c.pixel == code for c in calls),
        )

    def to_have_called(self, method: str, *args: Any) -> None:
        """``ttq.<method>`` was called (with exactly ``args``, when given)."""
        self._wait(
            f"ttq.{method}({', '.join(map(repr, args))})",
            lambda calls: any(
                c.method == method and (not args or list(c.args) == list(args)) for c in calls
            ),
        )

    def to_have_tracked(
        self, event: str, *, times: int | None = None, pixel: str | None = None, **params: Any
    ) -> None:
        """``ttq.track(event, …)`` was called with at least the given parameters.

        :param times: exactly this many matching calls (``times=1``: fired once).
        :param pixel: only calls through ``ttq.instance(pixel)``.
        :param params: parameters that must match; ``event_id`` matches the track options.
        """
        event_id = params.pop("event_id", None)

        def matching(calls: list[RecordedCall]) -> list[RecordedCall]:
            return [
                c
                for c in calls
                if c.event == event
                and (pixel is None or c.pixel == pixel)
                and (event_id is None or c.event_id == event_id)
                and _matches(c.params, params)
            ]

        described = _describe("track", params, event)
        if event_id is not None:
            described += f" with event_id {event_id!r}"
        if times is None:
            self._wait(described, lambda calls: bool(matching(calls)))
            return
        calls = self._wait(f"{described} {times} time(s)", lambda c: len(matching(c)) >= times)
        calls = self._settled()
        if len(matching(calls)) != times:
            raise AssertionError(
                f"expected {described} {times} time(s), got {len(matching(calls))} on "
                f"{self._page.url}; the page made these calls:\n{format_calls(calls)}"
            )

    def not_to_have_tracked(self, event: str, **params: Any) -> None:
        """No ``ttq.track(event, …)`` call with the given parameters, once the page has loaded."""
        calls = self._settled()
        hits = [c for c in calls if c.event == event and _matches(c.params, params)]
        if hits:
            raise AssertionError(
                f"expected no {_describe('track', params, event)} on {self._page.url}, "
                f"got {len(hits)}; the page made these calls:\n{format_calls(calls)}"
            )

    def to_have_made(self, *steps: tuple[Any, ...] | str) -> None:
        """The page's calls, ``load`` included, are exactly ``steps``, in order.

        A step is a ``ttq`` method name (``"load"``, ``"page"``, ``"identify"``,
        ``"holdConsent"`` …), any other name is the event of a ``track`` (``"AddToCart"``), and
        a tuple gives the method and the first arguments to compare (``("track", "Search",
        {"query": "mug"})``); arguments left out are not compared::

            expect_pixel(page).to_have_made("load", "page", "identify", "CompletePayment")
        """
        wanted = [_as_step(step) for step in steps]

        def same(calls: list[RecordedCall]) -> bool:
            made = [(c.method, *c.args) for c in calls]
            return len(made) == len(wanted) and all(
                call[: len(step)] == step for call, step in zip(made, wanted, strict=True)
            )

        shown = ", ".join(_step(step) for step in wanted) or "no calls"
        self._wait(f"exactly these calls: {shown}", same)

    def not_to_have_identified(self) -> None:
        """No ``ttq.identify`` call, once the page has loaded."""
        calls = self._settled()
        if any(c.method == "identify" for c in calls):
            raise AssertionError(
                f"expected no ttq.identify on {self._page.url}; "
                f"the page made these calls:\n{format_calls(calls)}"
            )

    def to_have_identified(self, *, region: str | None = None, **fields: Any) -> None:
        """``ttq.identify`` received the hashes of these raw values (normalised as the server
        does: ``email="Jane@Example.com"`` matches the hash of ``jane@example.com``).

        :param region: for a phone number given without its country code.
        """
        expected = Identity.from_raw(region=region, **fields).as_params()
        self._wait(
            _describe("identify", fields) + " (as hashes)",
            lambda calls: any(
                c.method == "identify" and _matches(c.params, expected) for c in calls
            ),
        )


def expect_pixel(page: Page, *, timeout: float = DEFAULT_TIMEOUT) -> PixelExpectation:
    """Assertions on ``page``'s pixel calls, in the style of Playwright's ``expect``::

    expect_pixel(page).to_have_tracked("CompletePayment", value=42.5, currency="USD")
    """
    return PixelExpectation(page, timeout)
