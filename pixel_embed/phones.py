"""What counts as a phone number in free text: the pattern of a run of digits and
separators, and the tests a match must pass (a country code and its length, North American
shapes, a valid national number of :data:`PHONE_REGIONS` by ``phonenumbers``' metadata; not a
date, an amount, a version, an ISBN). :mod:`pixel_embed.screening` finds and masks them.
"""

from __future__ import annotations

import functools
import re

import phonenumbers

#: The regions whose national numbers (written without a country code) are recognised, by
#: ``phonenumbers``' metadata: the largest TikTok markets and the formats of the corpus
#: (tests/corpora/pii_variants.jsonl). A number of another region is found when written with
#: ``+``, ``00`` or ``011``.
PHONE_REGIONS = (
    "US", "GB", "DE", "FR", "ES", "IT", "NL", "PL", "SE", "RU", "TR", "CN", "JP", "KR",
    "IN", "ID", "AU", "BR", "MX", "ZA", "NG", "EG", "SA", "VN", "PH",
)  # fmt: skip

# A run of digits with separators. Each separator is one of a few shapes that cannot match
# the same characters two ways, so a failed match backtracks once per digit at most. A dot
# between spaces ends a sentence ("call 810 12 34 56. 01.02.2024 …"), not a group.
_SEPARATOR = r"(?:\)[ -]?| ?[-/] ?|\.| \(?|\()"
_PHONE = re.compile(
    # "+" starts a number after anything but a digit or "+" (also after a word: form-encoded
    # text writes a space as "+", and a URL loses its line breaks), "(" after anything but a
    # word; a digit after neither a word nor a number and a separator (it would continue it)
    r"(?:(?<![0-9_+])\+|(?<![\w+])\(\+?|(?<![\w.-])(?<![0-9][ ./-]))"
    rf"[0-9](?:{_SEPARATOR}?[0-9]){{6,19}}"
    r"(?: ?(?:x|ext\.?|#) ?[0-9]{1,6})?"  # an extension
    r"(?![\w-]|[.,/][0-9])"
)
_EXTENSION = re.compile(r" ?(?:x|ext\.?|#) ?[0-9]{1,6}$")
_NOT_DIGIT = re.compile(r"[^0-9]+")
#: Seven digits in a row: a phone number, or an order number (free text lets it through).
DIGIT_RUN = re.compile(r"[0-9]{7}")
_NORTH_AMERICAN = re.compile(
    r"(?:1[ .-]?)?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[ ./-])[2-9][0-9]{2}[ .-]?[0-9]{4}"
)
# Not phone numbers, whatever a region's metadata says: a date (and an hour after it), a
# number grouped in thousands, coordinates, a decimal number or a version ("1.980.1518", in
# TikTok's own beacons), an id that starts with a year
# ("2024-000123", "INV/2024/00123") or an ISBN's 978/979.
_NOT_PHONE = re.compile(
    r"(?:19|20)[0-9]{2}[ ./-].*|97[89][0-9]?[ -].*|[0-9]+\.[0-9]+|[1-9][0-9]*(?:\.[0-9]+)+|"
    r"[0-9]{4}([-./])[0-9]{1,2}\1[0-9]{1,2}(?: [0-9]{1,2})?"
    r"|[0-9]{1,2}([-./])[0-9]{1,2}\2(?:[0-9]{2}|[0-9]{4})(?: [0-9]{1,2})?"
    r"|[1-9][0-9]{0,2}([ ,.'])[0-9]{3}(?:\3[0-9]{3})*"
    r"|[0-9]{1,3}\.[0-9]{3,} ?[-,]? ?[0-9]{1,3}\.[0-9]{3,}"
)
_SPACED_NINE = re.compile(r"[0-9]{3} [0-9]{3} [0-9]{3}")  # Spanish, Polish mobiles
_GROUPS = re.compile(r"[0-9]+")
# A national number must not be followed by a code of digits and letters ("AB 1234 5678 9GB").
_CODE_AFTER = re.compile(r" ?[-./]? ?[0-9]{1,8}[^\W\d]")
_TRAILING_COUNT = re.compile(r" [0-9]{1,2}$")
_LAST_GROUP = re.compile(r"[^0-9]+[0-9]+$")
_BRACKET = re.compile(r"[()]")
_INTERNATIONAL_DIGITS = range(7, 16)
_NATIONAL_DIGITS = range(7, 13)


def _is_phone(match: str) -> bool:
    number = _EXTENSION.sub("", match)
    digits = _NOT_DIGIT.sub("", number)
    if number[:1] == "+" or number[:2] == "(+":  # a run cut to nothing is no number
        return len(digits) in _INTERNATIONAL_DIGITS
    if digits[:3] == "011" and len(digits) - 3 in _INTERNATIONAL_DIGITS and digits[3] != "0":
        return True  # dialled from North America
    if digits[:2] == "00" and len(digits) - 2 in _INTERNATIONAL_DIGITS and digits[2] != "0":
        return True  # dialled from most of the world
    if _NORTH_AMERICAN.fullmatch(number):
        return True
    if len(digits) not in _NATIONAL_DIGITS:
        return False
    if _NOT_PHONE.fullmatch(number) and not _SPACED_NINE.fullmatch(number):
        return False
    groups = _GROUPS.findall(number)
    if len(groups) < 2 or min(len(group) for group in groups[1:]) < 2:
        return False  # a single run, or an ISBN's check digit
    return is_national_number(digits)


@functools.lru_cache(maxsize=4096)
def is_national_number(digits: str) -> bool:
    """Whether ``digits``, written without a country code, is a valid number of one of
    :data:`PHONE_REGIONS` (by ``phonenumbers``' metadata)."""
    for region, (prefix, lengths) in _region_lengths().items():
        significant = len(digits) - len(prefix) if prefix and digits.startswith(prefix) else None
        if len(digits) not in lengths and significant not in lengths:
            continue
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(digits, region)):
                return True
        except phonenumbers.NumberParseException:
            continue
    return False


@functools.cache
def _region_lengths() -> dict[str, tuple[str, frozenset[int]]]:
    # Each region's trunk prefix and the lengths its numbers can have: a number of another
    # length is not parsed at all (parsing costs ~25 us).
    lengths = {}
    for region in PHONE_REGIONS:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        if metadata is None or metadata.general_desc is None:
            continue
        possible = frozenset(metadata.general_desc.possible_length or ())
        lengths[region] = (metadata.national_prefix or "", possible)
    return lengths


_NOT_DIGIT_BYTES = bytes(b for b in range(256) if not 48 <= b <= 57)


def may_hold_phone(text: str) -> bool:
    """Whether ``text`` has the 7 ASCII digits every phone number has (a cheap first test)."""
    # Every phone number has 7 digits at least; few other texts have (product names,
    # queries), and counting them costs a tenth of a search with the patterns.
    return (
        len(text) >= 8
        and len(text.encode("ascii", "ignore").translate(None, _NOT_DIGIT_BYTES)) >= 7
    )


def _shorter_phone(number: str, after: str) -> str:
    """The phone number at the start of a longer run ``number`` (followed by ``after``):
    an international number followed by more digits ("+1 415 555 0100 00000"), a North
    American one followed by any number, or a number followed by a count ("call
    415-555-0100 2 times"; not by a check digit)."""
    if number[:1] == "+" or number[:2] == "(+":  # a run cut to nothing is no number
        for _ in range(3):
            number = _LAST_GROUP.sub("", number)
            if _is_phone(number):
                return number
        return ""
    shorter = _LAST_GROUP.sub("", number)
    if _NORTH_AMERICAN.fullmatch(shorter):  # a shape too strong to be anything else
        return shorter
    # A parenthesis inside the run opens another number or closes this one ("08-12 34 56
    # (0 12345 67890)", "010-6552 9988) 010-6552 9988"): the run is cut there, as a person
    # reads it.
    for bracket in reversed([match.start() for match in _BRACKET.finditer(number, 1)]):
        shorter = number[:bracket].rstrip(" ")  # the longest number first
        if _is_phone(shorter):
            return shorter
    shorter = _TRAILING_COUNT.sub("", number)
    if shorter != number and after[1:].isalpha() and _is_phone(shorter):
        return shorter
    return ""


def find_phones(read: str, first_only: bool = False) -> list[tuple[int, int]]:
    """Where the phone numbers of the normalised text ``read`` are (start, end), in order.

    :param first_only: stop at the first.
    """
    found: list[tuple[int, int]] = []
    at = 0
    while candidate := _PHONE.search(read, at):
        start = candidate.start()
        at = start + 1  # a run that is no phone may hold one ("$1,299.99 (201) 555-0123")
        number = candidate[0]
        if not _is_phone(number):
            number = _shorter_phone(number, read[candidate.end() : candidate.end() + 2])
            if not number:
                continue
        end = start + len(number)
        if (
            number[0] not in "+("
            and _CODE_AFTER.match(read, end)
            and not _NORTH_AMERICAN.match(number)
        ):
            continue
        found.append((start, end))
        at = end
        if first_only:
            return found
    return found
