"""What an audit saw on a site, and the rules that turn it into findings.

Each rule is a small pure function from the :class:`Evidence` (the recorded ``ttq`` calls and the
facts of each page load) to :class:`Finding` objects. Nothing here drives a browser: the runner
gathers the evidence, and tests can build it by hand.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from ..currencies import CURRENCIES
from ..events import PURCHASE_EVENTS, STANDARD_EVENTS, near_miss
from ..testing.pii import pii_in_calls, pii_in_text
from ..testing.recorder import RecordedCall, is_tiktok_host

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
ConsentMode = Literal["none", "hold", "strict"]

#: Parameters of ``ttq.track`` that TikTok reads (TikTok for Business, "Standard events and
#: parameters"): any other key is sent but ignored.
KNOWN_PARAMETERS: frozenset[str] = frozenset(
    {
        "content_category",
        "content_id",
        "content_ids",
        "content_name",
        "content_type",
        "contents",
        "currency",
        "description",
        "num_items",
        "order_id",
        "price",
        "quantity",
        "query",
        "search_string",
        "shop_id",
        "value",
    }
)
#: Fields of one item of ``contents`` that TikTok reads.
KNOWN_ITEM_FIELDS: frozenset[str] = frozenset(
    {"brand", "content_category", "content_id", "content_name", "content_type", "price", "quantity"}
)
#: The calls that send something to TikTok (``load`` only fetches the SDK).
SENDING_METHODS: frozenset[str] = frozenset({"page", "track", "identify"})

# The first line of TikTok's official stub ("w.TiktokAnalyticsObject=t;var ttq=…").
_STUB = re.compile(r"\bTiktokAnalyticsObject\s*=")
_PIXEL_ERROR = re.compile(r"\bttq\b|tiktok", re.IGNORECASE)


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

    def consent_mode(self, consent_click: bool) -> ConsentMode:
        """``hold`` when the page holds consent in the SDK; ``strict`` when it keeps the SDK
        away until consent (pixel_embed's consent API, or no call before the accept click)."""
        if any(call.method == "holdConsent" for call in self.calls):
            return "hold"
        if self.consent_api or (consent_click and self.consented_from == 0 and self.calls):
            return "strict"
        return "none"


@dataclass(frozen=True)
class Evidence:
    """Everything an audit of one URL saw.

    :param pages: the page loads, in the order the audit went through them.
    :param errors: uncaught JavaScript errors (``"url: message"``).
    :param blocked: requests to outside hosts that the audit did not let through.
    :param consent_click: the audit clicked a consent banner's accept button.
    """

    url: str
    pages: tuple[PageFacts, ...] = ()
    errors: tuple[str, ...] = ()
    blocked: tuple[str, ...] = ()
    consent_click: bool = False

    @property
    def calls(self) -> list[RecordedCall]:
        """Every call of every page, in the order of the call table."""
        return [call for page in self.pages for call in page.calls]

    def numbered(self) -> Iterator[tuple[PageFacts, int, RecordedCall]]:
        for page in self.pages:
            for number, call in page.numbered():
                yield page, number, call


Rule = Callable[[Evidence], Iterator[Finding]]


def _tracks(evidence: Evidence) -> Iterator[tuple[PageFacts, int, RecordedCall, dict[str, Any]]]:
    for page, number, call in evidence.numbered():
        if call.method == "track" and call.event is not None:
            yield page, number, call, call.params


def _items(params: dict[str, Any]) -> Iterator[tuple[int, Any]]:
    items = params.get("contents")
    if isinstance(items, list):
        yield from enumerate(items)


# -- errors ------------------------------------------------------------------------------------


def raw_pii(evidence: Evidence) -> Iterator[Finding]:
    """An e-mail address or phone number in clear, in a call or in a page's inline script."""
    for page, number, call in evidence.numbered():
        for problem in pii_in_calls([call]):
            where = problem.removeprefix("call 1 ")
            yield Finding("raw-pii", "error", f"raw personal data in {where}", number, page.url)
    for page in evidence.pages:
        for index, text in enumerate(page.inline_scripts, 1):
            for problem in pii_in_text(text, f"inline script {index}"):
                yield Finding("raw-pii", "error", f"raw personal data in {problem}", url=page.url)


def currency(evidence: Evidence) -> Iterator[Finding]:
    """``value`` needs an ISO 4217 ``currency``."""
    for page, number, call, params in _tracks(evidence):
        code = params.get("currency")
        if "value" in params and code is None:
            yield Finding(
                "value-without-currency",
                "error",
                f"{call.event} has value {params['value']!r} but no currency: TikTok drops the "
                "value",
                number,
                page.url,
            )
        elif code is not None and not (
            isinstance(code, str) and code.strip().upper() in CURRENCIES
        ):
            yield Finding(
                "invalid-currency",
                "error",
                f"{call.event} currency {code!r} is not an ISO 4217 code such as 'USD'",
                number,
                page.url,
            )


def content_ids(evidence: Evidence) -> Iterator[Finding]:
    """Every item of ``contents`` needs a ``content_id``."""
    for page, number, call, params in _tracks(evidence):
        for index, item in _items(params):
            if not isinstance(item, dict) or item.get("content_id") in (None, ""):
                yield Finding(
                    "content-without-id",
                    "error",
                    f"{call.event} contents[{index}] has no content_id: TikTok cannot match it "
                    "to a catalogue item",
                    number,
                    page.url,
                )


def purchase_value(evidence: Evidence) -> Iterator[Finding]:
    """A purchase-type event needs a ``value``."""
    for page, number, call, params in _tracks(evidence):
        if call.event in PURCHASE_EVENTS and "value" not in params:
            yield Finding(
                "purchase-without-value",
                "error",
                f"{call.event} has no value: the sale is counted without its amount",
                number,
                page.url,
            )


def duplicate_event_ids(evidence: Evidence) -> Iterator[Finding]:
    """One ``event_id`` per event (per pixel): a second use is a second event dropped as a
    duplicate, or the same event fired twice."""
    seen: dict[tuple[str | None, str], int] = {}
    for page, number, call, _ in _tracks(evidence):
        event_id = call.event_id
        if event_id is None:
            continue
        key = (call.pixel, event_id)
        if key in seen:
            yield Finding(
                "duplicate-event-id",
                "error",
                f"{call.event} reuses event_id {event_id!r} of call {seen[key]}: TikTok keeps "
                "only one of them",
                number,
                page.url,
            )
        else:
            seen[key] = number


def double_load(evidence: Evidence) -> Iterator[Finding]:
    """The SDK loaded twice for one pixel, or TikTok's stub twice on one page."""
    for page in evidence.pages:
        if page.stubs > 1:
            yield Finding(
                "duplicate-stub",
                "error",
                f"the page holds TikTok's stub {page.stubs} times: remove the copies (a theme "
                "plus a tag manager?)",
                url=page.url,
            )
        for code, times in Counter(page.sdk_codes).items():
            if times > 1:
                yield Finding(
                    "pixel-loaded-twice",
                    "error",
                    f"ttq.load({code!r}) ran {times} times on the page: events may be counted "
                    "twice",
                    url=page.url,
                )


def consent_order(evidence: Evidence) -> Iterator[Finding]:
    """No call sends anything before consent on a page that asks for consent."""
    for page in evidence.pages:
        gated = evidence.consent_click or page.consent_mode(evidence.consent_click) != "none"
        if not gated:
            continue
        held = granted = False
        for position, (number, call) in enumerate(page.numbered()):
            if call.method == "holdConsent":
                held = True
            elif call.method == "grantConsent":
                granted = True
            elif call.method == "revokeConsent":
                granted = False
            elif call.method in SENDING_METHODS and not (held or granted):
                consented = page.consented_from is not None and position >= page.consented_from
                if not consented:
                    what = call.event or call.method
                    yield Finding(
                        "call-before-consent",
                        "error",
                        f"ttq.{call.method} ({what}) ran before the visitor consented, and "
                        "consent was not held (call ttq.holdConsent() first, or load the pixel "
                        "after consent)",
                        number,
                        page.url,
                    )


def pixel_js_errors(evidence: Evidence) -> Iterator[Finding]:
    """Uncaught JavaScript errors that come from the pixel (they mention ``ttq`` or TikTok)."""
    for error in evidence.errors:
        if _PIXEL_ERROR.search(error):
            url, _, message = error.partition(": ")
            yield Finding(
                "pixel-js-error",
                "error",
                f"JavaScript error from the pixel: {message}",
                url=url,
            )


def csp_blocks(evidence: Evidence) -> Iterator[Finding]:
    """A Content Security Policy that blocks the SDK, or the pixel's inline script."""
    for page in evidence.pages:
        for violation in page.csp:
            if violation.disposition != "enforce":
                continue
            host = urlsplit(violation.blocked).hostname or ""
            if is_tiktok_host(host):
                yield Finding(
                    "csp-blocked",
                    "error",
                    f"the page's Content Security Policy ({violation.directive}) blocks "
                    f"{violation.blocked}: allow https://analytics.tiktok.com",
                    url=page.url,
                )
            elif violation.blocked == "inline" and page.stubs and not page.has_ttq:
                yield Finding(
                    "csp-blocked",
                    "error",
                    f"the page's Content Security Policy ({violation.directive}) blocks the "
                    "pixel's inline script: give it the page's nonce",
                    url=page.url,
                )


# -- warnings ----------------------------------------------------------------------------------


def event_names(evidence: Evidence) -> Iterator[Finding]:
    """A name close to a standard event is a typo (warning); another is a custom event (info)."""
    for page, number, call, _ in _tracks(evidence):
        name = call.event or ""
        if name in STANDARD_EVENTS:
            continue
        guess = near_miss(name)
        if guess is not None:
            yield Finding(
                "event-near-miss",
                "warning",
                f"{name!r} is not a standard TikTok event; did you mean {guess!r}?",
                number,
                page.url,
            )
        else:
            yield Finding("custom-event", "info", f"custom event {name!r}", number, page.url)


def page_view(evidence: Evidence) -> Iterator[Finding]:
    """A page that loads the pixel calls ``ttq.page()``."""
    for page in evidence.pages:
        methods = {call.method for call in page.calls}
        if "load" in methods and "page" not in methods:
            yield Finding(
                "page-missing",
                "warning",
                "the pixel loaded but ttq.page() was never called: no page view is counted",
                url=page.url,
            )


def ignored_parameters(evidence: Evidence) -> Iterator[Finding]:
    """Parameters TikTok does not read are sent for nothing."""
    for page, number, call, params in _tracks(evidence):
        unknown = sorted(set(params) - KNOWN_PARAMETERS)
        for index, item in _items(params):
            if isinstance(item, dict):
                unknown += [f"contents[{index}].{k}" for k in item if k not in KNOWN_ITEM_FIELDS]
        if unknown:
            yield Finding(
                "ignored-parameter",
                "warning",
                f"{call.event}: TikTok ignores {', '.join(unknown)}",
                number,
                page.url,
            )


def event_id_missing(evidence: Evidence) -> Iterator[Finding]:
    """Without ``event_id`` the Events API's copy of an event cannot be deduplicated."""
    for page, number, call, _ in _tracks(evidence):
        if call.event_id is None:
            yield Finding(
                "no-event-id",
                "warning",
                f"{call.event} has no event_id: a server-side copy would be counted twice",
                number,
                page.url,
            )


def pixel_present(evidence: Evidence) -> Iterator[Finding]:
    """The audited pages have a pixel at all."""
    if not any(page.stubs or page.sdk_scripts or page.calls for page in evidence.pages):
        message = "no TikTok pixel was found"
        if evidence.blocked:
            message += (
                " (requests to other hosts were not made: if a tag manager loads the pixel, "
                "allow its host with --allow-host)"
            )
        yield Finding("no-pixel", "warning", message, url=evidence.url)


# -- information -------------------------------------------------------------------------------


def limited_data_use(evidence: Evidence) -> Iterator[Finding]:
    """The pixel loads with TikTok's Limited Data Use flag."""
    for page, number, call in evidence.numbered():
        options = call.args[1] if call.method == "load" and len(call.args) > 1 else None
        if isinstance(options, dict) and options.get("limited_data_use"):
            yield Finding(
                "ldu",
                "info",
                f"pixel {call.pixel} loads with Limited Data Use",
                number,
                page.url,
            )


def consent_detected(evidence: Evidence) -> Iterator[Finding]:
    """The consent modes the pages use (one remark per mode, on the first page using it)."""
    texts = {
        "hold": "consent mode: the SDK loads, ttq.holdConsent() holds events until consent",
        "strict": "consent mode: the SDK is not requested before consent",
    }
    modes: dict[str, list[PageFacts]] = {}
    for page in evidence.pages:
        modes.setdefault(page.consent_mode(evidence.consent_click), []).append(page)
    for mode, pages in modes.items():
        if mode in texts:
            count = f" ({len(pages)} pages)" if len(pages) > 1 else ""
            yield Finding("consent-mode", "info", texts[mode] + count, url=pages[0].url)


def blocked_requests(evidence: Evidence) -> Iterator[Finding]:
    """Requests the audit did not let through (hosts other than the audited one)."""
    hosts = sorted({urlsplit(url).hostname or url for url in evidence.blocked})
    if hosts:
        yield Finding(
            "blocked-requests",
            "info",
            f"{len(evidence.blocked)} request(s) to other hosts were not made: "
            f"{', '.join(hosts)} (allow them with --allow-host)",
            url=evidence.url,
        )


#: Every rule, in the order their findings are listed within one severity.
RULES: tuple[Rule, ...] = (
    raw_pii,
    currency,
    content_ids,
    purchase_value,
    duplicate_event_ids,
    double_load,
    consent_order,
    pixel_js_errors,
    csp_blocks,
    event_names,
    page_view,
    ignored_parameters,
    event_id_missing,
    pixel_present,
    limited_data_use,
    consent_detected,
    blocked_requests,
)


def find_problems(evidence: Evidence, rules: Sequence[Rule] = RULES) -> list[Finding]:
    """Every finding of ``rules`` on ``evidence``: errors first, then warnings, then remarks."""
    findings = [finding for rule in rules for finding in rule(evidence)]
    return sorted(findings, key=lambda f: SEVERITIES.index(f.severity))
