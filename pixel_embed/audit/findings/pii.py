"""Rules about personal data: e-mail addresses and phone numbers in clear in calls and inline
scripts, and what ``ttq.identify`` is given. Every finding masks the data it quotes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...testing.pii import pii_in_calls, pii_in_text
from ...testing.recorder import RecordedCall
from ..redact import IDENTITY_KEYS, mask_identity_value, mask_text
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
