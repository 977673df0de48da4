"""Make what an audited page says safe to print: personal data masked, control characters escaped.

An audit reads text from pages it does not control (event names, parameter keys and values,
URLs, error messages) and prints it to terminals and CI logs. Two things must never get through:

- **Personal data.** An e-mail address is shown as ``j***@example.com``; a phone number keeps
  its last two digits (``+*********53``); any other identity field that is not a SHA-256
  digest keeps its first character (``4***``). A CI log then says *what* leaked, not the
  visitor's details.
- **Control characters.** ESC sequences (which can clear a terminal and print a fake "all
  checks passed"), carriage returns and line feeds (which forge report or log lines), the other
  C0 and C1 controls, Unicode line separators, bidirectional overrides (which reorder what a
  reader sees) and lone surrogates (which crash an encoder) are written as ``\\x1b``,
  ``\\u202e`` … escapes.
"""

from __future__ import annotations

import re
from typing import Any

from ..matching import CLEAR_FIELDS, HASHED_FIELDS, is_sha256

# Until pixel_embed.screening lands, the QA kit's PII guard holds the one definition of "looks
# like an e-mail address / a phone number".
from ..screening import find_personal_data, replace_personal_data

#: Identity fields whose values must be SHA-256 digests (and ``phone``, a common misspelling).
IDENTITY_KEYS: frozenset[str] = frozenset(
    {*HASHED_FIELDS, "phone", "sha256_email", "sha256_phone_number"}
) - frozenset(CLEAR_FIELDS)

_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
# C0 and C1 controls, DEL, line/paragraph separators, bidi controls, lone surrogates.
_OTHERS = f"\\x7f-\\x9f\\u2028\\u2029{_BIDI}\\ud800-\\udfff"
_UNSAFE = re.compile(f"[\\x00-\\x1f{_OTHERS}]")
# The same, but keeping line feeds: the final pass over a whole report, whose lines are ours.
_UNSAFE_BUT_NEWLINE = re.compile(f"[\\x00-\\x09\\x0b-\\x1f{_OTHERS}]")
_UNSAFE_IN_JSON = re.compile(f"[{_OTHERS}]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with every control character (line feeds too) written as an escape."""
    return _UNSAFE.sub(_escape, text)


def escape_report(text: str) -> str:
    """A whole report: every control character escaped except the line feeds between lines."""
    return _UNSAFE_BUT_NEWLINE.sub(_escape, text)


def json_safe(text: str) -> str:
    """The text of a JSON document (from :func:`json.dumps`) with every character a terminal
    could act on written as a ``\\u`` escape. They can only be inside strings, where the escape
    means the same character: the document stays valid and parses to the same values."""
    # json.dumps escapes C0 controls itself; the line feeds left are the document's own.
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def mask_email(address: str) -> str:
    """``jane@example.com`` → ``j***@example.com``."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}"


def mask_phone(number: str) -> str:
    """Every digit but the last two replaced by ``*``, the rest of the writing kept:
    ``415-555-0100`` → ``***-***-**00``."""
    digits = sum(char.isdigit() for char in number)
    seen = 0
    masked = []
    for char in number:
        if char.isdigit():
            seen += 1
            masked.append(char if seen > digits - 2 else "*")
        else:
            masked.append(char)
    return "".join(masked)


def mask_text(text: str) -> str:
    """``text`` with each e-mail address and phone number in it masked."""
    return replace_personal_data(text, mask_email, mask_phone)


def mask_identity_value(key: str, value: str) -> str:
    """The value of identity field ``key`` as it may be shown: digests as they are, e-mail
    addresses and phone numbers masked, anything else reduced to its first character."""
    if not value.strip() or is_sha256(value.strip()):
        return value
    if "@" in value:
        # Each address masked where it is (a value may hold several, or look-alike
        # characters); a value that is no address at all shows its first character only.
        masked = mask_text(value)
        return masked if masked != value else f"{value.strip()[:1]}***"
    if key in ("phone", "phone_number", "sha256_phone_number") or find_personal_data(
        value.strip()
    ) == [("phone", value.strip())]:
        return mask_phone(value)
    return f"{value.strip()[:1]}***"


def mask_data(value: Any, key: str = "") -> Any:
    """A copy of call arguments (JSON-like data) with personal data masked: the values of
    identity fields, and e-mail addresses and phone numbers in any string (keys too)."""
    if isinstance(value, str):
        return mask_identity_value(key, value) if key in IDENTITY_KEYS else mask_text(value)
    if isinstance(value, dict):
        return {mask_text(str(name)): mask_data(item, str(name)) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_data(item, key) for item in value]
    return value


def mask_strings(value: Any) -> Any:
    """A copy of JSON-like data with the e-mail addresses and phone numbers in every string
    (keys too) masked, whatever the key: for data that holds grades and digests under
    identity keys, such as what TikTok's SDK sent."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {mask_text(str(name)): mask_strings(item) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_strings(item) for item in value]
    return value


def escape_data(value: Any) -> Any:
    """A copy of JSON-like data with control characters escaped in every string and key."""
    if isinstance(value, str):
        return escape_controls(value)
    if isinstance(value, dict):
        return {escape_controls(str(name)): escape_data(item) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [escape_data(item) for item in value]
    return value


def safe_text(text: str) -> str:
    """Page-derived text for a report line: personal data masked, controls escaped."""
    return escape_controls(mask_text(text))
