"""Advanced matching: fixed test vectors (input → normalised → SHA-256) and every error."""

from __future__ import annotations

import dataclasses
import hashlib
import logging

import pytest

from pixel_embed import (
    Identity,
    InvalidEmail,
    InvalidIdentity,
    InvalidPhoneNumber,
    hash_email,
    hash_external_id,
    hash_phone,
    normalize_email,
    normalize_phone,
)
from pixel_embed.matching import (
    normalize_city,
    normalize_country,
    normalize_name,
    normalize_state,
    normalize_zip_code,
)

# The published vectors: what a site passes, what is hashed, and the digest that reaches TikTok.
EMAIL_VECTORS = [
    (" Jane@Example.com ", "jane@example.com", "8c87b489ce35cf2e2f39f80e282cb2e804932a56a213983eeeb428407d43b52d"),
    ("JANE@EXAMPLE.COM\n", "jane@example.com", "8c87b489ce35cf2e2f39f80e282cb2e804932a56a213983eeeb428407d43b52d"),
]  # fmt: skip
PHONE_VECTORS = [
    ("(213) 373-4253", "US", "+12133734253", "9f7ec22d72092cd3c0b58726ed9c2d91b92e51a3f29837508fb2948bb22dd2fd"),
    ("+1 213-373-4253", None, "+12133734253", "9f7ec22d72092cd3c0b58726ed9c2d91b92e51a3f29837508fb2948bb22dd2fd"),
    ("020 7946 0958", "GB", "+442079460958", "f0bf0228144d9fe2bdf1da2d8ca698f17bf1410ee688b075c27062e47b6f0b6d"),
    ("+44 (0)20 7946 0958", "US", "+442079460958", "f0bf0228144d9fe2bdf1da2d8ca698f17bf1410ee688b075c27062e47b6f0b6d"),
]  # fmt: skip
NAME_VECTORS = [
    ("Jean-Luc", "jeanluc", "7fef38066db9900f992fa9926eea8cc648f44c2af50c4d511c415422196c8ef5"),
    (" O'Connor ", "oconnor", "7a0fbfdf40cbeb97429bdb88f512cecd27f0d44b7e57986ab578423bb61936ac"),
    ("José", "josé", "d994e1d001886fe5b45b1267bd1fa2b752ac50742579bd3dad7b2a2aa0ed6866"),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "normalised", "digest"), EMAIL_VECTORS)
def test_email_vectors(raw: str, normalised: str, digest: str) -> None:
    assert normalize_email(raw) == normalised
    assert hash_email(raw) == digest == hashlib.sha256(normalised.encode()).hexdigest()


@pytest.mark.parametrize(("raw", "region", "normalised", "digest"), PHONE_VECTORS)
def test_phone_vectors(raw: str, region: str | None, normalised: str, digest: str) -> None:
    assert normalize_phone(raw, region) == normalised
    assert hash_phone(raw, region) == digest


def test_external_id_is_trimmed_and_hashed() -> None:
    digest = "16ec525b74b75626eb93ecad8acc749885fcf4e83c95b139342769a4ab1828a3"
    assert hash_external_id(" u-42 ") == digest
    assert hash_external_id(12345) == hashlib.sha256(b"12345").hexdigest()


@pytest.mark.parametrize(("raw", "normalised", "digest"), NAME_VECTORS)
def test_name_vectors(raw: str, normalised: str, digest: str) -> None:
    assert normalize_name(raw) == normalised
    assert Identity.from_raw(first_name=raw).first_name == digest


def test_address_fields() -> None:
    assert normalize_city(" San Francisco ") == "sanfrancisco"
    assert normalize_state("C.A.") == "ca"
    assert normalize_country(" US ") == "us"
    assert normalize_zip_code("SW1A 1AA") == "sw1a1aa"
    assert normalize_zip_code(94107) == "94107"


def test_identity_hashes_personal_fields_and_keeps_coarse_ones_in_clear() -> None:
    identity = Identity.from_raw(
        email="Jane@Example.com",
        phone_number="(213) 373-4253",
        external_id="u-42",
        last_name="Smith",
        city="San Francisco",
        state="CA",
        country="US",
        zip_code="94107",
    )
    assert identity.as_params() == {
        "email": "8c87b489ce35cf2e2f39f80e282cb2e804932a56a213983eeeb428407d43b52d",
        "phone_number": "9f7ec22d72092cd3c0b58726ed9c2d91b92e51a3f29837508fb2948bb22dd2fd",
        "external_id": "16ec525b74b75626eb93ecad8acc749885fcf4e83c95b139342769a4ab1828a3",
        "last_name": "6627835f988e2c5e50533d491163072d3f4f41f5c8b04630150debb3722ca2dd",
        "city": "sanfrancisco",
        "state": "ca",
        "country": "us",
        "zip_code": "c884a209ebe08750a7d13db63bd02233b375bd79786cbe329ab11586cc35dead",
    }


def test_a_digest_is_passed_through_never_hashed_twice() -> None:
    digest = "8C87B489CE35CF2E2F39F80E282CB2E804932A56A213983EEEB428407D43B52D"
    assert hash_email(digest) == digest.lower()
    assert hash_phone(digest) == digest.lower()
    assert hash_external_id(digest) == digest.lower()
    assert Identity.from_raw(email=digest).email == digest.lower()


def test_identity_merge_and_round_trip() -> None:
    first = Identity.from_raw(email="jane@example.com", external_id="u-1")
    second = Identity.from_raw(email="jane@example.com", phone_number="+14155550100")
    merged = first.merged(second)
    assert merged.email == first.email
    assert merged.external_id == first.external_id
    assert merged.phone_number == second.phone_number
    assert Identity.from_params(merged.as_params()) == merged
    assert not Identity()
    assert merged


ALICE = Identity.from_raw(email="alice@example.com", phone_number="+14155550100", city="Paris")
BOB = Identity.from_raw(email="bob@example.com")


@pytest.mark.parametrize(
    "later",
    [
        BOB,  # another e-mail
        Identity.from_raw(external_id="bob-1"),  # no key in common
        Identity.from_raw(email="alice@example.com", phone_number="+14155550199"),  # one differs
        Identity.from_raw(city="Lyon"),  # no key at all
    ],
)
def test_a_carried_identity_never_mixes_with_another_persons(later: Identity) -> None:
    assert ALICE.merged(later) == later
    assert not ALICE.same_person(later)


def test_one_persons_identities_are_merged() -> None:
    later = Identity.from_raw(email="alice@example.com", zip_code="75001")
    assert ALICE.same_person(later)
    merged = ALICE.merged(later)
    assert (merged.email, merged.phone_number, merged.city) == (
        ALICE.email,
        ALICE.phone_number,
        ALICE.city,
    )
    assert merged.zip_code == later.zip_code


def test_within_a_request_fields_add_up_unless_they_disagree() -> None:
    email = Identity.from_raw(email="alice@example.com")
    phone = Identity.from_raw(phone_number="+14155550100")
    assert email.extended(phone) == Identity(email=email.email, phone_number=phone.phone_number)
    assert ALICE.extended(BOB) == BOB


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(Identity)])
def test_an_identity_with_any_one_field_set_is_true(name: str) -> None:
    assert Identity(**{name: "x"})
    assert not Identity(**{name: ""})


@pytest.mark.parametrize(
    ("value", "region", "message"),
    [
        # The value is withheld from the message (.value holds it): it is personal data.
        ("12", "US", "phone_number (value withheld) is not a valid number for region US"),
        ("2133734253", None, "phone_number (value withheld) has no country code; write it as "
         "+<country code> or set TIKTOK_PIXEL_DEFAULT_REGION"),
        ("+999 1234 5678", None, "phone_number (value withheld) has an unknown country code"),
        ("call me", "US", "phone_number (value withheld) is not a valid number for region US"),
        ("555-0100", "USA", "phone_number (value withheld) cannot be read with region 'USA' "
         "(not a 2-letter code)"),
    ],
)  # fmt: skip
def test_phone_errors_name_the_field_and_the_problem(
    value: str, region: str | None, message: str
) -> None:
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalize_phone(value, region)
    assert str(caught.value) == message
    assert caught.value.field == "phone_number"


@pytest.mark.parametrize("value", ["jane", "jane@", "@example.com", "jane@example", "a b@c.de"])
def test_email_errors(value: str) -> None:
    with pytest.raises(InvalidEmail, match=r"^email .* is not an e-mail address$"):
        normalize_email(value)


def test_wrong_types_are_named() -> None:
    with pytest.raises(InvalidEmail, match="email 42 must be a string, not int"):
        normalize_email(42)  # type: ignore[arg-type]
    with pytest.raises(InvalidIdentity, match="country \\(value withheld\\) is not an ISO 3166-1"):
        Identity.from_raw(country="United States")
    with pytest.raises(
        InvalidIdentity, match="first_name \\(value withheld\\) has no letters or digits"
    ):
        Identity.from_raw(first_name="---")


def test_on_error_drops_only_the_bad_field(caplog: pytest.LogCaptureFixture) -> None:
    errors: list[InvalidIdentity] = []
    identity = Identity.from_raw(
        email="jane@example.com", phone_number="12", region="US", on_error=errors.append
    )
    assert identity.email == hash_email("jane@example.com")
    assert identity.phone_number is None
    assert [e.field for e in errors] == ["phone_number"]
    assert errors[0].redacted() == (
        "phone_number (value withheld) is not a valid number for region US"
    )
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_remembered_identity_is_the_same_as_a_fresh_one() -> None:
    email, phone = " Jane@Example.com ", "(213) 373-4253"
    first = Identity.from_raw(email=email, phone_number=phone, region="US")
    again = Identity.from_raw(email=email, phone_number=phone, region="US")
    fresh = Identity._normalised(
        (email, phone, None, None, None, None, None, None, None), "US", None
    )
    assert (
        first
        == again
        == fresh
        == Identity(email=hash_email(email), phone_number=hash_phone(phone, "US"))
    )
    # The cache keeps types apart: 1 is an external id, True is a mistake, even after 1.
    assert Identity.from_raw(external_id=1).external_id == hash_external_id("1")
    with pytest.raises(InvalidIdentity, match="external_id True must be a string, not bool"):
        Identity.from_raw(external_id=True)


def test_values_that_cannot_be_remembered_still_get_a_named_error() -> None:
    with pytest.raises(InvalidIdentity, match=r"email \['\[email\]'\] must be a string, not list"):
        Identity.from_raw(email=["a@b.co"])  # type: ignore[arg-type]
    errors: list[InvalidIdentity] = []
    identity = Identity.from_raw(
        email=["a@b.co"],  # type: ignore[arg-type]
        external_id="u-1",
        on_error=errors.append,
    )
    assert identity == Identity(external_id=hash_external_id("u-1"))
    assert [e.field for e in errors] == ["email"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("email", "jane.doe@gmail"), ("email", "jane.doe@gmail,com"), ("phone_number", "415-555-01")],
)
def test_a_mistyped_address_or_number_is_not_quoted_in_the_error(field: str, value: str) -> None:
    with pytest.raises(InvalidIdentity) as caught:
        Identity.from_raw(**{field: value})  # type: ignore[arg-type]
    assert str(caught.value).startswith(f"{field} (value withheld) ")
    assert value not in str(caught.value)
    assert value not in repr(caught.value)
    assert caught.value.value == value


@pytest.mark.parametrize("field", ["city", "state"])
@pytest.mark.parametrize(
    "value",
    [
        "4155550100",
        "call 4155550100",
        "+1 415 555 0100",
        "jane@example.com",
        "\uff14\uff11\uff15\uff15\uff15\uff15\uff10\uff11\uff10\uff10",
    ],
)
def test_clear_fields_refuse_phone_numbers_addresses_and_long_digit_runs(
    field: str, value: str
) -> None:
    with pytest.raises(InvalidIdentity, match=f"^{field} \\(value withheld\\) looks like"):
        Identity.from_raw(**{field: value})  # type: ignore[arg-type]
    errors: list[InvalidIdentity] = []
    identity = Identity.from_raw(**{field: value}, on_error=errors.append)
    assert identity == Identity()
    assert [error.field for error in errors] == [field]


@pytest.mark.parametrize(
    ("field", "value"), [("city", "Paris 75001"), ("state", "CA"), ("city", "1010 Wien")]
)
def test_clear_fields_keep_short_numbers(field: str, value: str) -> None:
    assert getattr(Identity.from_raw(**{field: value}), field)  # type: ignore[arg-type]


def test_country_refuses_numbers() -> None:
    with pytest.raises(InvalidIdentity, match=r"^country"):
        Identity.from_raw(country="4155550100")
