"""One audit's visit in the browser, document by document: waiting for each page to be quiet,
reading what the probe saw, doing the visitor's steps, and putting the evidence together.

Nothing a page does can hang the audit: every browser operation has a deadline (Playwright's
own timeouts; a read of the page's state goes through ``wait_for_function``, whose timeout the
driver keeps even when the page's main thread never yields), and so has the whole URL. What a
page hands the audit is bounded (:data:`~.result.MAX_CALLS`, and the probe's limits on depth
and size), and what was cut is reported as truncated.

This module imports Playwright; :mod:`.runner` imports it only when an audit runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from math import inf
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, Response
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from ..browser.calls import RecordedCall
from ..browser.hosts import is_tiktok_host
from ..browser.recorder import PixelRecorder
from .findings import CspViolation, Evidence, PageFacts, ScriptError, StepReport, Truncation
from .network import NetworkGuard
from .result import MAX_CALLS, QUIET_BOUND, QUIET_SECONDS, AuditFailed, Step, out_of_time

# The marker the probe leaves where it cut a string, a nesting level or a list.
_CUT = "[truncated: "
# The page's HTML and script files are read for line numbers and for base code in a file, up to
# this size each.
_MAX_SOURCE_BYTES = 2_000_000
_FACTS = "() => window.__pixelEmbedAudit ? window.__pixelEmbedAudit.facts() : null"
_LISTEN = "() => window.__pixelEmbedAudit && window.__pixelEmbedAudit.listen()"
_QUIET = "ms => !window.__pixelEmbedAudit || window.__pixelEmbedAudit.quiet(ms)"


def _read(response: Response | None) -> str:
    """The body of a response as text, or ``""`` when the browser no longer has it."""
    if response is None:
        return ""
    try:
        body = response.body()
    except PlaywrightError:
        return ""
    return body[:_MAX_SOURCE_BYTES].decode("utf-8", "replace")


def _sent(facts: dict[str, Any]) -> int:
    """How many of a document's calls its probe sent to the audit (the rest were over its cap)."""
    cut = facts.get("truncated") or {}
    if not cut.get("calls") and not cut.get("dropped"):
        return int(facts["calls"])
    return int(cut["calls"])


def _was_cut(value: Any) -> bool:
    """Whether the probe cut something out of a call's arguments (it leaves a marker)."""
    if isinstance(value, str):
        return _CUT in value
    if isinstance(value, dict):
        return any(_was_cut(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_was_cut(item) for item in value)
    return False


def _live(value: Any, calls: int) -> tuple[bool, ...]:
    """The probe's live/queued mark of each call, when it has one for every call."""
    if not isinstance(value, list) or len(value) < calls:
        return ()
    return tuple(bool(mark) for mark in value[:calls])


def _number(value: Any) -> int:
    """A line or column number as the page gave it; anything else (the page can call the
    binding itself) is 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _script_error(error: dict[str, Any]) -> ScriptError:
    return ScriptError(
        message=str(error.get("message", "")),
        source=str(error.get("source", "")),
        line=_number(error.get("line")),
        column=_number(error.get("column")),
        script_src=_text(error.get("script_src")),
        script_text=_text(error.get("script_text")),
    )


@dataclass
class Journey:
    """What one audit run has seen so far, document by document."""

    page: Page
    recorder: PixelRecorder
    timeout_ms: float
    wait_ms: float = 0
    deadline: float = inf
    started: float = field(default_factory=time.monotonic)
    guard: NetworkGuard | None = None
    # Each step done, with the calls recorded from its start to the end of its listening.
    steps: list[tuple[Step, list[RecordedCall]]] = field(default_factory=list)
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    consent_at: tuple[str, int] | None = None
    # Uncaught errors as the probe reported them: (document, index) -> error.
    errors: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    # The responses of the page's own scripts (by URL) and documents (by URL, no fragment).
    scripts: dict[str, Response] = field(default_factory=dict)
    documents: dict[str, Response] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def on_error(self, document: str, index: int, error: dict[str, Any]) -> None:
        """The probe's report of an uncaught error, sent as it happens (at most 100 per
        document, as the probe keeps them; a page calling the binding itself gets no more)."""
        if not isinstance(error, dict) or not isinstance(index, int) or not 0 <= index < 100:
            return
        if len(self.errors) >= 1000:
            return
        self.errors[(str(document)[:64], index)] = {
            key: value[:100_000] if isinstance(value, str) else value
            for key, value in list(error.items())[:16]
        }

    def on_response(self, response: Response) -> None:
        kind = response.request.resource_type
        if kind == "script" and not is_tiktok_host(urlsplit(response.url).hostname or ""):
            self.scripts.setdefault(response.url, response)
        elif kind == "document":
            try:
                main = response.frame == self.page.main_frame
            except PlaywrightError:  # a service worker's request has no frame
                return
            if main:
                self.documents[response.url.split("#", 1)[0]] = response

    def within(self, ms: float) -> float:
        """``ms``, cut to what is left of the URL's deadline.

        :raises AuditFailed: nothing is left.
        """
        left = (self.deadline - time.monotonic()) * 1000
        if left <= 0:
            raise AuditFailed(self.out_of_time("the page was still busy at the deadline"))
        return max(1.0, min(ms, left))

    def out_of_time(self, why: str) -> str:
        return out_of_time(time.monotonic() - self.started, why)

    def evaluate(self, expression: str, arg: Any = None) -> Any:
        """``page.evaluate`` with a deadline. Playwright's ``evaluate`` has none, and a page whose
        main thread never yields never answers it; ``wait_for_function``'s timeout is kept by
        Playwright's driver, outside the page.

        :raises AuditFailed: the page did not answer in time.
        """
        # The answer comes back as a string: a handle to a primitive holds its value in the
        # driver, so reading it asks nothing more of the page (a handle to an object is read in
        # a second round trip, which a page that went busy in between never answers).
        wrapped = f"arg => JSON.stringify({{value: ({expression})(arg)}})"
        timeout = self.within(self.timeout_ms)
        try:
            handle = self.page.wait_for_function(wrapped, arg=arg, timeout=timeout)
        except PlaywrightTimeout:
            raise AuditFailed(
                self.out_of_time(
                    f"the page did not answer for {timeout / 1000:.0f} s (its main thread "
                    "stayed busy: a script that never yields? or it kept navigating away)"
                )
            ) from None
        try:
            answer = handle.json_value()
        finally:
            handle.dispose()
        try:
            return json.loads(answer).get("value") if isinstance(answer, str) else None
        except (ValueError, AttributeError):  # the page replaced JSON.stringify
            return None

    def settle(self) -> None:
        """Let the current document finish loading, then listen until it is quiet."""
        try:
            self.page.wait_for_load_state("load", timeout=self.within(self.timeout_ms))
            if self.wait_ms:
                self.page.wait_for_timeout(self.within(self.wait_ms))
            self.evaluate(_LISTEN)
            self.page.wait_for_function(
                _QUIET,
                arg=QUIET_SECONDS * 1000,
                polling=100,
                timeout=self.within(QUIET_BOUND * 1000),
            )
        except PlaywrightTimeout:
            pass  # A page that never settles is audited as it stands.
        except PlaywrightError:
            return  # Navigating again: the next snapshot sees the new document.

    def snapshot(self) -> dict[str, Any] | None:
        for _ in range(3):
            try:
                facts: dict[str, Any] | None = self.evaluate(_FACTS)
            except PlaywrightError:
                self.settle()
                continue
            if facts is not None:
                self._read_sources(facts)
                self.facts[facts["document"]] = facts
            return facts
        return None

    def _read_sources(self, facts: dict[str, Any]) -> None:
        """Read the document's HTML and its script files while the browser still has them."""
        for url in facts.get("external_scripts", ()):
            if url not in self.sources:
                self.sources[url] = _read(self.scripts.get(url))
        facts["html"] = _read(self.documents.get(str(facts["url"]).split("#", 1)[0])) or None

    def step(self, step: Step) -> None:
        facts = self.snapshot()
        self.wait_for_calls()
        before = len(self.recorder.history)
        if step.action == "accept-consent" and facts is not None:
            self.consent_at = (facts["document"], int(facts["calls"]))
        try:
            if step.action == "fill":
                self.page.fill(step.selector, step.text, timeout=self.within(self.timeout_ms))
            else:
                self.page.click(step.selector, timeout=self.within(self.timeout_ms))
        except PlaywrightTimeout:
            raise AuditFailed(
                f"{step.describe()}: no such element on {self.page.url} within "
                f"{self.timeout_ms / 1000:g} s"
            ) from None
        except PlaywrightError as exc:
            raise AuditFailed(f"{step.describe()}: {exc.message.splitlines()[0]}") from None
        self.settle()
        self.snapshot()
        self.wait_for_calls()
        self.steps.append((step, self.recorder.history[before:]))

    def wait_for_calls(self) -> None:
        """Wait until every call the documents counted has reached the recorder's history."""
        for _ in range(20):
            counted = {
                f["recorder_document"]: min(f["calls"], _sent(f))
                for f in self.facts.values()
                if f["calls"]
            }
            received = dict.fromkeys(counted, 0)
            for call in self.recorder.history:
                if call.document in received:
                    received[call.document] += 1
            if all(received[doc] >= n for doc, n in counted.items()):
                return
            self.page.wait_for_timeout(50)

    def _errors_of(self, document: str | None, seen: list[dict[str, Any]]) -> list[ScriptError]:
        """A document's errors: those it still held at its last snapshot, and those it
        reported on the way (a page that navigated away right after its error)."""
        reported = {index: e for (doc, index), e in self.errors.items() if doc == document}
        reported.update(enumerate(seen))
        return [_script_error(e) for _, e in sorted(reported.items())]

    def truncation(self, kept: Sequence[RecordedCall]) -> Truncation:
        dropped = sum(
            int((f.get("truncated") or {}).get("dropped", 0)) for f in self.facts.values()
        )
        return Truncation(
            dropped_calls=dropped + max(0, len(self.recorder.history) - MAX_CALLS),
            cut_calls=sum(1 for call in kept if _was_cut(call.args)),
            cut_scripts=sum(
                int((f.get("truncated") or {}).get("scripts", 0)) for f in self.facts.values()
            ),
        )

    def evidence(self, url: str) -> Evidence:
        by_document: dict[str | None, list[RecordedCall]] = {}
        kept = self.recorder.history[:MAX_CALLS]
        for call in kept:
            by_document.setdefault(call.document, []).append(call)
        order = {document: index for index, document in enumerate(by_document)}
        # (where its first call is in the history, page facts, its calls) per document looked at.
        seen: list[tuple[float, dict[str, Any], list[RecordedCall]]] = [
            (
                order.get(facts["recorder_document"], inf),
                facts,
                by_document.pop(facts["recorder_document"], []),
            )
            for facts in self.facts.values()
        ]
        # A document the audit never looked at (it navigated on by itself) goes before the first
        # looked-at page whose calls came after its own.
        for document, calls in by_document.items():
            at = next(
                (i for i, (first, _, _) in enumerate(seen) if order[document] < first < inf), None
            )
            entry = (float(order[document]), {"url": calls[0].url}, calls)
            seen.insert(len(seen) if at is None else at, entry)
        pages: list[PageFacts] = []
        number = 1
        consented = False
        for _, facts, calls in seen:
            consented_from = 0 if consented else None
            if self.consent_at is not None and facts.get("document") == self.consent_at[0]:
                consented, consented_from = True, self.consent_at[1]
            pages.append(
                PageFacts(
                    url=facts["url"],
                    calls=tuple(calls),
                    first_call=number,
                    inline_scripts=tuple(facts.get("inline_scripts", ())),
                    sdk_scripts=tuple(facts.get("sdk_scripts", ())),
                    csp=tuple(
                        CspViolation(v["blocked"], v["directive"], v["disposition"])
                        for v in facts.get("csp", ())
                    ),
                    has_ttq=bool(facts.get("has_ttq", True)),
                    consent_api=bool(facts.get("consent_api", False)),
                    consented_from=consented_from,
                    external_scripts=tuple(
                        (src, self.sources.get(src, ""))
                        for src in facts.get("external_scripts", [])
                    ),
                    errors=tuple(self._errors_of(facts.get("document"), facts.get("errors", []))),
                    html=facts.get("html"),
                    referrer=str(facts.get("referrer") or ""),
                    live=_live(facts.get("live"), len(calls)),
                )
            )
            number += len(calls)
        looked_at = {facts["document"] for facts in self.facts.values()}
        numbers = {id(call): n for page in pages for n, call in page.numbered()}
        steps = tuple(
            StepReport(
                step.describe(),
                step.action,
                step.expect,
                tuple(numbers[id(call)] for call in calls if id(call) in numbers),
            )
            for step, calls in self.steps
        )
        return Evidence(
            url=url,
            pages=tuple(pages),
            errors=tuple(
                (str(e.get("url") or url), _script_error(e))
                for (doc, _), e in self.errors.items()
                if doc not in looked_at
            ),
            blocked=tuple(self.recorder.blocked),
            consent_click=self.consent_at is not None,
            truncated=self.truncation(kept),
            private=tuple(self.guard.refused) if self.guard is not None else (),
            steps=steps,
            tiktok_requests=tuple(self.recorder.sdk_requests[:MAX_CALLS]),
        )
