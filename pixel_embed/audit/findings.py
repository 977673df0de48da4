"""What an audit saw on a site, and the rules that turn it into findings.

Each rule is a small pure function from the :class:`Evidence` (the recorded ``ttq`` calls and the
facts of each page load) to :class:`Finding` objects. Nothing here drives a browser: the runner
gathers the evidence, and tests can build it by hand.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from ..currencies import CURRENCIES
from ..events import CONTENT_TYPES, PURCHASE_EVENTS, STANDARD_EVENTS, near_miss
from ..testing.pii import pii_in_calls, pii_in_text
from ..testing.recorder import RecordedCall, is_tiktok_host
from .redact import IDENTITY_KEYS, mask_identity_value, mask_text

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

#: Event names of older integrations (TikTok's first pixel, other platforms' habits) and what
#: TikTok expects instead: a standard event, or ``ttq.page()`` for a page view.
LEGACY_EVENTS: dict[str, str] = {
    "Browse": "ttq.page()",
    "Pageview": "ttq.page()",
    "PageView": "ttq.page()",
    "Page View": "ttq.page()",
    "ViewPage": "ttq.page()",
    "PageVisit": "ttq.page()",
    "StartCheckout": "InitiateCheckout",
    "Checkout": "InitiateCheckout (or PlaceAnOrder when the order is placed)",
    "AddBilling": "AddPaymentInfo",
    "Registration": "CompleteRegistration",
    "ClickForm": "SubmitForm",
    "ClickToDownload": "Download",
    "ClickInDownloadPage": "Download",
}

# The first line of TikTok's official stub ("w.TiktokAnalyticsObject=t;var ttq=…").
_STUB = re.compile(r"\bTiktokAnalyticsObject\s*=")
# TikTok's base code: the stub, or a script that inserts the SDK loader (old or new) itself.
_BASE_CODE = re.compile(
    r"\bTiktokAnalyticsObject\s*=|analytics\.tiktok\.com/i18n/pixel/(?:events|sdk)\.js"
)
# A script that makes a ttq call (ttq.track(…), window.ttq.page(), ttq.instance(…)).
_TTQ_CALL = re.compile(r"\bttq\s*\.\s*[A-Za-z_]")
_PIXEL_ERROR = re.compile(r"\bttq\b|tiktok", re.IGNORECASE)
# The old SDK loader, from before TikTok's current base code.
_OLD_SDK = re.compile(r"/i18n/pixel/sdk\.js")
#: A TikTok pixel id: 20 upper-case letters and digits, as Events Manager shows it.
PIXEL_ID = re.compile(r"[A-Z0-9]{20}")
# What template placeholders look like: XXXX…, YOUR_PIXEL_ID, {{ pixel_id }}, <PIXEL_ID>, ${id}.
_PLACEHOLDER = re.compile(
    r"^X{4,}$|YOUR|PIXEL[_ -]?(?:ID|CODE)|INSERT|REPLACE|[{}<>$%]"
    r"|^(?:0+|1234.*|test|undefined|null)$",
    re.IGNORECASE,
)
# A plain number as a string ("49.90"): TikTok reads it; "1,049.90" or "$49" it does not.
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


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
            if _BASE_CODE.search(text):
                return f"inline script {index}"
        for url, text in self.external_scripts:
            if _BASE_CODE.search(text):
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
class Evidence:
    """Everything an audit of one URL saw.

    :param pages: the page loads, in the order the audit went through them.
    :param errors: uncaught JavaScript errors of documents the audit did not look at (those of
        the pages are in :attr:`PageFacts.errors`), each with the URL it was seen on.
    :param blocked: requests to outside hosts that the audit did not let through.
    :param consent_click: the audit clicked a consent banner's accept button.
    """

    url: str
    pages: tuple[PageFacts, ...] = ()
    errors: tuple[tuple[str, ScriptError], ...] = ()
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


def _masked(problem: str, call: RecordedCall) -> str:
    """A problem of :func:`pii_in_calls` or :func:`pii_in_text` with the personal data in it
    masked: a finding must say what leaked without leaking it again into CI logs."""
    for key, value in _identity_values(call.args):
        problem = problem.replace(repr(value), repr(mask_identity_value(key, value)))
    return mask_text(problem)


def _identity_values(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, str) and key in IDENTITY_KEYS:
        yield key, value
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _identity_values(item, str(name))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _identity_values(item, key)


def raw_pii(evidence: Evidence) -> Iterator[Finding]:
    """An e-mail address or phone number in clear, in a call or in a page's inline script (with
    its line); the finding masks it."""
    for page, number, call in evidence.numbered():
        for problem in pii_in_calls([call]):
            where = _masked(problem.removeprefix("call 1 "), call)
            yield Finding("raw-pii", "error", f"raw personal data in {where}", number, page.url)
    for page in evidence.pages:
        for index, text in enumerate(page.inline_scripts, 1):
            for line, line_text in enumerate(text.split("\n"), 1):
                if not line_text.strip():
                    continue
                for problem in pii_in_text(line_text, page.inline_line(index, line)):
                    message = f"raw personal data in {mask_text(problem)}"
                    yield Finding("raw-pii", "error", message, url=page.url)


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
    """Every item of ``contents`` needs a ``content_id`` (an item keyed ``id`` gets the fix)."""
    for page, number, call, params in _tracks(evidence):
        for index, item in _items(params):
            if not isinstance(item, dict) or item.get("content_id") in (None, ""):
                hint = ": TikTok cannot match it to a catalogue item"
                if isinstance(item, dict) and item.get("id") not in (None, ""):
                    hint = f" but has id {item['id']!r}: rename the key to content_id"
                yield Finding(
                    "content-without-id",
                    "error",
                    f"{call.event} contents[{index}] has no content_id{hint}",
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


def _bad_number(value: Any) -> str | None:
    """Why ``value`` is not an amount TikTok can read (``None``: it is one)."""
    if value is None:
        return "is null"
    if isinstance(value, str):
        return None if _NUMBER.fullmatch(value.strip()) else "is a formatted string, not a number"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "is not a number"
    return None


def amounts(evidence: Evidence) -> Iterator[Finding]:
    """``value`` (and each item's ``price``) is a number: null, ``"1,049.90"`` or ``"$49"`` is
    not summed by TikTok."""
    for page, number, call, params in _tracks(evidence):
        found = [("value", params["value"])] if "value" in params else []
        found += [
            (f"contents[{index}].price", item["price"])
            for index, item in _items(params)
            if isinstance(item, dict) and "price" in item
        ]
        for name, value in found:
            why = _bad_number(value)
            if why is not None:
                yield Finding(
                    "invalid-value",
                    "error",
                    f"{call.event} {name} {value!r} {why}: send a number such as 1049.9",
                    number,
                    page.url,
                )


def content_type(evidence: Evidence) -> Iterator[Finding]:
    """``content_type`` is ``product`` or ``product_group``."""
    allowed = " or ".join(repr(name) for name in sorted(CONTENT_TYPES))
    for page, number, call, params in _tracks(evidence):
        found = [("content_type", params["content_type"])] if "content_type" in params else []
        found += [
            (f"contents[{index}].content_type", item["content_type"])
            for index, item in _items(params)
            if isinstance(item, dict) and "content_type" in item
        ]
        for name, value in found:
            if value not in CONTENT_TYPES:
                yield Finding(
                    "invalid-content-type",
                    "warning",
                    f"{call.event} {name} is {value!r}: TikTok matches {allowed} to your "
                    "catalogue, nothing else",
                    number,
                    page.url,
                )


def double_purchase(evidence: Evidence) -> Iterator[Finding]:
    """One order, one purchase-type event per page load (per pixel): ``PlaceAnOrder`` then
    ``CompletePayment`` for the same order, or ``CompletePayment`` twice, counts it twice."""
    for page in evidence.pages:
        earlier: list[tuple[int, RecordedCall]] = []
        for number, call in page.numbered():
            if call.method != "track" or call.event not in PURCHASE_EVENTS:
                continue
            order = call.params.get("order_id") or None
            # Two different order ids are two orders; a call without one is the same order.
            same = next(
                (
                    (before, other)
                    for before, other in earlier
                    if other.pixel == call.pixel
                    and (order is None or other.params.get("order_id") in (None, "", order))
                ),
                None,
            )
            earlier.append((number, call))
            if same is None:
                continue
            before, other = same
            if call.event == other.event and call.event_id and call.event_id == other.event_id:
                continue  # duplicate-event-id says it
            yield Finding(
                "double-purchase",
                "error",
                f"{call.event} after {other.event} (call {before}) for the same order on one "
                "page load: TikTok counts the sale twice; send only one of them",
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


def _pixel_part(text: str) -> str | None:
    """What of the pixel a script holds: ``"TikTok's base code"``, ``"a ttq call"`` or nothing."""
    if _BASE_CODE.search(text):
        return "TikTok's base code"
    if _TTQ_CALL.search(text):
        return "a ttq call"
    return None


def _error_origin(page: PageFacts | None, error: ScriptError) -> tuple[str, str | None]:
    """Where an error comes from (``inline script 2, line 14 of the page``, a file and line),
    and what of the pixel that script holds."""
    scripts = dict(page.external_scripts) if page is not None else {}
    src = error.script_src or (error.source if error.source in scripts else None)
    if src is None and is_tiktok_host(urlsplit(error.source).hostname or ""):
        src = error.source
    if src is not None:
        where = f"{src}, line {error.line}" if error.line else src
        if is_tiktok_host(urlsplit(src).hostname or ""):
            return where, "TikTok's SDK"
        return where, _pixel_part(scripts.get(src, ""))
    if page is not None:
        index = None
        if error.script_text is not None and error.script_text in page.inline_scripts:
            index = page.inline_scripts.index(error.script_text) + 1
        elif error.script_text is None and error.line:
            index = page.inline_script_at(error.line)
        if index is not None:
            line = f", line {error.line} of the page" if error.line else ""
            return f"inline script {index}{line}", _pixel_part(page.inline_scripts[index - 1])
    if error.script_text is not None:
        return "an inline script", _pixel_part(error.script_text)
    return error.source or "the page", None


def pixel_js_errors(evidence: Evidence) -> Iterator[Finding]:
    """Uncaught JavaScript errors of a script that holds the base code or a ``ttq`` call (the
    pixel does not run, or the event after the error is never sent), and any that mentions
    ``ttq`` or TikTok."""
    errors: list[tuple[str, PageFacts | None, ScriptError]] = [
        (page.url, page, error) for page in evidence.pages for error in page.errors
    ]
    errors += [(url, None, error) for url, error in evidence.errors]
    for url, page, error in errors:
        where, part = _error_origin(page, error)
        if part is not None:
            message = f"JavaScript error in {where}, which holds {part}: {error.message}"
        elif _PIXEL_ERROR.search(error.message):
            message = f"JavaScript error from the pixel in {where}: {error.message}"
        else:
            continue
        yield Finding("pixel-js-error", "error", message, url=url)


def sdk_never_requested(evidence: Evidence) -> Iterator[Finding]:
    """The page holds TikTok's base code, but the SDK was never requested: the pixel does not
    run (a script error, a template bug), and no call is recorded."""
    for page in evidence.pages:
        where = page.base_code
        if where is None or page.sdk_scripts or page.consent_api:
            continue
        if any(v.disposition == "enforce" for v in page.csp):
            continue  # csp-blocked says why
        yield Finding(
            "sdk-never-requested",
            "error",
            f"the page holds TikTok's base code ({where}) but never requested TikTok's SDK: the "
            "pixel does not run (if it waits for consent, audit with --accept-consent)",
            url=page.url,
        )


def pixel_ids(evidence: Evidence) -> Iterator[Finding]:
    """A pixel id is 20 upper-case letters and digits; a template placeholder is not one."""
    seen: set[str] = set()
    for page in evidence.pages:
        for code in page.pixel_ids():
            if code in seen or PIXEL_ID.fullmatch(code):
                continue
            seen.add(code)
            if not code.strip() or _PLACEHOLDER.search(code):
                why = "is a placeholder, not a pixel id: copy the id from TikTok Events Manager"
            else:
                why = (
                    "is not a TikTok pixel id (20 upper-case letters and digits, as TikTok "
                    "Events Manager shows it): events go nowhere"
                )
            yield Finding("invalid-pixel-id", "error", f"pixel id {code!r} {why}", url=page.url)


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
    """A legacy name (``Browse``, ``StartCheckout``) or a name close to a standard event is a
    mistake (warning); another is a deliberate custom event (info)."""
    for page, number, call, _ in _tracks(evidence):
        name = call.event or ""
        if name in STANDARD_EVENTS:
            continue
        if name in LEGACY_EVENTS:
            instead = LEGACY_EVENTS[name]
            what = "a page view" if instead == "ttq.page()" else "a standard event"
            use = instead if instead == "ttq.page()" else f"ttq.track({instead.split()[0]!r})"
            yield Finding(
                "legacy-event",
                "warning",
                f"{name!r} is an event name of older integrations, not {what} TikTok reports "
                f"or optimises for: use {use}"
                + (f" ({instead.split(' ', 1)[1].strip('()')})" if " " in instead else ""),
                number,
                page.url,
            )
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


def _item_key_fixed(item: dict[str, Any], key: str) -> bool:
    """``id`` of an item without ``content_id``: content-without-id already says to rename it."""
    return key == "id" and item.get("content_id") in (None, "")


def ignored_parameters(evidence: Evidence) -> Iterator[Finding]:
    """Parameters TikTok does not read are sent for nothing."""
    for page, number, call, params in _tracks(evidence):
        unknown = sorted(set(params) - KNOWN_PARAMETERS - {"event_id"})
        for index, item in _items(params):
            if isinstance(item, dict):
                unknown += [
                    f"contents[{index}].{k}"
                    for k in item
                    if k not in KNOWN_ITEM_FIELDS and not _item_key_fixed(item, k)
                ]
        if unknown:
            yield Finding(
                "ignored-parameter",
                "warning",
                f"{call.event}: TikTok ignores {', '.join(unknown)}",
                number,
                page.url,
            )


def event_id_missing(evidence: Evidence) -> Iterator[Finding]:
    """Without ``event_id`` the Events API's copy of an event cannot be deduplicated; one given
    among the parameters is in the wrong place (one finding that says where it belongs)."""
    for page, number, call, params in _tracks(evidence):
        if call.event_id is not None:
            continue
        if "event_id" in params:
            yield Finding(
                "event-id-in-params",
                "warning",
                f"{call.event} passes event_id {params['event_id']!r} among the parameters, "
                f"where TikTok does not read it: pass it as the third argument, "
                f"ttq.track({call.event!r}, {{…}}, {{event_id: …}})",
                number,
                page.url,
            )
        else:
            yield Finding(
                "no-event-id",
                "warning",
                f"{call.event} has no event_id: a server-side copy would be counted twice",
                number,
                page.url,
            )


def identify_shape(evidence: Evidence) -> Iterator[Finding]:
    """``ttq.identify`` takes one object of fields; ``identify('42', {...})`` (an id, then an
    object, as other analytics libraries have it) sends nothing TikTok can match."""
    for page, number, call in evidence.numbered():
        if call.method != "identify" or (call.args and isinstance(call.args[0], dict)):
            continue
        first = repr(call.args[0]) if call.args else "nothing"
        if call.args and isinstance(call.args[0], str):
            first = repr(mask_identity_value("external_id", call.args[0]))
        yield Finding(
            "identify-shape",
            "error",
            f"ttq.identify was called with {first} first, not an object of fields: TikTok "
            "matches nothing; call ttq.identify({email: …, phone_number: …, external_id: …}) "
            "with SHA-256 digests",
            number,
            page.url,
        )


def old_sdk(evidence: Evidence) -> Iterator[Finding]:
    """The page loads TikTok's old SDK (``sdk.js``) instead of the current base code."""
    for page in evidence.pages:
        old = [url for url in page.sdk_scripts if _OLD_SDK.search(urlsplit(url).path)]
        if old:
            yield Finding(
                "old-base-code",
                "warning",
                "the page loads TikTok's old SDK (i18n/pixel/sdk.js): replace it with the "
                "current base code from TikTok Events Manager",
                url=page.url,
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


def empty_identity_fields(evidence: Evidence) -> Iterator[Finding]:
    """``ttq.identify`` fields sent empty: not personal data, but nothing to match on."""
    for page, number, call in evidence.numbered():
        if call.method != "identify":
            continue
        empty = sorted(
            key
            for key, value in call.params.items()
            if key in IDENTITY_KEYS and isinstance(value, str) and not value.strip()
        )
        if empty:
            yield Finding(
                "empty-identity-field",
                "info",
                f"ttq.identify sends {', '.join(empty)} empty: leave out fields you do not have",
                number,
                page.url,
            )


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
    pixel_js_errors,
    sdk_never_requested,
    pixel_ids,
    raw_pii,
    identify_shape,
    currency,
    amounts,
    content_ids,
    purchase_value,
    double_purchase,
    duplicate_event_ids,
    double_load,
    consent_order,
    csp_blocks,
    event_names,
    content_type,
    page_view,
    ignored_parameters,
    event_id_missing,
    old_sdk,
    pixel_present,
    empty_identity_fields,
    limited_data_use,
    consent_detected,
    blocked_requests,
)


def find_problems(evidence: Evidence, rules: Sequence[Rule] = RULES) -> list[Finding]:
    """Every finding of ``rules`` on ``evidence``: errors first, then warnings, then remarks;
    e-mail addresses and phone numbers quoted in a message are masked."""
    # A message quotes the page (values, error messages): personal data in it is masked.
    findings = [replace(f, message=mask_text(f.message)) for rule in rules for f in rule(evidence)]
    return sorted(findings, key=lambda f: SEVERITIES.index(f.severity))
