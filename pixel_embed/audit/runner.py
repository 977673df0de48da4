"""Open a page in headless Chromium, do what a visitor would, and gather the audit's evidence.

TikTok's SDK host is answered by the QA kit's recorder, so nothing reaches TikTok; the audited
site's own host (and hosts allowed by the caller) load as usual, other outside requests are
aborted and listed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from math import inf
from typing import Any, Literal
from urllib.parse import urlsplit

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from ..errors import PixelError
from ..resources import STATIC_DIR
from ..testing.browser import find_chromium
from ..testing.recorder import PixelRecorder, RecordedCall, install_recorder
from .findings import CspViolation, Evidence, Finding, PageFacts, find_problems

#: Seconds to wait for a page, a step or an element, unless the caller says otherwise.
DEFAULT_TIMEOUT = 15.0
# After a page has loaded, how long its SDK scripts get to run, and late calls to arrive.
_SDK_WAIT_MS = 3000
_LATE_CALLS_MS = 150
_PROBE_JS = (STATIC_DIR / "pixel_embed_audit.js").read_text(encoding="utf-8")
_FACTS = "() => window.__pixelEmbedAudit ? window.__pixelEmbedAudit.facts() : null"
_SETTLED = "() => !window.__pixelEmbedAudit || window.__pixelEmbedAudit.settled()"
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


@dataclass(frozen=True)
class Step:
    """One thing a visitor does on the page, in order.

    :param action: ``click``, ``fill`` (type ``text`` into the field) or ``accept-consent``
        (click the consent banner's accept button: later calls count as consented).
    """

    action: StepAction
    selector: str
    text: str = ""

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
def launch_browser() -> Iterator[Browser]:
    """A headless Chromium for a run of audits.

    :raises BrowserNotFound: there is no Chromium; the message says how to get one.
    """
    chromium = find_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**chromium.launch_options())  # type: ignore[arg-type]
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


@dataclass
class _Journey:
    """What one audit run has seen so far, document by document."""

    page: Page
    recorder: PixelRecorder
    timeout_ms: float
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    consent_at: tuple[str, int] | None = None

    def settle(self) -> None:
        """Let the current document finish loading and its SDK scripts run."""
        try:
            self.page.wait_for_load_state("load", timeout=self.timeout_ms)
            self.page.wait_for_function(_SETTLED, timeout=_SDK_WAIT_MS)
        except PlaywrightTimeout:
            pass  # A page that never settles is audited as it stands.
        except PlaywrightError:
            return  # Navigating again: the next snapshot sees the new document.
        self.page.wait_for_timeout(_LATE_CALLS_MS)

    def snapshot(self) -> dict[str, Any] | None:
        for _ in range(3):
            try:
                facts: dict[str, Any] | None = self.page.evaluate(_FACTS)
            except PlaywrightError:
                self.settle()
                continue
            if facts is not None:
                self.facts[facts["document"]] = facts
            return facts
        return None

    def step(self, step: Step) -> None:
        if step.action == "accept-consent":
            facts = self.snapshot()
            if facts is not None:
                self.consent_at = (facts["document"], int(facts["calls"]))
        try:
            if step.action == "fill":
                self.page.fill(step.selector, step.text, timeout=self.timeout_ms)
            else:
                self.page.click(step.selector, timeout=self.timeout_ms)
        except PlaywrightTimeout:
            raise AuditFailed(
                f"{step.describe()}: no such element on {self.page.url} within "
                f"{self.timeout_ms / 1000:g} s"
            ) from None
        except PlaywrightError as exc:
            raise AuditFailed(f"{step.describe()}: {exc.message.splitlines()[0]}") from None
        self.settle()
        self.snapshot()

    def wait_for_calls(self) -> None:
        """Wait until every call the documents counted has reached the recorder's history."""
        for _ in range(20):
            counted = {
                f["recorder_document"]: f["calls"] for f in self.facts.values() if f["calls"]
            }
            received = dict.fromkeys(counted, 0)
            for call in self.recorder.history:
                if call.document in received:
                    received[call.document] += 1
            if all(received[doc] >= n for doc, n in counted.items()):
                return
            self.page.wait_for_timeout(50)

    def evidence(self, url: str) -> Evidence:
        by_document: dict[str | None, list[RecordedCall]] = {}
        for call in self.recorder.history:
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
                )
            )
            number += len(calls)
        return Evidence(
            url=url,
            pages=tuple(pages),
            errors=tuple(self.recorder.errors),
            blocked=tuple(self.recorder.blocked),
            consent_click=self.consent_at is not None,
        )


def gather_evidence(
    browser: Browser,
    url: str,
    steps: Sequence[Step] = (),
    *,
    timeout: float = DEFAULT_TIMEOUT,
    allow_hosts: Iterable[str] = (),
    context: BrowserContext | None = None,
) -> Evidence:
    """Open ``url`` in a fresh context of ``browser``, perform ``steps``, and return what the
    pixel did on every page the visit went through.

    :param timeout: seconds for the page to load and for each step's element to appear.
    :param allow_hosts: outside hosts besides the URL's own to load (a CDN, say).
    :param context: a fresh context to use instead (one whose recorder serves TikTok's real
        SDK, say); it is closed afterwards.
    :raises AuditFailed: the page could not be audited; the message says why.
    """
    host = urlsplit(url).hostname
    if urlsplit(url).scheme not in ("http", "https") or not host:
        raise AuditFailed(f"{url!r} is not an http(s) URL")
    context = context or browser.new_context()
    try:
        recorder = install_recorder(context, allow_hosts=[host, *allow_hosts])
        context.add_init_script(_PROBE_JS)
        page = context.new_page()
        journey = _Journey(page, recorder, timeout * 1000)
        try:
            response = page.goto(url, wait_until="load", timeout=timeout * 1000)
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
) -> AuditResult:
    """Audit one URL (see :func:`gather_evidence`); a page that cannot be audited gives a
    result with its ``failure`` instead of raising."""
    try:
        evidence = gather_evidence(browser, url, steps, timeout=timeout, allow_hosts=allow_hosts)
    except AuditFailed as exc:
        return AuditResult(url, failure=str(exc))
    return AuditResult(url, evidence, tuple(find_problems(evidence)))
