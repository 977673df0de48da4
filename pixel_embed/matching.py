"""Advanced matching: normalise personal data and hash it with SHA-256 on the server.

TikTok matches a browser to a TikTok user by the SHA-256 of normalised identifiers. Hashing here,
before rendering, means no raw e-mail address or phone number ever reaches the page source.

A value that already is a SHA-256 hex digest is passed through (lower-cased), never hashed twice,
so a site that stores hashes can hand them over as they are.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import cast

import phonenumbers

from .errors import InvalidEmail, InvalidIdentity, InvalidPhoneNumber
from .screening import UNENCODABLE, holds_personal_data, is_encodable

_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
# Deliberately loose: one "@", no white space, a dot in the domain. Deliverability is the
# site's business; the shape check only catches values that cannot be an address at all.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_REGION = re.compile(r"[A-Za-z]{2}")

#: The longest raw value of each field, white space included: an e-mail address as RFC 5321
#: allows it, room for a SHA-256 digest (64 hex digits) in every hashed field, and more than
#: any real name, city or id. A longer value is refused before it is parsed or hashed.
MAX_LENGTHS: dict[str, int] = {
    "email": 254,
    "phone_number": 128,
    "external_id": 256,
    "first_name": 128,
    "last_name": 128,
    "city": 128,
    "state": 128,
    "country": 128,
    "zip_code": 128,
}
# An integer external id or postal code longer than this is not one (and Python refuses to
# write one over 4300 digits).
_MAX_INT_BITS = 800


def _checked(field: str, value: str, error: type[InvalidIdentity] = InvalidIdentity) -> str:
    """``value`` if its length is within :data:`MAX_LENGTHS` and it can be encoded as UTF-8."""
    if len(value) > MAX_LENGTHS[field]:
        raise error(field, value, f"is longer than {MAX_LENGTHS[field]} characters")
    if not is_encodable(value):
        raise error(field, value, UNENCODABLE)
    return value


def _integer(field: str, value: int) -> str:
    if value.bit_length() > _MAX_INT_BITS:
        raise InvalidIdentity(field, value, f"is too large a number to be a {field}")
    return str(value)


def is_region_code(value: object) -> bool:
    """Whether ``value`` has the form of an ISO 3166-1 alpha-2 code (``US``, ``gb``)."""
    return isinstance(value, str) and _REGION.fullmatch(value) is not None


def is_sha256(value: str) -> bool:
    """Whether ``value`` already is a SHA-256 hex digest (64 hexadecimal characters)."""
    return _SHA256_HEX.fullmatch(value) is not None


def sha256_hex(value: str) -> str:
    """The SHA-256 hex digest of ``value`` encoded as UTF-8."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _text(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidIdentity(field, value, f"must be a string, not {type(value).__name__}")
    text = _checked(field, value).strip()
    if not text:
        raise InvalidIdentity(field, value, "is empty")
    return text


def normalize_email(value: str) -> str:
    """Trim and lower-case an e-mail address, as TikTok requires before hashing.

    :raises InvalidEmail: the value is not of the form ``local@domain.tld``.
    """
    if not isinstance(value, str):
        raise InvalidEmail("email", value, f"must be a string, not {type(value).__name__}")
    email = _checked("email", value, InvalidEmail).strip().lower()
    if not _EMAIL.fullmatch(email):
        raise InvalidEmail("email", value, "is not an e-mail address")
    return email


def normalize_phone(value: str, region: str | None = None) -> str:
    """Parse a phone number and format it as E.164 (``+12133734253``).

    :param region: ISO 3166 alpha-2 code for numbers written without a country code.
    :raises InvalidPhoneNumber: the number cannot be parsed or is not valid for its region.
    """
    if not isinstance(value, str):
        raise InvalidPhoneNumber(
            "phone_number", value, f"must be a string, not {type(value).__name__}"
        )
    _checked("phone_number", value, InvalidPhoneNumber)
    if region is not None and not is_region_code(region):
        raise InvalidPhoneNumber(
            "phone_number", value, f"cannot be read with region {region!r} (not a 2-letter code)"
        )
    return _parse_phone(value, region.upper() if region else None)


# Parsing with phonenumbers costs ~25 us; a logged-in visitor is identified on every page, so
# the same few numbers come back again and again. Valid numbers only are cached.
@functools.lru_cache(maxsize=4096)
def _parse_phone(value: str, region: str | None) -> str:
    where = f"region {region}" if region else "an international number"
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            problem = (
                "has an unknown country code"
                if region is not None or value.lstrip().startswith("+")
                else "has no country code; write it as +<country code> or set "
                "TIKTOK_PIXEL_DEFAULT_REGION"
            )
        else:
            problem = f"is not a valid number for {where}"
        raise InvalidPhoneNumber("phone_number", value, problem) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber("phone_number", value, f"is not a valid number for {where}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_external_id(value: str | int) -> str:
    """Trim an external id (the site's own user id); integers are written in decimal."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _integer("external_id", value)
    return _text("external_id", value)


def _squeezed(field: str, value: object, drop: re.Pattern[str]) -> str:
    raw = _text(field, value)
    if field in CLEAR_FIELDS and holds_personal_data(raw, digit_runs=True):
        raise InvalidIdentity(
            field,
            value,
            "looks like an e-mail address, a phone number or a run of 7 or more digits, and "
            "this field is sent in clear",
        )
    text = drop.sub("", unicodedata.normalize("NFC", raw).lower())
    if not text:
        raise InvalidIdentity(field, value, "has no letters or digits")
    return text


# The rules below for names, address and postal code follow TikTok's own integrations, since
# TikTok's pixel pages give none beyond "lower-case, without punctuation" for names:
# - Segment's TikTok Pixel destination (segmentio/action-destinations,
#   browser-destinations/destinations/tiktok-pixel/src/formatter.ts): first_name, last_name and
#   zip_code lose white space and are lower-cased; city, state and country lose everything but
#   letters and digits and are lower-cased. Its field text: "The name should be in lowercase
#   without any punctuation. Special characters are allowed."
# - TikTok's WooCommerce plugin and Segment's TikTok Conversions destination hash names and
#   postal code, but send city, state and country in clear: they are coarse, not identifying.
_SPACE_AND_PUNCTUATION = re.compile(r"[\W_]+")
_SPACE = re.compile(r"\s+")


def normalize_name(value: str, field: str = "first_name") -> str:
    """Lower-case a first or last name and drop spaces and punctuation (accents are kept)."""
    return _squeezed(field, value, _SPACE_AND_PUNCTUATION)


def normalize_city(value: str) -> str:
    """Lower-case a city, without spaces or punctuation (``San Francisco`` → ``sanfrancisco``)."""
    return _squeezed("city", value, _SPACE_AND_PUNCTUATION)


def normalize_state(value: str) -> str:
    """Lower-case a state or province and drop spaces and punctuation (best as a code: ``ca``)."""
    return _squeezed("state", value, _SPACE_AND_PUNCTUATION)


def normalize_country(value: str) -> str:
    """Lower-case an ISO 3166-1 alpha-2 country code (``US`` → ``us``)."""
    text = _text("country", value)
    if not is_region_code(text):
        raise InvalidIdentity("country", value, "is not an ISO 3166-1 alpha-2 code such as 'US'")
    return text.lower()


def normalize_zip_code(value: str | int) -> str:
    """Lower-case a postal code and drop white space (``"SW1A 1AA"`` → ``sw1a1aa``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = _integer("zip_code", value)
    return _squeezed("zip_code", value, _SPACE)


def _us_zip_code(value: str, _region: str | None = None) -> str:
    # TikTok's SDK hashes the first 5 characters of a zip_code identified with country "us"
    # (ZIP+4 "12345-6789" as "12345"): the browser and the Events API must send that same hash.
    return normalize_zip_code(value)[:5]


# identify()'s normaliser of each field, taking the value and the region for phone numbers.
_NORMALIZERS: dict[str, Callable[[str, str | None], str]] = {
    "email": lambda v, _: normalize_email(v),
    "phone_number": normalize_phone,
    "external_id": lambda v, _: normalize_external_id(v),
    "first_name": lambda v, _: normalize_name(v, "first_name"),
    "last_name": lambda v, _: normalize_name(v, "last_name"),
    "city": lambda v, _: normalize_city(v),
    "state": lambda v, _: normalize_state(v),
    "country": lambda v, _: normalize_country(v),
    "zip_code": lambda v, _: normalize_zip_code(v),
}


def normalize_field(field: str, value: str, region: str | None = None) -> str:
    """``value`` normalised as ``identify(**{field: value})`` normalises it before hashing.

    :param region: for a phone number given without its country code.
    :raises KeyError: ``field`` is not an identity field.
    """
    return _NORMALIZERS[field](value, region)


def _hash(
    value: str, normalize: Callable[[str, str | None], str], region: str | None = None
) -> str:
    if isinstance(value, str) and len(value) <= 256 and is_sha256(value.strip()):
        return value.strip().lower()
    return sha256_hex(normalize(value, region))


def hash_email(value: str) -> str:
    """SHA-256 of the normalised e-mail address (a digest is passed through)."""
    return _hash(value, _NORMALIZERS["email"])


def hash_phone(value: str, region: str | None = None) -> str:
    """SHA-256 of the E.164 phone number (a digest is passed through)."""
    return _hash(value, normalize_phone, region)


def hash_external_id(value: str | int) -> str:
    """SHA-256 of the trimmed external id (a digest is passed through)."""
    text = _integer("external_id", value) if type(value) is int else value
    return _hash(cast(str, text), _NORMALIZERS["external_id"])


#: Fields sent as SHA-256 digests.
HASHED_FIELDS = ("email", "phone_number", "external_id", "first_name", "last_name", "zip_code")
#: Fields sent normalised but in clear, as TikTok's own integrations do (see above).
CLEAR_FIELDS = ("city", "state", "country")
#: The fields that tell one person from another: two identities are one person's when they
#: share one of these and agree on each they share (:meth:`Identity.same_person`).
PERSON_KEYS = ("email", "phone_number", "external_id")


@dataclass(frozen=True)
class Identity:
    """The advanced-matching fields of one browser, ready for ``ttq.identify``.

    Build it with :meth:`from_raw`. The fields of :data:`HASHED_FIELDS` hold SHA-256 hex
    digests; ``city``, ``state`` and ``country`` hold their normalised form.
    """

    email: str | None = None
    phone_number: str | None = None
    external_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None
    zip_code: str | None = None

    @classmethod
    def from_raw(
        cls,
        *,
        email: str | None = None,
        phone_number: str | None = None,
        external_id: str | int | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        city: str | None = None,
        state: str | None = None,
        country: str | None = None,
        zip_code: str | int | None = None,
        region: str | None = None,
        on_error: Callable[[InvalidIdentity], None] | None = None,
    ) -> Identity:
        """Normalise and hash raw values; ``None`` (or an empty string) leaves a field out.

        :param region: default region for phone numbers without a country code; a valid
            ``country`` takes its place.
        :param on_error: called with each invalid field instead of raising; that field is left
            out and the others are kept.
        :raises InvalidIdentity: a field is invalid and no ``on_error`` was given.
        """
        if isinstance(country, str) and is_region_code(str.strip(country)):
            region = str.strip(country)
        raw_values = (
            email,
            phone_number,
            external_id,
            first_name,
            last_name,
            city,
            state,
            country,
            zip_code,
        )
        try:
            return _remembered_identity(*raw_values, region)
        except InvalidIdentity:
            if on_error is None:
                raise
        except Exception:  # a value that cannot be a cache key (a list, an object whose
            pass  # __hash__ raises): normalising names the field
        return cls._normalised(raw_values, region, on_error)

    @classmethod
    def _normalised(
        cls,
        raw_values: tuple[object, ...],
        region: str | None,
        on_error: Callable[[InvalidIdentity], None] | None,
    ) -> Identity:
        values: dict[str, str] = {}
        for (name, normalize), raw in zip(_NORMALIZERS.items(), raw_values, strict=True):
            if raw is None or (isinstance(raw, str) and not str.__len__(raw)):
                continue
            try:
                text = (
                    _integer(name, raw)
                    if isinstance(raw, int) and not isinstance(raw, bool)
                    else raw
                )
                if not isinstance(text, str):
                    raise InvalidIdentity(name, raw, f"must be a string, not {type(raw).__name__}")
                if name in CLEAR_FIELDS:
                    values[name] = normalize(text, region)
                elif name == "zip_code" and values.get("country") == "us":
                    values[name] = _hash(text, _us_zip_code)
                else:
                    values[name] = _hash(text, normalize, region)
            except InvalidIdentity as exc:
                if on_error is None:
                    raise
                on_error(exc)
            except Exception as exc:  # an object whose methods raise: this field only
                error = InvalidIdentity(
                    name, raw, f"could not be read (reading it raised {type(exc).__name__})"
                )
                if on_error is None:
                    raise error from None
                on_error(error)
        return cls(**values)

    def same_person(self, other: Identity) -> bool:
        """Whether both identities name one person: they share at least one of
        :data:`PERSON_KEYS` (e-mail, phone, external id) and agree on every one they share."""
        shared = False
        for name in PERSON_KEYS:
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine and theirs:
                if mine != theirs:
                    return False
                shared = True
        return shared

    def merged(self, other: Identity) -> Identity:
        """The identity to use when ``other`` comes after this one (a carried identity, then
        this request's): ``other``'s fields over this one's when both are one person
        (:meth:`same_person`), else ``other`` alone. Two people's fields are never mixed."""
        if not other:
            return self
        if not self:
            return other
        if not self.same_person(other):
            return other
        return self._overlaid(other)

    def extended(self, other: Identity) -> Identity:
        """Within one request: ``other``'s fields added to this one's (``identify(email=…)``
        then ``identify(phone_number=…)``), unless they disagree on one of
        :data:`PERSON_KEYS` (then ``other`` alone: another person)."""
        if not other:
            return self
        if not self:
            return other
        for name in PERSON_KEYS:
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine and theirs and mine != theirs:
                return other
        return self._overlaid(other)

    def _overlaid(self, other: Identity) -> Identity:
        values = {f.name: getattr(other, f.name) or getattr(self, f.name) for f in fields(self)}
        return Identity(**values)

    def as_params(self) -> dict[str, str]:
        """The fields that are set, as the argument of ``ttq.identify``."""
        return {name: v for name, v in vars(self).items() if v is not None}

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Identity:
        """Rebuild from :meth:`as_params`, e.g. out of the session; unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: str(v) for k, v in params.items() if k in known})

    def __bool__(self) -> bool:
        # Field by field, the usual first: a page asks twice, and any(vars(self).values())
        # took four times as long.
        return bool(
            self.email
            or self.phone_number
            or self.external_id
            or self.first_name
            or self.last_name
            or self.city
            or self.state
            or self.country
            or self.zip_code
        )


#: The identity of a browser nobody identified (every field ``None``).
NO_IDENTITY = Identity()


#: The most identities remembered (see below).
CACHED_IDENTITIES = 2048


# A signed-in visitor is identified on every page with the same values: normalising and hashing
# them again costs more than the rest of identify(). Valid identities only are kept (an error
# is raised anew each time); ``typed`` keeps True apart from 1 and "1" apart from 1. Only valid
# values are kept, so each within MAX_LENGTHS: a key holds at most 1,406 characters (4 bytes
# each at worst) and an entry's identity nine short strings, so the cache stays under about
# 2048 * (5.6 + 1.5) kB = 15 MB, whatever visitors send.
@functools.lru_cache(maxsize=CACHED_IDENTITIES, typed=True)
def _remembered_identity(*raw_values_and_region: object) -> Identity:
    *raw_values, region = raw_values_and_region
    return Identity._normalised(tuple(raw_values), cast(str | None, region), None)
