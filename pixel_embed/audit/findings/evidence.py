"""What an audit saw on a site (:class:`Evidence`, one :class:`PageFacts` per page load) and
what it found (:class:`Finding`).

Nothing here drives a browser: the runner gathers the evidence, and tests can build it by hand.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from ...browser.calls import RecordedCall

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
ConsentMode = Literal["none", "hold", "strict"]

# The first line of TikTok's official stub ("w.TiktokAnalyticsObject=t;var ttq=…").
_STUB = re.compile(r"\bTiktokAnalyticsObject\s*=")

#: TikTok's base code: the stub, or a script that inserts the SDK loader (old or new) itself.
BASE_CODE = re.compile(
    r"\bTiktokAnalyticsObject\s*=|analytics\.tiktok\.com/i18n/pixel/(?:events|sdk)\.js"
)


@dataclass(frozen=True)
class Finding:
    """One problem (or remark) about the audited pages.

    :param code: a stable identifier, such as ``"value-without-currency"``.
    :param severity: ``"error"``, ``"warning"`` or ``"info"``.
    :param message: one line saying what is wrong and where.
    :param call: the number of the call it is about, as numbered in the audit's call table.
    :param url: the page it was seen on.
    """

    code: str
    severity: Severity
    message: str
    call: int | None = None
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "call": self.call,
            "url": self.url,
        }


@dataclass(frozen=True)
class CspViolation:
    """One ``securitypolicyviolation`` event of a page."""

    blocked: str
    directive: str
    disposition: str = "enforce"


@dataclass(frozen=True)
class ScriptError:
    """One uncaught JavaScript error of a page.

    :param message: the error, as the browser reports it (``SyntaxError: …``).
    :param source: the URL the browser names for it: the script's, or the page's for an
        inline script.
    :param line: its line in ``source`` (for an inline script, in the page's HTML).
    :param script_src: the URL of the script that was running, when the browser knows it.
    :param script_text: the text of the inline script that was running, when known.
    """

    message: str
    source: str = ""
    line: int = 0
    column: int = 0
    script_src: str | None = None
    script_text: str | None = None


@dataclass(frozen=True)
class PageFacts:
    """One page load (one document) of an audit.

    :param calls: the ``ttq`` calls the document made, in order.
    :param first_call: the number of its first call in the audit's call table.
    :param inline_scripts: the text of its inline (JavaScript) scripts.
    :param sdk_scripts: the URL of every SDK ``<script>`` it inserted (one per ``ttq.load``).
    :param has_ttq: ``window.ttq`` exists (the stub ran).
    :param consent_api: pixel_embed's consent API (``window.pixelEmbed``) is on the page.
    :param consented_from: the position in ``calls`` from which the visitor had accepted
        consent (0: before the page loaded); ``None``: never during the audit.
    :param external_scripts: ``(url, text)`` of each of its other (not TikTok) JavaScript files;
        the text is ``""`` when the audit could not read it.
    :param errors: its uncaught JavaScript errors.
    :param html: the page's HTML source, when the audit could read it (for line numbers).
    :param referrer: ``document.referrer``, which TikTok's SDK sends with each event.
    :param live: for each call (in order), whether the page made it live rather than queued
        in TikTok's stub until the SDK arrived; empty when the audit could not tell.
    """

    url: str
    calls: tuple[RecordedCall, ...] = ()
    first_call: int = 1
    inline_scripts: tuple[str, ...] = ()
    sdk_scripts: tuple[str, ...] = ()
    csp: tuple[CspViolation, ...] = ()
    has_ttq: bool = True
    consent_api: bool = False
    consented_from: int | None = None
    external_scripts: tuple[tuple[str, str], ...] = ()
    errors: tuple[ScriptError, ...] = ()
    html: str | None = None
    referrer: str = ""
    live: tuple[bool, ...] = ()

    @property
    def stubs(self) -> int:
        """How many copies of TikTok's stub the page's inline scripts hold."""
        return sum(1 for text in self.inline_scripts if _STUB.search(text))

    @property
    def sdk_codes(self) -> list[str]:
        """The pixel code (``sdkid``) of each SDK script, in order."""
        return [
            code
            for url in self.sdk_scripts
            for code in parse_qs(urlsplit(url).query).get("sdkid", [])
        ]

    def numbered(self) -> Iterator[tuple[int, RecordedCall]]:
        """The calls with their numbers in the audit's call table."""
        return enumerate(self.calls, self.first_call)

    @property
    def base_code(self) -> str | None:
        """Where the page holds TikTok's base code (``"inline script 1"``, a file's URL)."""
        for index, text in enumerate(self.inline_scripts, 1):
            if BASE_CODE.search(text):
                return f"inline script {index}"
        for url, text in self.external_scripts:
            if BASE_CODE.search(text):
                return url
        return None

    def pixel_ids(self) -> list[str]:
        """Every pixel id the page used: in ``ttq.load`` calls and SDK requests, in order."""
        ids = [
            arg if isinstance(arg, str) else json.dumps(arg)  # null: an unset template variable
            for call in self.calls
            if call.method == "load"
            for arg in call.args[:1]
        ]
        ids += [code for code in self.sdk_codes if code not in ids]
        return ids

    def inline_line(self, index: int, line: int) -> str:
        """``inline script 2, line 14``: the line of the page's HTML when the audit has the
        page's source (else the line within the script)."""
        text = self.inline_scripts[index - 1]
        start = self.html.find(text) if self.html and text.strip() else -1
        if self.html is None or start < 0:
            return f"inline script {index}, its line {line}"
        line += self.html.count("\n", 0, start)
        return f"inline script {index}, line {line} of the page"

    def inline_script_at(self, line: int) -> int | None:
        """The number of the inline script that holds line ``line`` of the page's HTML."""
        if not self.html:
            return None
        for index, text in enumerate(self.inline_scripts, 1):
            start = self.html.find(text) if text.strip() else -1
            if start >= 0:
                first = self.html.count("\n", 0, start) + 1
                if first <= line <= first + text.count("\n"):
                    return index
        return None

    def consent_mode(self, consent_click: bool) -> ConsentMode:
        """``hold`` when the page holds consent in the SDK; ``strict`` when it keeps the SDK
        away until consent (pixel_embed's consent API, or no call before the accept click)."""
        if any(call.method == "holdConsent" for call in self.calls):
            return "hold"
        if self.consent_api or (consent_click and self.consented_from == 0 and self.calls):
            return "strict"
        return "none"


@dataclass(frozen=True)
class Truncation:
    """What an audit did not keep whole: a page cannot exhaust the auditor's memory.

    :param dropped_calls: calls not recorded at all (over the cap on calls).
    :param cut_calls: recorded calls whose arguments were cut (too deep, too long, too many).
    :param cut_scripts: inline scripts cut or not kept (too long, too many).
    """

    dropped_calls: int = 0
    cut_calls: int = 0
    cut_scripts: int = 0

    def __bool__(self) -> bool:
        return bool(self.dropped_calls or self.cut_calls or self.cut_scripts)


@dataclass(frozen=True)
class StepReport:
    """What one step of the visit (``--click``, ``--fill``, ``--accept-consent``) sent.

    :param step: the step as the command line writes it (``--click #add``).
    :param action: ``click``, ``fill`` or ``accept-consent``.
    :param expect: the events it was meant to track (``--expect``).
    :param calls: the numbers of the calls made from the step until the page was quiet again.
    """

    step: str
    action: str
    expect: tuple[str, ...] = ()
    calls: tuple[int, ...] = ()


@dataclass(frozen=True)
class Evidence:
    """Everything an audit of one URL saw.

    :param pages: the page loads, in the order the audit went through them.
    :param errors: uncaught JavaScript errors of documents the audit did not look at (those of
        the pages are in :attr:`PageFacts.errors`), each with the URL it was seen on.
    :param blocked: requests to outside hosts that the audit did not let through.
    :param consent_click: the audit clicked a consent banner's accept button.
    :param truncated: what the audit did not keep whole.
    :param private: ``(url, address)`` of each request the page tried to make to the auditor's
        machine or private network, which the audit refused.
    :param steps: what each step of the visit sent, in order.
    :param tiktok_requests: the URL of every request the pages made to TikTok's hosts (answered
        locally).
    """

    url: str
    pages: tuple[PageFacts, ...] = ()
    errors: tuple[tuple[str, ScriptError], ...] = ()
    blocked: tuple[str, ...] = ()
    consent_click: bool = False
    truncated: Truncation = Truncation()
    private: tuple[tuple[str, str], ...] = ()
    steps: tuple[StepReport, ...] = ()
    tiktok_requests: tuple[str, ...] = ()

    @property
    def calls(self) -> list[RecordedCall]:
        """Every call of every page, in the order of the call table."""
        return [call for page in self.pages for call in page.calls]

    def call(self, number: int) -> RecordedCall:
        """The call numbered ``number`` in the call table."""
        return next(call for _, n, call in self.numbered() if n == number)

    def numbered(self) -> Iterator[tuple[PageFacts, int, RecordedCall]]:
        for page in self.pages:
            for number, call in page.numbered():
                yield page, number, call
