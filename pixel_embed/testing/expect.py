"""One-line assertions on the calls a page made on ``ttq`` and on what TikTok received, waiting
briefly for late ones.

Parameters match by value and as subsets: numbers compare by value (``Decimal("34.76")``
matches ``34.76``), a dict matches when the keys given match (also inside lists, such as the
items of ``contents``), and a list matches item by item, with as many items as given.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..browser.calls import RecordedCall, format_calls
from ..browser.pii import auto_collected
from ..browser.recorder import pixel_calls, recorder_for, wire_events
from ..browser.violations import blocked_beacons_note
from ..browser.wire import WireEvent, format_wire, wire_name
from .compare import (
    as_step,
    closest,
    describe_call,
    diff,
    expected_identity,
    identity_diff,
    same_page,
    same_value,
    step_text,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

#: How long assertions wait for a matching call, in seconds (Playwright's own default is 5).
DEFAULT_TIMEOUT = 5.0
#: How long the page's calls (or the wire) must stay unchanged before a count or an absence is
#: judged, in seconds: calls made after an in-page action (an htmx or fetch() response) come late.
QUIET = 0.5
T = TypeVar("T")


class PixelExpectation:
    """Assertions on one page's pixel calls and on what TikTok received; made by
    :func:`expect_pixel`."""

    def __init__(self, page: Page, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._page = page
        self._timeout = timeout

    def _poll(
        self,
        what: str,
        read: Callable[[], list[T]],
        found: Callable[[list[T]], bool],
        explain: Callable[[list[T]], str],
    ) -> list[T]:
        deadline = time.monotonic() + self._timeout
        while True:
            items = read()
            if found(items):
                return items
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"expected {what} within {self._timeout:g} s on {self._page.url}; "
                    + explain(items)
                )
            self._page.wait_for_timeout(50)

    def _wait(self, what: str, found: Callable[[list[RecordedCall]], bool]) -> list[RecordedCall]:
        return self._poll(
            what,
            lambda: pixel_calls(self._page),
            found,
            lambda calls: f"the page made these calls:\n{format_calls(calls)}",
        )

    def _until_quiet(self, read: Callable[[], list[T]]) -> list[T]:
        # Judge a count or an absence once the page (and the SDK request it started before its
        # load event) has loaded and nothing new came for QUIET seconds: a click's htmx or
        # fetch() response makes its calls after the load event. The document's own state,
        # not Playwright's load state: a page the back-forward cache restores fires no load
        # event, and Playwright would wait for one until the timeout.
        self._page.wait_for_function(
            "() => document.readyState === 'complete'", timeout=self._timeout * 1000
        )
        deadline = time.monotonic() + self._timeout
        seen, since = read(), time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - since < QUIET:
            self._page.wait_for_timeout(50)
            latest = read()
            if len(latest) != len(seen):
                seen, since = latest, time.monotonic()
        return read()

    def _settled(self) -> list[RecordedCall]:
        return self._until_quiet(lambda: pixel_calls(self._page))

    def _quiet_wire(self) -> list[WireEvent]:
        return self._until_quiet(lambda: wire_events(self._page))

    # -- ttq calls on the page -------------------------------------------------------------

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
                c.method == method and (not args or same_value(list(c.args), list(args)))
                for c in calls
            ),
        )

    def to_have_tracked(
        self, event: str, *, times: int | None = None, pixel: str | None = None, **params: Any
    ) -> None:
        """``ttq.track(event, …)`` was called with at least the given parameters (matched by
        value and as subsets, see the module's docstring).

        :param times: exactly this many matching calls (``times=1``: fired once).
        :param pixel: only calls through ``ttq.instance(pixel)``.
        :param params: parameters that must match; ``event_id`` matches the track options.
        """
        event_id = params.pop("event_id", None)

        def named(calls: list[RecordedCall]) -> list[RecordedCall]:
            return [c for c in calls if c.event == event and (pixel is None or c.pixel == pixel)]

        def matching(calls: list[RecordedCall]) -> list[RecordedCall]:
            return [
                c
                for c in named(calls)
                if (event_id is None or c.event_id == event_id) and same_value(c.params, params)
            ]

        def explain(calls: list[RecordedCall]) -> str:
            text = f"the page made these calls:\n{format_calls(calls)}"
            nearest = closest([c.params for c in named(calls)], params)
            if nearest is not None and params:
                text += f"\nthe closest ttq.track({event!r}) differs:\n{diff(params, nearest)}"
            return text

        described = "ttq." + describe_call("track", params, event)
        if event_id is not None:
            described += f" with event_id {event_id!r}"
        if times is None:
            self._poll(
                described, lambda: pixel_calls(self._page), lambda c: bool(matching(c)), explain
            )
            return
        self._poll(
            f"{described} {times} time(s)",
            lambda: pixel_calls(self._page),
            lambda c: len(matching(c)) >= times,
            explain,
        )
        calls = self._settled()
        if len(matching(calls)) != times:
            raise AssertionError(
                f"expected {described} {times} time(s), got {len(matching(calls))} on "
                f"{self._page.url}; the page made these calls:\n{format_calls(calls)}"
            )

    def not_to_have_tracked(self, event: str, **params: Any) -> None:
        """No ``ttq.track(event, …)`` call with the given parameters, once the page has loaded."""
        calls = self._settled()
        hits = [c for c in calls if c.event == event and same_value(c.params, params)]
        if hits:
            raise AssertionError(
                f"expected no ttq.{describe_call('track', params, event)} on {self._page.url}, "
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
        wanted = [as_step(step) for step in steps]

        def same(calls: list[RecordedCall]) -> bool:
            made = [(c.method, *c.args) for c in calls]
            return len(made) == len(wanted) and all(
                same_value(list(call[: len(step)]), list(step))
                for call, step in zip(made, wanted, strict=True)
            )

        shown = ", ".join(step_text(step) for step in wanted) or "no calls"
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
        expected = expected_identity(fields, region)
        values = {name: value for name, (_, value) in expected.items()}

        def explain(calls: list[RecordedCall]) -> str:
            text = f"the page made these calls:\n{format_calls(calls)}"
            identifies = [c.params for c in calls if c.method == "identify"]
            if identifies:
                text += "\nthe last ttq.identify differs:\n" + identity_diff(
                    fields, expected, identifies[-1]
                )
            return text

        self._poll(
            "ttq." + describe_call("identify", fields) + " (as hashes)",
            lambda: pixel_calls(self._page),
            lambda calls: any(
                c.method == "identify" and same_value(c.params, values) for c in calls
            ),
            explain,
        )

    # -- what TikTok received (real-SDK mode) ------------------------------------------------

    def _sent(
        self, event: str | None, pixel: str | None
    ) -> Callable[[list[WireEvent]], list[WireEvent]]:
        names = None if event is None else {event, wire_name(event)}

        def named(beacons: list[WireEvent]) -> list[WireEvent]:
            return [
                b
                for b in beacons
                if b.is_event
                and (names is None or b.event in names)
                and (pixel is None or b.pixel == pixel)
            ]

        return named

    def _wire_table(self, beacons: list[WireEvent]) -> str:
        recorder = recorder_for(self._page)
        mode = recorder.sdk
        if mode != "real":
            return (
                f"TikTok's SDK does not run here (SDK mode {mode!r}): "
                'use @pytest.mark.pixel_sdk("real") or install_recorder(context, sdk="real")'
            ) + blocked_beacons_note(recorder)
        return f"TikTok received:\n{format_wire(beacons)}" + blocked_beacons_note(recorder)

    def to_have_sent(
        self,
        event: str,
        *,
        times: int | None = None,
        pixel: str | None = None,
        page_url: str | None = None,
        **properties: Any,
    ) -> None:
        """TikTok's SDK sent ``event`` with at least the given properties (real-SDK mode).

        ``event`` is the name the page uses or the name on the wire: ``"CompletePayment"``
        finds the ``"Purchase"`` beacon (see :data:`~pixel_embed.testing.wire.WIRE_NAMES`).
        Every beacon of the page's browser context counts, across page loads.

        :param times: exactly this many matching beacons, once the wire is quiet.
        :param pixel: only beacons sent for this pixel code.
        :param page_url: only beacons TikTok's SDK reported for this page
            (:attr:`WireEvent.page_url`): a whole URL, or from its path on
            (``"/search?q=mug"``), which matches on any host.
        :param properties: properties that must match (by value, as subsets); ``event_id``
            matches the beacon's ``event_id``.
        """
        event_id = properties.pop("event_id", None)
        named = self._sent(event, pixel)

        def matching(beacons: list[WireEvent]) -> list[WireEvent]:
            return [
                b
                for b in named(beacons)
                if (event_id is None or b.event_id == event_id)
                and (page_url is None or same_page(b.page_url, page_url))
                and same_value(b.properties, properties)
            ]

        def explain(beacons: list[WireEvent]) -> str:
            text = self._wire_table(beacons)
            nearest = closest([b.properties for b in named(beacons)], properties)
            if nearest is not None and properties:
                text += f"\nthe closest {wire_name(event)!r} beacon differs:\n"
                text += diff(properties, nearest)
            return text

        described = describe_call("sent", properties, event)
        if wire_name(event) != event:
            described += f" (on the wire: {wire_name(event)!r})"
        if event_id is not None:
            described += f" with event_id {event_id!r}"
        if pixel is not None:
            described += f" for pixel {pixel}"
        if page_url is not None:
            described += f" on page {page_url}"
        self._poll(
            described if times is None else f"{described} {times} time(s)",
            lambda: wire_events(self._page),
            lambda beacons: len(matching(beacons)) >= (times or 1),
            explain,
        )
        if times is not None:
            beacons = self._quiet_wire()
            if len(matching(beacons)) != times:
                raise AssertionError(
                    f"expected {described} {times} time(s), got {len(matching(beacons))}; "
                    + explain(beacons)
                )

    def not_to_have_sent(self, event: str | None = None, **properties: Any) -> None:
        """TikTok's SDK sent no ``event`` beacon with the given properties (with no ``event``:
        no event beacon at all), once the page has loaded and the wire has been quiet for
        :data:`QUIET` seconds."""
        beacons = self._quiet_wire()
        hits = [b for b in self._sent(event, None)(beacons) if same_value(b.properties, properties)]
        if hits:
            what = (
                "no event beacon"
                if event is None
                else "no " + describe_call("sent", properties, event)
            )
            raise AssertionError(f"expected {what}, got {len(hits)}; " + self._wire_table(beacons))

    def to_have_sent_user(
        self, *, region: str | None = None, pixel: str | None = None, **fields: Any
    ) -> None:
        """An event beacon carried the hashes of these raw values in ``context.user``
        (normalised as the server does), and TikTok graded none of them plain or invalid.

        :param region: for a phone number given without its country code.
        :param pixel: only beacons sent for this pixel code.
        """
        expected = expected_identity(fields, region)
        values = {name: value for name, (_, value) in expected.items()}
        named = self._sent(None, pixel)

        def good(beacon: WireEvent) -> bool:
            grades = beacon.identity
            return same_value(beacon.user, values) and all(
                grades.get(name, "hashed") == "hashed" for name in values
            )

        def explain(beacons: list[WireEvent]) -> str:
            text = self._wire_table(beacons)
            sent = named(beacons)
            if sent:
                last = sent[-1]
                text += f"\nthe last event beacon ({last.event}) differs:\n"
                text += identity_diff(fields, expected, last.user) or ""
                bad = {n: g for n, g in last.identity.items() if n in values and g != "hashed"}
                if bad:
                    text += "\n  TikTok graded " + ", ".join(f"{n} {g}" for n, g in bad.items())
            return text

        self._poll(
            describe_call("sent user", fields) + " (as hashes)",
            lambda: wire_events(self._page),
            lambda beacons: any(good(b) for b in named(beacons)),
            explain,
        )

    def not_to_have_auto_collected(self) -> None:
        """TikTok's SDK collected no identity from the page's forms by itself (automatic
        advanced matching), once the wire has been quiet for :data:`QUIET` seconds."""
        beacons = self._quiet_wire()
        problems = auto_collected(beacons)
        if problems:
            raise AssertionError(
                "expected no identity collected by TikTok's SDK itself, got:\n  "
                + "\n  ".join(problems)
                + "\nturn automatic advanced matching off in TikTok Events Manager; "
                + self._wire_table(beacons)
            )


def expect_pixel(page: Page, *, timeout: float = DEFAULT_TIMEOUT) -> PixelExpectation:
    """Assertions on ``page``'s pixel calls, in the style of Playwright's ``expect``:

    ::

        expect_pixel(page).to_have_tracked("CompletePayment", value=42.5, currency="USD")
    """
    return PixelExpectation(page, timeout)
