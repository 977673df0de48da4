"""The one definition of "looks like an e-mail address or a phone number" in free text."""

from __future__ import annotations

import pytest

from pixel_embed import find_personal_data, mask_personal_data, scrub_url
from pixel_embed.screening import holds_personal_data, is_secret_parameter
from pixel_embed.testing.pii import pii_in_text

EMAILS = [
    "jane@example.com",
    "Jane.Doe@Example.COM",
    "j.doe+shop@mail.example.co.uk",
    "first_last%tag@sub-domain.example.io",
    "jöhn@exämple.de",
]
PHONES = [
    "+12133734253",
    "+1 213 373 4253",
    "+1 (213) 373-4253",
    "+44 20 7946 0958",
    "+33 1 09 75 83 51",
    "(213) 373-4253",
    "(213)373-4253",
    "213-373-4253",
    "415-555-0100",
    "213.373.4253",
    "213 373 4253",
    "1-800-555-0199",
    "020 7946 0958",
    "0412 345 678",
    "01 09 75 83 51",
    "030 901820",
]
# What must pass untouched: prices, SKUs, dates, order numbers, timestamps, UUIDs, ordinary text.
HARMLESS = [
    "1299.99",
    "$1,299.99",
    "1.234.567,89",
    "1 299,99 €",
    "+49.99",
    "PX-1000",
    "SKU-415-555-0100",
    "ORD-2024-000123",
    "ORD-2133734253",
    "2133734253",
    "Order 100000123456",
    "2024-01-15",
    "15/01/2024",
    "01.02.2024",
    "05-11-2024 10:30",
    "2024-01-15T10:30:00Z",
    "2024-01-15T10:30:00+02:00",
    "2024-01-15 10:30:00.123456+00:00",
    "550e8400-e29b-41d4-a716-446655440000",
    "12345678-1234-5678-1234-567812345678",
    "00000000-0000-0000-0000-000000000000",
    "ISBN 978-3-16-148410-0",
    "v1.2.3",
    "+05:30",
    "@handle",
    "user@localhost",
    "5@10.99",
    "Organic Cotton T-Shirt, size M",
    "running shoes for women size 8",
]


@pytest.mark.parametrize("email", EMAILS)
def test_e_mail_addresses_are_found_alone_and_in_text(email: str) -> None:
    assert find_personal_data(email) == [("email", email)]
    assert mask_personal_data(f"write to {email}, thanks") == "write to [email], thanks"


@pytest.mark.parametrize("phone", PHONES)
def test_phone_numbers_are_found_alone_and_in_text(phone: str) -> None:
    assert find_personal_data(phone) == [("phone", phone)]
    assert mask_personal_data(f"call {phone} today") == "call [phone] today"


@pytest.mark.parametrize("text", HARMLESS)
def test_prices_skus_dates_order_numbers_and_uuids_pass_untouched(text: str) -> None:
    assert find_personal_data(text) == []
    assert not holds_personal_data(text)
    assert mask_personal_data(text) == text


def test_several_matches_are_found_in_order() -> None:
    text = "call +1 213 373 4253 or write to jane@example.com"
    assert find_personal_data(text) == [("phone", "+1 213 373 4253"), ("email", "jane@example.com")]
    assert mask_personal_data(text) == "call [phone] or write to [email]"


def test_the_qa_kit_uses_the_same_definition() -> None:
    # A dashed NANP number was missed by the QA kit's own patterns before.
    assert pii_in_text("var q = 'call 415-555-0100';", "script") == [
        "script: phone number '415-555-0100'"
    ]
    assert pii_in_text("var order = 'ORD-2024-000123', at = '2024-01-15T10:30:00Z';", "x") == []


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("reset_token", True),
        ("accessToken", True),
        ("ACCESS_TOKEN", True),
        ("e-mail", True),
        ("email", True),
        ("api_key", True),
        ("first_name", True),
        ("password", True),
        ("code", True),
        ("sessionId", True),
        ("phone", True),
        ("q", False),
        ("promo_code", False),
        ("keyword", False),
        ("utm_source", False),
        ("ttclid", False),
        ("page", False),
    ],
)
def test_secret_query_parameters_are_named_by_their_words(name: str, secret: bool) -> None:
    assert is_secret_parameter(name) is secret


def test_urls_lose_secrets_and_personal_data() -> None:
    url = (
        "https://user:pw@Shop.example:8443/u/jane@example.com/orders?q=shoes&email=a%40b.com"
        "&reset_token=abc&ref=call+415-555-0100&utm_source=tiktok&ttclid=E.C.P#section"
    )
    assert scrub_url(url) == (
        "https://shop.example:8443/u/[email]/orders?q=shoes&utm_source=tiktok&ttclid=E.C.P"
    )


def test_clean_urls_are_kept_as_they_are() -> None:
    url = "https://shop.example/search?q=red%20mug&page=2"
    assert scrub_url(url) == url
    assert scrub_url(None) is None
    assert scrub_url("http://[::1]:5000/x?a=1") == "http://[::1]:5000/x?a=1"
    assert scrub_url("http://[::1/x") is None  # unparseable: left out
