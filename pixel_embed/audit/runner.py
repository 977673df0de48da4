"""Open a page in headless Chromium, do what a visitor would, and gather the audit's evidence.

TikTok's SDK host is answered by the QA kit's recorder, so nothing reaches TikTok; the audited
site's own host (and hosts allowed by the caller) load as usual, other outside requests are
aborted and listed, and a public page cannot reach this machine or its private network (see
:mod:`.network`).

Nothing a page does can hang the audit: every browser operation has a deadline (Playwright's
own timeouts; a read of the page's state goes through ``wait_for_function``, whose timeout the
driver keeps even when the page's main thread never yields), and so has the whole URL. What a
page hands the audit is bounded (:data:`MAX_CALLS`, and the probe's limits on depth and size),
and what was cut is reported as truncated. For a hard limit on time and memory, the command
line runs each URL in a child process of its own (:mod:`.isolation`).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from math import inf
from typing import Any, Literal
from urllib.parse import urlsplit

from playwright.sync_api import Browser, BrowserContext, Page, Response, Route, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from ..errors import PixelError
from ..resources import STATIC_DIR
from ..testing.browser import find_chromium
from ..testing.recorder import PixelRecorder, RecordedCall, install_recorder, is_tiktok_host
from .findings import (
    CspViolation,
    Evidence,
    Finding,
    PageFacts,
    ScriptError,
    StepReport,
    Truncation,
    find_problems,
)
from .network import NetworkGuard, Resolver, resolve

#: Seconds to wait for a page, a step or an element, unless the caller says otherwise.
DEFAULT_TIMEOUT = 15.0
#: After a page has loaded and after each step, the audit listens until the page is quiet: no
#: new ttq call for QUIET_SECONDS, no timer due, no request or script pending; at most
#: QUIET_BOUND seconds (a page that polls forever is audited as it stands then).
QUIET_SECONDS = 0.5
QUIET_BOUND = 10.0
#: The most calls an audit keeps (the probe stops sending at 500 per page); the rest are
#: counted and reported as truncated.
MAX_CALLS = 2000
# The marker the probe leaves where it cut a string, a nesting level or a list.
_CUT = "[truncated: "
# The page's HTML and script files are read for line numbers and for base code in a file, up to
# this size each.
_MAX_SOURCE_BYTES = 2_000_000
_PROBE_JS = (STATIC_DIR / "pixel_embed_audit.js").read_text(encoding="utf-8")
_RECORDER_JS = (STATIC_DIR / "pixel_embed_recorder.js").read_text(encoding="utf-8")
_FACTS = "() => window.__pixelEmbedAudit ? window.__pixelEmbedAudit.facts() : null"
_LISTEN = "() => window.__pixelEmbedAudit && window.__pixelEmbedAudit.listen()"
_QUIET = "ms => !window.__pixelEmbedAudit || window.__pixelEmbedAudit.quiet(ms)"
# TikTok's old SDK loader (before events.js): answered by the recorder too, so its calls count.
_OLD_SDK_PATH = "/i18n/pixel/sdk.js"
_NET_ERROR = re.compile(r"net::(ERR_[A-Z_]+)")
_NET_REASONS = {
    "ERR_CONNECTION_REFUSED": "connection refused",
    "ERR_NAME_NOT_RESOLVED": "host not found",
    "ERR_ADDRESS_UNREACHABLE": "address unreachable",
    "ERR_CONNECTION_TIMED_OUT": "connection timed out",
    "ERR_CONNECTION_RESET": "connection reset",
    "ERR_EMPTY_RESPONSE": "empty response",
    "ERR_CERT_AUTHORITY_INVALID": "untrusted TLS certificate",
    "ERR_UNSAFE_PORT": "Chromium refuses this port",
}

StepAction = Literal["click", "fill", "accept-consent"]


class AuditFailed(PixelError):
    """The page could not be audited (unreachable, HTTP error, timeout, a step that failed)."""


def out_of_time(seconds: float, why: str) -> str:
    """The reason given for a URL that ran out of time."""
    return f"could not be audited in {max(1, round(seconds))} s: {why}"


def url_deadline(timeout: float, steps: int, wait: float) -> float:
    """The default time for one URL: the page's load, each step, and listening after each."""
    return timeout * (2 + steps) + (QUIET_BOUND + wait) * (1 + steps) + 5


@dataclass(frozen=True)
class Step:
    """One thing a visitor does on the page, in order.

    :param action: ``click``, ``fill`` (type ``text`` into the field) or ``accept-consent``
        (click the consent banner's accept button: later calls count as consented).
    :param expect: event names the step is meant to track (``--expect``): a step after which
        one of them was not sent is an error.
    """

    action: StepAction
    selector: str
    text: str = ""
    expect: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.action == "fill":
            return f"--fill {self.selector}={self.text}"
        return f"--{self.action} {self.selector}"


@dataclass(frozen=True)
class AuditResult:
    """The outcome of auditing one URL: the evidence and findings, or why there are none."""

    url: str
    evidence: Evidence | None = None
    findings: tuple[Finding, ...] = ()
    failure: str | None = None

    def count(self, severity: str) -> int:
        return sum(1 for finding in self.findings if finding.severity == severity)


@contextmanager
def launch_browser(args: Sequence[str] = ()) -> Iterator[Browser]:
    """A headless Chromium for a run of audits.

    :param args: more command-line switches for Chromium.
    :raises BrowserNotFound: there is no Chromium; the message says how to get one.
    """
    chromium = find_chromium()
    options = chromium.launch_options
    options["args"] = [*chromium.args, *args]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**options)
        try:
            yield browser
        finally:
            browser.close()


def _reason(url: str, error: PlaywrightError) -> str:
    match = _NET_ERROR.search(error.message)
    if match is None:
        return f"cannot open {url}: {error.message.splitlines()[0]}"
    code = match.group(1)
    return f"cannot open {url}: {_NET_REASONS.get(code, code)} ({code})"


def _old_sdk(url: str) -> bool:
    parts = urlsplit(url)
    return parts.path == _OLD_SDK_PATH and is_tiktok_host(parts.hostname or "")


def _answer_old_sdk(route: Route) -> None:
    route.fulfill(
        status=200,
        content_type="application/javascript; charset=utf-8",
        body=_RECORDER_JS,
        headers={"Cache-Control": "no-store"},
    )


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
class _Journey:
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


def gather_evidence(
    browser: Browser,
    url: str,
    steps: Sequence[Step] = (),
    *,
    timeout: float = DEFAULT_TIMEOUT,
    allow_hosts: Iterable[str] = (),
    wait: float = 0.0,
    context: BrowserContext | None = None,
    deadline: float | None = None,
    resolver: Resolver = resolve,
) -> Evidence:
    """Open ``url`` in a fresh context of ``browser``, perform ``steps``, and return what the
    pixel did on every page the visit went through.

    After the page has loaded and after each step, the audit listens until the page is quiet
    (see :data:`QUIET_SECONDS` and :data:`QUIET_BOUND`).

    :param timeout: seconds for the page to load, for each step's element to appear, and for
        the page to answer the audit.
    :param allow_hosts: outside hosts besides the URL's own to load (a CDN, say).
    :param wait: seconds to listen at least, after load and after each step, before waiting
        for quiet: for calls made from something the audit cannot see (a long timer, a socket).
    :param context: a fresh context to use instead (one whose recorder serves TikTok's real
        SDK, say); it is closed afterwards.
    :param deadline: seconds for the whole URL (default: :func:`url_deadline`); the context is
        closed when it is up.
    :param resolver: how host names are resolved for the private-network rule (see
        :mod:`.network`).
    :raises AuditFailed: the page could not be audited; the message says why.
    """
    host = urlsplit(url).hostname
    if urlsplit(url).scheme not in ("http", "https") or not host:
        raise AuditFailed(f"{url!r} is not an http(s) URL")
    seconds = deadline if deadline is not None else url_deadline(timeout, len(steps), wait)
    context = context or browser.new_context()
    try:
        recorder = install_recorder(context, allow_hosts=[host, *allow_hosts])
        context.route(_old_sdk, _answer_old_sdk)
        guard = NetworkGuard.for_url(url, resolver)
        guard.install(context)
        context.add_init_script(_PROBE_JS)
        page = context.new_page()
        journey = _Journey(page, recorder, timeout * 1000, wait * 1000, guard=guard)
        journey.deadline = journey.started + seconds
        context.expose_function("__pixelEmbedAuditError", journey.on_error)
        page.on("response", journey.on_response)
        try:
            response = page.goto(url, wait_until="load", timeout=journey.within(timeout * 1000))
        except PlaywrightTimeout:
            raise AuditFailed(f"cannot open {url}: no answer within {timeout:g} s") from None
        except PlaywrightError as exc:
            raise AuditFailed(_reason(url, exc)) from None
        if response is not None and response.status >= 400:
            raise AuditFailed(
                f"cannot audit {url}: it answered HTTP {response.status} {response.status_text}"
            )
        journey.settle()
        journey.snapshot()
        for step in steps:
            journey.step(step)
        journey.wait_for_calls()
        return journey.evidence(url)
    finally:
        context.close()


def audit(
    browser: Browser,
    url: str,
    steps: Sequence[Step] = (),
    *,
    timeout: float = DEFAULT_TIMEOUT,
    allow_hosts: Iterable[str] = (),
    wait: float = 0.0,
    deadline: float | None = None,
    resolver: Resolver = resolve,
) -> AuditResult:
    """Audit one URL (see :func:`gather_evidence`); a page that cannot be audited gives a
    result with its ``failure`` instead of raising."""
    try:
        evidence = gather_evidence(
            browser,
            url,
            steps,
            timeout=timeout,
            allow_hosts=allow_hosts,
            wait=wait,
            deadline=deadline,
            resolver=resolver,
        )
    except AuditFailed as exc:
        return AuditResult(url, failure=str(exc))
    return AuditResult(url, evidence, tuple(find_problems(evidence)))
