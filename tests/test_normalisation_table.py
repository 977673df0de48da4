"""Each row of the normalisation table in docs/matching.md: what pixel_embed sends per field.

Each row says what TikTok's SDK (pixel.js 2.2.1, ../shared/tiktok-sdk) and Segment's TikTok
destinations do with the same raw value, and why we do what we do; this file pins our column.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pixel_embed import Identity


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# (field, raw value, other raw fields, what ttq.identify and the Events API get)
ROWS = [
    # Trimmed and lower-cased, then hashed: as the SDK and both Segment destinations do.
    ("email", " Jane@Example.COM ", {}, sha("jane@example.com")),
    # E.164 with libphonenumber and the site's region; Segment only strips non-digits and adds
    # "+", which makes "(213) 373-4253" the wrong number +2133734253.
    ("phone_number", "(213) 373-4253", {"region": "US"}, sha("+12133734253")),
    ("phone_number", "+44 (0)20 7946 0958", {}, sha("+442079460958")),
    # Trimmed and hashed, never lower-cased (TikTok's own Events API GTM template); Segment's
    # server destination lower-cases, its browser destination sends it in clear.
    ("external_id", " U-42 ", {}, sha("U-42")),
    ("external_id", 42, {}, sha("42")),
    # Lower-cased without spaces or punctuation (accents kept), hashed; the SDK hashes the name
    # as given, Segment lower-cases and drops white space only.
    ("first_name", " Jean-Luc ", {}, sha("jeanluc")),
    ("last_name", "O'Connor", {}, sha("oconnor")),
    ("last_name", "Müller", {}, sha("müller")),
    # In clear, lower-cased without spaces or punctuation; Segment drops every non-ASCII
    # character ("São Paulo" -> "sopaulo"), which we do not.
    ("city", "San Francisco", {}, "sanfrancisco"),
    ("city", "São Paulo", {}, "sãopaulo"),
    ("state", "N.Y.", {}, "ny"),
    # An ISO 3166-1 alpha-2 code, lower-cased, in clear.
    ("country", " US ", {}, "us"),
    # Lower-cased without white space, hashed; with country "us" only the first five characters,
    # as TikTok's SDK does with a raw US zip code (ZIP+4 is hashed as its ZIP).
    ("zip_code", "SW1A 1AA", {"country": "GB"}, sha("sw1a1aa")),
    ("zip_code", "12345-6789", {"country": "US"}, sha("12345")),
    ("zip_code", "12345 6789", {"country": "us"}, sha("12345")),
    ("zip_code", "12345-6789", {}, sha("12345-6789")),
    ("zip_code", 94107, {"country": "US"}, sha("94107")),
]


@pytest.mark.parametrize(
    ("field", "raw", "others", "sent"), ROWS, ids=[f"{row[0]}-{row[1]!r}" for row in ROWS]
)
def test_each_row_of_the_table(field: str, raw: object, others: dict[str, str], sent: str) -> None:
    identity = Identity.from_raw(**{field: raw}, **others)  # type: ignore[arg-type]
    assert identity.as_params()[field] == sent


def test_a_us_zip_code_digest_is_passed_through_as_given() -> None:
    # The SDK does not cut a digest either: a site that hashed the ZIP+4 keeps its hash.
    digest = sha("12345-6789")
    assert Identity.from_raw(zip_code=digest, country="US").zip_code == digest


def test_the_default_region_does_not_make_a_zip_code_american() -> None:
    # Only the identity's own country counts, as in the SDK; the phone region is not a country.
    identity = Identity.from_raw(zip_code="12345-6789", phone_number="2133734253", region="US")
    assert identity.zip_code == sha("12345-6789")


@given(
    zip5=st.from_regex(r"[0-9]{5}", fullmatch=True),
    plus4=st.from_regex(r"[0-9]{4}", fullmatch=True),
    sep=st.sampled_from(["-", " ", ""]),
)
def test_every_us_zip_plus_4_hashes_as_its_zip(zip5: str, plus4: str, sep: str) -> None:
    us = Identity.from_raw(zip_code=f"{zip5}{sep}{plus4}", country="US")
    assert us.zip_code == Identity.from_raw(zip_code=zip5, country="us").zip_code == sha(zip5)
