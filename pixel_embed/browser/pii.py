"""Find raw personal data where only SHA-256 digests belong: in the page's scripts and calls,
and in what TikTok's real SDK sent."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from ..matching import HASHED_FIELDS, is_sha256
from ..screening import find_personal_data, personal_data_in_url
from .calls import RecordedCall
from .wire import WireEvent

_PII_KEYS = frozenset({*HASHED_FIELDS, "phone", "sha256_email", "sha256_phone_number"})


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


_NAMES = {"email": "e-mail address", "phone": "phone number"}


def pii_in_text(text: str, where: str) -> list[str]:
    """Raw e-mail addresses and phone numbers in ``text``, each described with ``where``.

    "Looks like" is the library's own definition (:mod:`pixel_embed.screening`): what the
    pixel lets through, this accepts; what it masks, this finds.
    """
    return [f"{where}: {_NAMES[kind]} {value!r}" for kind, value in find_personal_data(text)]


def pii_in_calls(calls: Iterable[RecordedCall]) -> list[str]:
    """Raw personal data in recorded calls: identity fields that are not digests, and any
    e-mail- or phone-looking string among the arguments."""
    found = []
    for number, call in enumerate(calls, 1):
        where = f"call {number} ttq.{call.method}"
        for path, text in _strings(list(call.args), "args"):
            key = path.rsplit(".", 1)[-1].split("[", 1)[0]
            if (
                key in _PII_KEYS
                and key not in ("city", "state", "country")
                and text.strip()  # an empty field is not personal data
                and not is_sha256(text)
            ):
                found.append(f"{where} {path}: {text!r} is not a SHA-256 digest")
            else:
                found += pii_in_text(text, f"{where} {path}")
    return found


#: The identity fields of a beacon's ``context.user`` that must be digests.
_WIRE_DIGESTS = ("email", "phone_number", "auto_email", "auto_phone_number")


def pii_in_beacons(beacons: Iterable[WireEvent]) -> list[str]:
    """Raw personal data in what TikTok's SDK sent: identity values in ``context.user`` that are
    not digests, personal data in the page's URL or referrer (``context.page.url``: a search
    form's ``?q=jane%40example.com``), and any e-mail- or phone-looking string in a beacon's
    body."""
    found = []
    for number, beacon in enumerate(beacons, 1):
        where = f"beacon {number} ({beacon.event or '?'} to {beacon.endpoint})"
        for key in _WIRE_DIGESTS:
            value = beacon.user.get(key)
            if isinstance(value, str) and value and not is_sha256(value):
                found.append(f"{where} context.user.{key}: {value!r} is not a SHA-256 digest")
        in_urls = pii_in_urls(beacon, where)
        found += in_urls
        urls = " ".join(_page_urls(beacon)) if in_urls else ""
        # What the URLs' findings named already is not listed again as loose text.
        found += [
            f"{where}: {_NAMES[kind]} {value!r}"
            for kind, value in find_personal_data(beacon.text)
            if not (urls and (value in urls or unquote(value) in unquote(urls)))
        ]
    return found


def _page_urls(beacon: WireEvent) -> list[str]:
    page = beacon.context.get("page")
    if not isinstance(page, dict):
        return []
    return [url for key in ("url", "referrer") if isinstance(url := page.get(key), str) and url]


_URL_NAMES = {"email": "an e-mail address", "phone": "a phone number"}


def pii_in_urls(beacon: WireEvent, where: str) -> list[str]:
    """Personal data in the URLs a beacon reports: ``context.page.url`` and ``referrer``,
    each place named (the query parameter, or the path)."""
    page = beacon.context.get("page")
    if not isinstance(page, dict):
        return []
    found = []
    for key in ("url", "referrer"):
        url = page.get(key)
        if not isinstance(url, str) or not url:
            continue
        try:
            parts = urlsplit(url)
        except ValueError:
            continue
        for place, kind in personal_data_in_url(parts.path, parts.query):
            named = "the path" if place == "path" else f"query parameter {place!r}"
            found.append(
                f"{where} context.page.{key}: {_URL_NAMES[kind]} in {named} of {url!r} "
                "(TikTok receives the page's URL: send the form with POST, or keep it out "
                "of the address)"
            )
    return found


class AutoCollectedIdentity(UserWarning):
    """The QA kit's ``pixel_page`` saw TikTok's SDK collect an identity from the page by itself
    (see :func:`auto_collected`); ``expect_pixel(page).not_to_have_auto_collected()`` fails on
    it."""


#: ``signal_diagnostic_labels`` of a beacon whose identity TikTok's SDK collected by itself.
_AUTO_LABELS = {"raw_auto_email": "an e-mail address", "raw_auto_phone": "a phone number"}


def auto_collected(beacons: Iterable[WireEvent]) -> list[str]:
    """Identities TikTok's SDK collected by itself from the page's forms (automatic advanced
    matching, on in Events Manager): on a form about someone else (a CRM's "new contact",
    a gift's recipient) it attaches *their* e-mail address to the visitor's events."""
    found = []
    for number, beacon in enumerate(beacons, 1):
        labels = beacon.signal_labels
        kinds = [name for label, name in _AUTO_LABELS.items() if labels.get(label) == "valid"]
        for key, name in (
            ("auto_email", "an e-mail address"),
            ("auto_phone_number", "a phone number"),
        ):
            if beacon.user.get(key) and name not in kinds:
                kinds.append(name)
        if kinds:
            found.append(
                f"beacon {number} ({beacon.event or '?'}): TikTok's SDK collected "
                f"{' and '.join(kinds)} from the page by itself (automatic advanced matching)"
            )
    return found
