"""Rules about what ``ttq.identify`` is given beyond its shape: an identity shared by every
visitor (the digest of an empty or placeholder value), fields TikTok does not read from the
page (the IP address, the user agent), and an identity given after the page view went out."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from ..redact import IDENTITY_KEYS
from .evidence import Evidence, Finding

# What templates and scripts write when they have no value: each is one identity for everyone.
_JUNK_WORDS = (
    "",
    "null",
    "undefined",
    "none",
    "nil",
    "0",
    "false",
    "nan",
    "[object object]",
    "guest",
    "anonymous",
    "test@test.com",
    "email@example.com",
    "user@example.com",
    "test@example.com",
    "noreply@example.com",
    "no-reply@example.com",
    "guest@example.com",
    "{{ customer.email }}",
    "{{customer.email}}",
)


def _variants(word: str) -> set[str]:
    return {word, word.upper(), word.capitalize(), word.title(), f" {word} "}


#: SHA-256 digest (lower case) → the junk value it is the digest of.
JUNK_DIGESTS: dict[str, str] = {
    hashlib.sha256(variant.encode()).hexdigest(): word or "the empty string"
    for word in _JUNK_WORDS
    for variant in _variants(word)
}
# Keys a page passes to identify that TikTok does not read there (its SDK reads both itself).
_IP_KEYS = frozenset({"ip", "ip_address", "ipaddress", "client_ip", "client_ip_address"})
_UA_KEYS = frozenset({"user_agent", "useragent", "ua", "client_user_agent"})


def _junk(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.lower() in JUNK_DIGESTS:
        return f"the SHA-256 of {JUNK_DIGESTS[text.lower()]!r}"
    if text and text.lower() in _JUNK_WORDS:
        return repr(text)
    return None


def junk_identity(evidence: Evidence) -> Iterator[Finding]:
    """An identity field whose value is the same for every visitor: the digest of ``""``,
    ``"null"``, ``"undefined"``, ``"0"``, a placeholder address (in any letter case), or such a
    value itself. TikTok then matches every visitor who gets it to one person."""
    for page, number, call in evidence.numbered():
        if call.method != "identify":
            continue
        for key, value in call.params.items():
            what = _junk(value) if key in IDENTITY_KEYS else None
            if what is not None:
                yield Finding(
                    "junk-identity",
                    "error",
                    f"ttq.identify sends {key} as {what}: every visitor without one is the same "
                    "person to TikTok; leave the field out when you have no value",
                    number,
                    page.url,
                )


def identify_ip_ua(evidence: Evidence) -> Iterator[Finding]:
    """``ttq.identify({ip: …, user_agent: …})``: not fields TikTok reads from the page (its
    SDK reads both itself), and the visitor's address written into the page."""
    for page, number, call in evidence.numbered():
        if call.method != "identify":
            continue
        keys = sorted(k for k in call.params if k.lower() in _IP_KEYS | _UA_KEYS)
        if keys:
            yield Finding(
                "identify-ip-ua",
                "error",
                f"ttq.identify is given {', '.join(keys)}: TikTok's SDK reads the IP address and "
                "user agent itself and ignores these fields; writing them into the page puts the "
                "visitor's address in its HTML (cached pages show it to the next visitor). "
                "Remove them; send them with the Events API from your server instead",
                number,
                page.url,
            )


def identify_after_page(evidence: Evidence) -> Iterator[Finding]:
    """``ttq.identify`` made live after ``ttq.page()`` (same page load, same pixel): the page
    view has gone out without the identity. Both queued in TikTok's stub before its SDK
    arrived is fine: the SDK replays them together, and the page view carries the identity
    (measured with TikTok's real SDK)."""
    for page in evidence.pages:
        if len(page.live) != len(page.calls):
            continue  # the audit cannot tell queued from live calls on this page
        viewed: dict[str | None, int] = {}
        for (number, call), live in zip(page.numbered(), page.live, strict=True):
            if call.method == "page":
                viewed.setdefault(call.pixel, number)
            elif call.method == "identify" and call.params and live and call.pixel in viewed:
                yield Finding(
                    "identify-after-page",
                    "warning",
                    f"ttq.identify runs after ttq.page() (call {viewed[call.pixel]}) had gone "
                    "out: the page view carries no matching; call ttq.identify before "
                    "ttq.page(), or in the same script before TikTok's SDK loads",
                    number,
                    page.url,
                )
                break
