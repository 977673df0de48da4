"""What "looks like an e-mail address or a phone number" means in free text: THE one definition.

Event parameters are free text a site often takes from its visitors (a search query, a
message). :func:`find_personal_data` finds the e-mail addresses and phone numbers in such text,
:func:`mask_personal_data` replaces them with :data:`EMAIL_MARKER` / :data:`PHONE_MARKER`, and
:func:`scrub_url` takes them (and secrets) out of a URL. The QA kit's PII guard
(:mod:`pixel_embed.testing.pii`) uses the same definition, so what the library lets through
is what its own checks accept.

**An e-mail address** is a local part of 1 to 64 letters, digits or ``. _ % + -`` (not
continuing a longer such run), ``@``, then a domain: a letter or digit, then labels of letters,
digits, ``-`` or ``_`` joined by dots (at most 9), ending in a dot and a top-level domain of 2 to
63 *letters* (``jane@example.com``, ``j.doe+shop@mail.example.co.uk``). Letters include
accented ones (``jöhn@exämple.de``). ``@handle``, ``user@localhost`` and ``5@10.99`` are not.

**A phone number** is one of:

- international: ``+`` (not after a letter, digit or ``+``), then 7 to 15 digits, which may be
  separated by spaces, dots, hyphens, slashes or parentheses (``+12133734253``,
  ``+1 (213) 373-4253``, ``+44 20 7946 0958``);
- North American: ``(213) 373-4253``, ``213-373-4253``, ``213.373.4253``, ``213 373 4253``,
  optionally after ``1-`` (area code and exchange start with 2-9, as in NANP);
- national with a trunk ``0``: ``0`` and 1 to 4 digits, then 1 to 4 groups of 2 to 8 digits
  separated by a space, dot or hyphen, 9 to 12 digits in all (``020 7946 0958``,
  ``0412 345 678``, ``01 09 75 83 51``).

A number must not continue a word or a longer number (``SKU-415-555-0100``, ``ORD-2133734253``
and the groups of a UUID are not phones). A run of digits without ``+`` or separators
(``2133734253``) is *not* a phone number: it cannot be told from an order number.
Prices (``1299.99``, ``$1,299.99``), dates (``2024-01-15``, ``15/01/2024``, ``01.02.2024``),
ISO timestamps (``2024-01-15T10:30:00+02:00``), SKUs, order numbers and UUIDs pass untouched.

Digits are the ASCII digits 0-9. Every pattern is bounded (no unbounded repetition that can
backtrack), and text that cannot hold either (no ``@``, fewer than 7 digits) is let through
without running a regular expression at all: this runs for every string parameter of every
event.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

PersonalData = Literal["email", "phone"]

#: What replaces an e-mail address in masked text.
EMAIL_MARKER = "[email]"
#: What replaces a phone number in masked text.
PHONE_MARKER = "[phone]"

_LOCAL = r"[\w.%+-]"
_EMAIL = re.compile(
    rf"(?<!{_LOCAL}){_LOCAL}{{1,64}}@[^\W_](?:[\w-]{{0,62}})(?:\.[\w-]{{1,63}}){{0,8}}"
    r"\.[^\W\d_]{2,63}(?![\w-])"
)
_PHONE = re.compile(
    # international, +CC…
    r"(?<![\w+])\+[0-9][0-9 ./()\u00a0-]{5,28}[0-9](?![\w-]|[.,][0-9])"
    # North American, 3-3-4
    r"|(?<![\w+.-])(?:1[ .-]?)?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[ .-])[2-9][0-9]{2}[ .-]"
    r"[0-9]{4}(?![\w-]|[.,][0-9])"
    # national, with a trunk 0
    r"|(?<![\w+.-])0[0-9]{1,4}(?:[ .-][0-9]{2,8}){1,4}(?![\w-]|[.,:/][0-9])"
)
_NOT_DIGIT = re.compile(r"[^0-9]+")
# Every byte but the ASCII digits: ``bytes.translate`` deletes them to count digits fast.
_NOT_DIGIT_BYTES = bytes(b for b in range(256) if not 48 <= b <= 57)
# Digits a phone number may hold, by kind of match: see the module docstring.
_INTERNATIONAL_DIGITS = range(7, 16)
_NATIONAL_DIGITS = range(9, 13)


def _is_phone(match: str) -> bool:
    digits = len(_NOT_DIGIT.sub("", match))
    if match[0] == "+":
        return digits in _INTERNATIONAL_DIGITS
    if match[0] == "0":
        return digits in _NATIONAL_DIGITS
    return True  # the North American pattern fixes its digits itself


def _may_be_phone(text: str) -> bool:
    # Every phone number has 7 ASCII digits at least; few other texts have (product names,
    # queries), and counting them costs a tenth of a search with the patterns.
    return (
        len(text) >= 8
        and len(text.encode("utf-8", "surrogatepass").translate(None, _NOT_DIGIT_BYTES)) >= 7
    )


#: How an error describes text that :func:`is_encodable` refuses.
UNENCODABLE = "holds characters that cannot be encoded (a lone surrogate)"


def is_encodable(text: str) -> bool:
    """Whether ``text`` can be encoded as UTF-8: not when it holds a lone surrogate, which a
    JSON body (``"\\ud800"``) can carry into a Python string."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def find_personal_data(text: str) -> list[tuple[PersonalData, str]]:
    """The e-mail addresses and phone numbers in ``text``, in order, as ``(kind, text)``."""
    found: list[tuple[int, PersonalData, str]] = []
    if "@" in text:
        found += [(m.start(), "email", m.group()) for m in _EMAIL.finditer(text)]
    if _may_be_phone(text):
        found += [(m.start(), "phone", m[0]) for m in _PHONE.finditer(text) if _is_phone(m[0])]
    return [(kind, value) for _, kind, value in sorted(found)]


def holds_personal_data(text: str) -> bool:
    """Whether ``text`` holds something that looks like an e-mail address or phone number."""
    if "@" in text and _EMAIL.search(text):
        return True
    return _may_be_phone(text) and any(_is_phone(m[0]) for m in _PHONE.finditer(text))


# Short texts found clean lately (product names, SKUs, categories come back on every page):
# at most _MEMO_SIZE of at most _MEMO_LENGTH characters, emptied when full. Only clean text is
# kept, never personal data.
_MEMO_SIZE = 1024
_MEMO_LENGTH = 100
_clean_memo: dict[str, None] = {}


def replace_personal_data(
    text: str, email: Callable[[str], str], phone: Callable[[str], str]
) -> str:
    """``text`` with each e-mail address replaced by ``email(address)`` and each phone number
    by ``phone(number)``."""
    replaced = _EMAIL.sub(lambda m: email(m[0]), text) if "@" in text else text
    if _may_be_phone(replaced):
        replaced = _PHONE.sub(lambda m: phone(m[0]) if _is_phone(m[0]) else m[0], replaced)
    return replaced


def mask_personal_data(text: str) -> str:
    """``text`` with each e-mail address and phone number replaced by a marker
    (``"call [phone] or write to [email]"``); an equal string when it holds none."""
    if text in _clean_memo:
        return text
    masked = replace_personal_data(text, lambda _: EMAIL_MARKER, lambda _: PHONE_MARKER)
    if masked == text and len(text) <= _MEMO_LENGTH:
        if len(_clean_memo) >= _MEMO_SIZE:
            _clean_memo.clear()
        _clean_memo[text] = None
    return masked


# Query parameters a URL loses before it goes to TikTok: their name (split into words at
# punctuation and camelCase) holds one of these words, or their value looks like personal data.
SECRET_WORDS = frozenset(
    {
        "address",
        "apikey",
        "auth",
        "authorization",
        "birthday",
        "credential",
        "credentials",
        "dob",
        "email",
        "key",
        "mail",
        "mobile",
        "otp",
        "pass",
        "passcode",
        "passwd",
        "password",
        "phone",
        "pin",
        "postcode",
        "pwd",
        "secret",
        "session",
        "sessionid",
        "sid",
        "sig",
        "signature",
        "ssn",
        "tel",
        "telephone",
        "token",
        "zip",
    }
)
# Names that are secret only as a whole (``promo_code`` is not; OAuth's ``code`` is), or whose
# words are harmless apart (``first_name``): compared without punctuation, lower-cased.
SECRET_NAMES = frozenset(
    {"code", "firstname", "fullname", "lastname", "surname", "username", "accesstoken"}
)
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


def is_secret_parameter(name: str) -> bool:
    """Whether a query parameter's name says it holds a secret or personal data: one of its
    words (split at punctuation and camelCase) is in :data:`SECRET_WORDS`, or the whole name
    is in :data:`SECRET_NAMES` (``reset_token``, ``accessToken``, ``e-mail``, ``api_key``,
    ``first_name``, ``code``)."""
    words = [word.lower() for word in _WORDS.findall(name[:100])]
    squashed = "".join(words)
    return (
        not SECRET_WORDS.isdisjoint(words) or squashed in SECRET_NAMES or squashed in SECRET_WORDS
    )


def scrub_url(url: str | None) -> str | None:
    """``url`` without what must not leave the site: user name and password, the fragment,
    query parameters whose name is in :data:`SECRET_WORDS` or whose name or value looks like
    personal data; e-mail addresses and phone numbers in the path are masked.

    A URL that cannot be parsed is left out (``None``).
    """
    if not url:
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return None
    if ":" in host:  # IPv6
        host = f"[{host}]"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        kept = [
            (name, value)
            for name, value in pairs
            if not is_secret_parameter(name)
            and not holds_personal_data(value)
            and not holds_personal_data(name)
        ]
        if len(kept) != len(pairs):
            query = urlencode(kept)
    return urlunsplit((parts.scheme, host + port, mask_personal_data(parts.path), query, ""))
