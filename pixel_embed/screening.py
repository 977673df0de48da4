# ruff: noqa: RUF002 (look-alike characters are what the screen reads)
"""What "looks like an e-mail address or a phone number" in free text means: THE one definition.

Event parameters are free text a site often takes from its visitors (a search query, a
message). :func:`find_personal_data` finds the e-mail addresses and phone numbers in such text,
:func:`mask_personal_data` replaces them with :data:`EMAIL_MARKER` / :data:`PHONE_MARKER`, and
:func:`scrub_url` takes them (and secrets) out of a URL; what counts as a phone number is
:mod:`pixel_embed.phones`'s. The QA kit's PII guard
(:mod:`pixel_embed.testing.pii`) and the audit use the same definition, so what the library
lets through is what its own checks accept.

**Text is read as people type it.** The patterns run on a normalised copy, and what they find
is masked in the original: each character is NFKC-normalised (full-width at signs, plus signs
and digits become ``@``, ``+`` and ``0-9``), digits of every script become ASCII digits, format
characters (zero-width spaces and joiners, soft hyphens, byte-order marks) and combining marks
are dropped, Unicode spaces become a space and Unicode dashes a hyphen; ``%XX`` escapes are
decoded (``jane%40example.com``), and ``(at)``, ``[at]``, ``(dot)``, ``[dot]`` read as ``@``
and ``.``.

**An e-mail address** is a local part of letters, digits or ``. _ % + -`` (of any length: a
long run before the address is masked with it), ``@`` (a space on either side allowed), then a
domain: a letter or digit, then labels of letters, digits, ``-`` or ``_`` joined by dots (at
most 9), ending in a dot and a top-level domain of 2 to 63 *letters* (``jane@example.com``,
``j.doe+shop@mail.example.co.uk``, ``jöhn@exämple.de``). ``@handle``, ``user@localhost``,
``5@10.99`` and image names such as ``icon@2x.png`` are not.

**A phone number** is a run of digits with separators (spaces, dots, hyphens, slashes,
parentheses), optionally with an extension (``x23``, ``ext. 23``), that is one of:

- international: ``+``, ``00`` or ``011`` and then 7 to 15 digits (``+44 20 7946 0958``,
  ``0044 20 7946 0958``, ``011 44 20 7946 0958``);
- North American: ``(213) 373-4253``, ``(213)3734253``, ``213-373-4253``, ``213.373.4253``,
  optionally after ``1-`` (area code and exchange start with 2-9, as in NANP);
- national: 7 to 12 digits in at least two groups (or with parentheses) that
  ``phonenumbers``' metadata calls a valid number of one of :data:`PHONE_REGIONS`
  (``138 0013 8000`` in China, ``(11) 91234-5678`` in Brazil, ``030/12345678`` in Germany,
  ``01 09 75 83 51`` in France) and that is not a date, a time or a number grouped in
  thousands (``1 000 000 000``).

A number must not continue a word or a longer number (``SKU-415-555-0100``, ``ORD-2133734253``,
the groups of a UUID, ``1Z 999 AA1 01 2345 6784``). A run of digits without ``+`` or separators
(``2133734253``) is *not* a phone number: it cannot be told from an order number.

Every pattern is bounded (no unbounded repetition that can backtrack), and text that cannot
hold either (no ``@``, fewer than 7 digits once normalised) is let through without running a
pattern: this runs for every string parameter of every event.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from typing import Literal
from urllib.parse import unquote, unquote_plus, unquote_to_bytes, urlencode, urlsplit, urlunsplit

from .phones import DIGIT_RUN, find_phones
from .phones import PHONE_REGIONS as PHONE_REGIONS
from .phones import is_national_number as is_national_number
from .phones import may_hold_phone as may_hold_phone

PersonalData = Literal["email", "phone"]

#: What replaces an e-mail address in masked text.
EMAIL_MARKER = "[email]"
#: What replaces a phone number in masked text.
PHONE_MARKER = "[phone]"

# -- the normalised copy -------------------------------------------------------------------------

# The planes scanned for characters the copy changes: the Basic and Supplementary Multilingual
# Planes and the tags and variation selectors (plane 14); the ideographic planes 2-3 hold no
# digit, space, dash, "@" or format character.
_SCANNED = (range(0x80, 0x20000), range(0xE0000, 0xE1000))


def _read_char(char: str) -> str:
    """What one character is in the normalised copy."""
    category = unicodedata.category(char)
    if category in ("Cf", "Mn", "Mc", "Me"):  # zero-width, soft hyphen, BOM, combining marks
        return ""
    if category == "Zs" or char in "\u2028\u2029\x85":
        return " "
    if category == "Pd" or char == "\u2212":  # dashes, the minus sign
        return "-"
    if category == "Nd":  # a digit of any script
        return str(unicodedata.decimal(char))
    if char in "\u3002\uff61":  # ideographic full stops, as CJK input methods type them
        return "."
    return unicodedata.normalize("NFKC", char)


@functools.cache
def _changed() -> tuple[dict[str, str], dict[int, str]]:
    """What each character the copy changes becomes, also as a table for ``str.translate``.
    Built on first use, in about 0.1 s."""
    table = {}
    for block in _SCANNED:
        for point in block:
            char = chr(point)
            if unicodedata.category(char) not in ("Cn", "Co", "Cs"):
                read = _read_char(char)
                if read != char:
                    table[char] = read
    return table, {ord(char): read for char, read in table.items()}


_PERCENT = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
# Text encoded once, twice or three times is read: a search for "jane%40example.com" is
# "q=jane%2540example.com" in the address.
_PERCENT_LEVELS = 3
# Escapes of JSON and of Python's repr: "\\uff20" is a full-width "@", "\\n" a line break.
_ESCAPE = re.compile(r"\\(?:u[0-9A-Fa-f]{4}|x[0-9A-Fa-f]{2}|[nrt])")
# "jane (at) example [dot] com": brackets of any kind, spaces inside and around.
_SPELLED = re.compile(r" ?[(\[{<] ?(at|dot) ?[)\]}>] ?", re.IGNORECASE)


class _Copy:
    """``text`` normalised as :func:`_read` does it, with where each of its characters came
    from: ``starts[i]`` to ``ends[i]`` in the original."""

    __slots__ = ("ends", "starts", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = list(range(len(text)))
        self.ends = list(range(1, len(text) + 1))
        for _ in range(_PERCENT_LEVELS):  # "%2540" is an "@" encoded twice
            if "%" not in self.text or not _PERCENT.search(self.text):
                break
            self._sub(_PERCENT, _decoded)
        if "\\" in self.text:
            self._sub(_ESCAPE, _unescaped)
        if not self.text.isascii():
            table = _changed()[0]
            reads = [table.get(char, char) for char in self.text]
            source = [index for index, read in enumerate(reads) for _ in read]
            self.text = "".join(reads)
            self.starts = [self.starts[index] for index in source]
            self.ends = [self.ends[index] for index in source]
        if _SPELLED.search(self.text):
            self._sub(_SPELLED, _spelled)

    def _sub(self, pattern: re.Pattern[str], replace: Callable[[re.Match[str]], str]) -> None:
        text, starts, ends = self.text, self.starts, self.ends
        parts: list[str] = []
        new_starts: list[int] = []
        new_ends: list[int] = []
        done = 0
        for match in pattern.finditer(text):
            start, end = match.span()
            read = replace(match)
            parts += (text[done:start], read)
            new_starts += starts[done:start] + [starts[start]] * len(read)
            new_ends += ends[done:start] + [ends[end - 1]] * len(read)
            done = end
        parts.append(text[done:])
        self.text = "".join(parts)
        self.starts = new_starts + starts[done:]
        self.ends = new_ends + ends[done:]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Where the copy's ``text[start:end]`` is in the original."""
        return self.starts[start], self.ends[end - 1]


# -- e-mail addresses ----------------------------------------------------------------------------

_LOCAL = r"[\w.%+-]"
# The local part has no length cap: a cap let a long run of word characters ("hello+i+am+
# writing+...+jane@example.com", a URL slug) hide the address. A run starts only where the
# previous character cannot continue it, so each run is read once: linear in the text.
_EMAIL = re.compile(
    rf"(?<!{_LOCAL}){_LOCAL}+ ?@ ?([^\W_][\w-]{{0,62}}(?:\.[\w-]{{1,63}}){{0,8}}"
    r"\.[^\W\d_]{2,63})(?![^\W\d]|-)"  # digits right after the domain: still an address
)
# "icon@2x.png", "hero@1.5x.webp": image names for high-resolution screens.
_RETINA = re.compile(r"[0-9]+(?:\.[0-9]+)?x\.[A-Za-z]{3,4}")

# -- finding -------------------------------------------------------------------------------------

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


def _decoded(match: re.Match[str]) -> str:
    return unquote_to_bytes(match[0]).decode("utf-8", "replace")


def _unescaped(match: re.Match[str]) -> str:
    escape = match[0]
    return " " if escape[1] in "nrt" else chr(int(escape[2:], 16))


def _spelled(match: re.Match[str]) -> str:
    return "@" if match[1].lower() == "at" else "."


def _read(text: str) -> str:
    """The normalised copy of ``text`` alone, fast: what :class:`_Copy` writes, without where
    each character came from (needed only once something is found)."""
    read = text
    for _ in range(_PERCENT_LEVELS):  # "%2540" is an "@" encoded twice
        if "%" not in read:
            break
        read = _PERCENT.sub(_decoded, read)
    if "\\" in read:
        read = _ESCAPE.sub(_unescaped, read)
    if not read.isascii():
        read = read.translate(_changed()[1])
    if ("(" in read or "[" in read or "{" in read or "<" in read) and _SPELLED.search(read):
        read = _SPELLED.sub(_spelled, read)
    return read


def _found(text: str, first_only: bool = False) -> list[tuple[int, int, PersonalData]]:
    """Where the e-mail addresses and phone numbers of ``text`` are, in the original."""
    return [(start, end, kind) for start, end, kind, _ in _found_read(text, first_only)]


def _found_read(text: str, first_only: bool = False) -> list[tuple[int, int, PersonalData, str]]:
    """:func:`_found`, with each match as the normalised copy reads it (``jane@example.com``
    for ``ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ``)."""
    read = _read(text)
    found = _found_in(read, first_only)
    if not found or read is text or first_only:
        return [(start, end, kind, read[start:end]) for start, end, kind in found]
    copy = _Copy(text)
    return [
        (*copy.span(start, end), kind, copy.text[start:end])
        for start, end, kind in _found_in(copy.text)
    ]


def _found_in(read: str, first_only: bool = False) -> list[tuple[int, int, PersonalData]]:
    """Where the e-mail addresses and phone numbers of the normalised ``read`` are."""
    found: list[tuple[int, int, PersonalData]] = []
    if "@" in read:
        for match in _EMAIL.finditer(read):
            if _RETINA.fullmatch(match[1]):
                continue
            found.append((*match.span(), "email"))
            if first_only:
                return found
    if may_hold_phone(read):
        for start, end in find_phones(read, first_only):
            found.append((start, end, "phone"))
            if first_only:
                return found
    found.sort()
    return found


def find_personal_data(text: str) -> list[tuple[PersonalData, str]]:
    """The e-mail addresses and phone numbers in ``text``, in order, as ``(kind, text)``:
    the text as it is written in ``text``."""
    return [(kind, text[start:end]) for start, end, kind in _found(text)]


def holds_personal_data(text: str, *, digit_runs: bool = False) -> bool:
    """Whether ``text`` holds something that looks like an e-mail address or phone number.

    :param digit_runs: also a bare run of 7 or more digits (``4155550100``), which free text
        lets through (an order number looks the same) but a city or state cannot hold.
    """
    if digit_runs and DIGIT_RUN.search(_read(text)):
        return True
    return bool(_found(text, first_only=True))


_MEMO_SIZE = 1024
_MEMO_LENGTH = 100
#: Short texts found clean lately (product names, SKUs, categories come back on every page):
#: at most 1,024 of at most 100 characters, emptied when full. Only clean text is kept, never
#: personal data. A text in it needs no :func:`mask_personal_data` (the validation of event
#: parameters looks here first, without the call). Read it; only this module writes it.
KNOWN_CLEAN: dict[str, None] = {}


def replace_personal_data(
    text: str, email: Callable[[str], str], phone: Callable[[str], str]
) -> str:
    """``text`` with each e-mail address replaced by ``email(address)`` and each phone number
    by ``phone(number)``: the whole of what was found is replaced, and the functions get it as
    the screen reads it (``jane@example.com`` for ``ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ`` or
    ``jane%40example.com``), so that a partial mask (``j***@example.com``) cannot keep the
    original's look-alike characters."""
    parts = []
    done = 0
    for start, end, kind, read in _found_read(text):
        if start < done:  # overlaps the previous match: masked with it
            done = max(done, end)
            continue
        parts.append(text[done:start])
        parts.append(email(read) if kind == "email" else phone(read))
        done = end
    if not done:
        return text
    parts.append(text[done:])
    return "".join(parts)


def mask_personal_data(text: str) -> str:
    """``text`` with each e-mail address and phone number replaced by a marker
    (``"call [phone] or write to [email]"``); an equal string when it holds none."""
    if text in KNOWN_CLEAN:
        return text
    masked = replace_personal_data(text, lambda _: EMAIL_MARKER, lambda _: PHONE_MARKER)
    if masked == text and len(text) <= _MEMO_LENGTH:
        if len(KNOWN_CLEAN) >= _MEMO_SIZE:
            KNOWN_CLEAN.clear()
        KNOWN_CLEAN[text] = None
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
        pieces = [piece for piece in query.split("&") if piece]
        # A form writes a space as "+", and that is how the value is read; a link typed by
        # hand means a "+" ("?to=+14155550100"): a value is screened both ways.
        kept = [
            (unquote_plus(name), unquote_plus(value))
            for name, _, value in (piece.partition("=") for piece in pieces)
            if not is_secret_parameter(unquote_plus(name))
            and not holds_personal_data(unquote_plus(value))
            and not ("+" in value and holds_personal_data(unquote(value)))
            and not holds_personal_data(unquote_plus(name))
        ]
        if len(kept) != len(pieces):
            query = urlencode(kept)
    return urlunsplit((parts.scheme, host + port, mask_personal_data(parts.path), query, ""))


def personal_data_in_url(path: str, query: str = "") -> list[tuple[str, PersonalData]]:
    """Where a URL holds an e-mail address or phone number, as ``(place, kind)``: ``"path"``,
    or the name of the query parameter whose value holds it (``"q"``), or ``"a parameter
    name"``; each place once, in order. The URL is not repeated: a place names where to look.

    :param path: the URL's path (percent-encoded or not).
    :param query: the URL's query string, without ``?`` (as the browser sent it).
    """
    found: list[tuple[str, PersonalData]] = []
    for _, _, kind in _found(path)[:1]:
        found.append(("path", kind))
    for piece in query.split("&") if query else ():
        name, _, value = piece.partition("=")
        # A form writes a space as "+"; a link typed by hand means a "+": read both ways.
        hits = _found(unquote_plus(value), first_only=True) or (
            _found(unquote(value), first_only=True) if "+" in value else []
        )
        if hits:
            found.append((unquote_plus(name), hits[0][2]))
        elif holds_personal_data(unquote_plus(name)):
            found.append(("a parameter name", "phone" if "@" not in name else "email"))
    return list(dict.fromkeys(found))
