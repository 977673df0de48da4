"""Find raw personal data where only SHA-256 digests belong: in the page's scripts and calls,
and in what TikTok's real SDK sent."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ..matching import HASHED_FIELDS, is_sha256
from ..screening import find_personal_data
from .recorder import RecordedCall
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


def pii_in_text(text: str, where: str) -> list[str]:
    """Raw e-mail addresses and phone numbers in ``text``, each described with ``where``.

    "Looks like" is the library's own definition (:mod:`pixel_embed.screening`): what the
    pixel lets through, this accepts; what it masks, this finds.
    """
    names = {"email": "e-mail address", "phone": "phone number"}
    return [f"{where}: {names[kind]} {value!r}" for kind, value in find_personal_data(text)]


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
    not digests, and any e-mail- or phone-looking string in a beacon's body."""
    found = []
    for number, beacon in enumerate(beacons, 1):
        where = f"beacon {number} ({beacon.event or '?'} to {beacon.endpoint})"
        for key in _WIRE_DIGESTS:
            value = beacon.user.get(key)
            if isinstance(value, str) and value and not is_sha256(value):
                found.append(f"{where} context.user.{key}: {value!r} is not a SHA-256 digest")
        found += pii_in_text(beacon.text, where)
    return found
