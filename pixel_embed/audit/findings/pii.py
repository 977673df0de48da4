"""Rules about personal data: e-mail addresses and phone numbers in clear in calls and inline
scripts, and what ``ttq.identify`` is given. Every finding masks the data it quotes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlsplit

from ...browser.calls import RecordedCall
from ...browser.pii import pii_in_calls, pii_in_text
from ...screening import find_personal_data
from ..redact import IDENTITY_KEYS, mask_identity_value, mask_text
from .consent import SENDING_METHODS
from .evidence import Evidence, Finding


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


_KINDS = {"email": "an e-mail address", "phone": "a phone number"}
# A query parameter that holds a phone number by its name: elsewhere in a URL, long digit runs
# are order numbers, timestamps and ids far more often than phone numbers.
_PHONE_PARAMETER = re.compile(r"phone|tel|mobile|msisdn", re.IGNORECASE)


def _personal_data_in_url(url: str) -> set[str]:
    """The kinds of personal data in ``url``: e-mail addresses anywhere, phone numbers in a
    parameter named for one."""
    if not url:
        return set()
    kinds: set[str] = {k for k, _ in find_personal_data(unquote_plus(url)) if k == "email"}
    for name, value in parse_qsl(urlsplit(url).query):
        if _PHONE_PARAMETER.search(name) and find_personal_data(value):
            kinds.add("phone")
    return kinds


def pii_in_url(evidence: Evidence) -> Iterator[Finding]:
    """An e-mail address or phone number in the URL (or the referrer) of a page that sends
    events: TikTok's SDK sends both with every event. One finding per page and kind."""
    for page in evidence.pages:
        sending = [(n, c) for n, c in page.numbered() if c.method in SENDING_METHODS]
        if not sending:
            continue
        seen: set[tuple[str, str]] = set()
        urls = [(number, "URL", call.url or page.url) for number, call in sending]
        urls.append((sending[0][0], "referrer", page.referrer))
        for number, which, url in urls:
            for kind in _personal_data_in_url(url):
                if (which, kind) in seen:
                    continue
                seen.add((which, kind))
                yield Finding(
                    "pii-in-url",
                    "error",
                    f"the page's {which} holds {_KINDS.get(kind, kind)} "
                    f"({mask_text(unquote_plus(url))}), and TikTok's SDK sends it with every "
                    "event: keep personal data out of URLs (POST the form, or put a token in "
                    "the URL instead)",
                    number,
                    page.url,
                )
