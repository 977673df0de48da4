# ruff: noqa: RUF001 (the corpora are made of look-alike characters on purpose)
"""Write the screen's corpora (``python tests/corpora/build.py``): pii_variants.jsonl, what the
screen must find, and shop_strings.jsonl, what it must let through. Each line is a JSON object
``{"text": ..., "kind": ..., "why": ...}``; ``why`` says where the variant comes from.

Run it again only to add variants: the files are the corpora, kept in the repository so that
recall and false positives are measured on the same text every time.
"""

from __future__ import annotations

import json
from pathlib import Path

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

HERE = Path(__file__).parent
Row = dict[str, str]

# 25 countries' numbers, from phonenumbers' own example numbers (libphonenumber's metadata).
REGIONS = (
    "US", "CA", "GB", "DE", "FR", "ES", "IT", "NL", "PL", "SE", "RU", "TR", "CN", "JP", "KR",
    "IN", "ID", "AU", "BR", "MX", "ZA", "NG", "EG", "SA", "VN", "PH",
)  # fmt: skip

# Hand-written ways of writing numbers, as people type them (the review's finding 2, and the
# national conventions collected on Wikipedia's "National conventions for writing telephone
# numbers").
WRITTEN = [
    ("138 0013 8000", "China mobile, 3-4-4 (finding 2)"),
    ("138-0013-8000", "China mobile with hyphens"),
    ("010-6552 9988", "Beijing landline, area code with trunk 0"),
    ("(010) 6552 9988", "Beijing landline, area code in parentheses"),
    ("(11) 91234-5678", "Brazil mobile, area code in parentheses (finding 2)"),
    ("11 91234-5678", "Brazil mobile without parentheses"),
    ("(11) 3456-7890", "Brazil landline"),
    ("030/12345678", "Germany, area code and slash (finding 2)"),
    ("030 12345678", "Germany, area code and space"),
    ("0151 23456789", "Germany mobile"),
    ("+49 (0)30 12345678", "Germany, international with the trunk 0 in parentheses"),
    ("0044 20 7946 0958", "UK dialled from Europe, 00 prefix (finding 2)"),
    ("011 44 20 7946 0958", "UK dialled from North America, 011 prefix (finding 2)"),
    ("(415)5550100", "US, parentheses without a space (finding 2)"),
    ("415-555-0100x23", "US with an extension (finding 2)"),
    ("415-555-0100 ext. 23", "US with a written-out extension"),
    ("1-415-555-0100", "US with the country code 1"),
    ("415.555.0100", "US with dots"),
    ("020 7946 0958", "London"),
    ("07700 900123", "UK mobile"),
    ("(020) 7946 0958", "London, area code in parentheses"),
    ("01 23 45 67 89", "France, pairs"),
    ("06.12.34.56.78", "France mobile with dots"),
    ("+33 (0)6 12 34 56 78", "France, international with the trunk 0 in parentheses"),
    ("612 345 678", "Spain mobile, 3-3-3"),
    ("91 123 45 67", "Madrid landline"),
    ("06 1234 5678", "Rome landline"),
    ("333 123 4567", "Italy mobile"),
    ("06-12345678", "Netherlands mobile"),
    ("020-123 4567", "Amsterdam landline"),
    ("512 345 678", "Poland mobile, 3-3-3"),
    ("070-123 45 67", "Sweden mobile"),
    ("8 (495) 123-45-67", "Moscow, trunk 8 and area code in parentheses"),
    ("8 912 345-67-89", "Russia mobile with trunk 8"),
    ("0532 123 45 67", "Turkey mobile"),
    ("03-1234-5678", "Tokyo landline"),
    ("090-1234-5678", "Japan mobile"),
    ("010-1234-5678", "Korea mobile"),
    ("02-123-4567", "Seoul landline"),
    ("98765 43210", "India mobile, 5-5"),
    ("098765 43210", "India mobile with trunk 0"),
    ("022 2345 6789", "Mumbai landline"),
    ("0412 345 678", "Australia mobile"),
    ("(02) 9876 5432", "Sydney landline"),
    ("55 1234 5678", "Mexico City"),
    ("(55) 1234-5678", "Mexico City, parentheses"),
    ("082 123 4567", "South Africa mobile"),
    ("0803 123 4567", "Nigeria mobile"),
    ("0812-3456-7890", "Indonesia mobile"),
    ("0912 345 6789", "Philippines mobile"),
    ("091 234 56 78", "Vietnam mobile"),
    ("050 123 4567", "Saudi Arabia mobile"),
    ("010 1234 5678", "Egypt mobile"),
]

EMAILS = [
    ("jane@example.com", "plain"),
    ("Jane.Doe@Example.COM", "capitals"),
    ("j.doe+shop@mail.example.co.uk", "sub-address and a second-level domain"),
    ("first_last%tag@sub-domain.example.io", "underscore and percent"),
    ("jöhn@exämple.de", "accented letters (IDN)"),
    ("zhang.wei@163.com", "Chinese mail provider with a numeric domain"),
    ("user123@qq.com", "Chinese mail provider, two-letter domain"),
    ("иван@пример.рф", "Cyrillic address and domain"),
    ("θέμης@παράδειγμα.ελ", "Greek address"),
    ("用户@例子.中国", "Chinese characters, IDN domain"),
    ("δοκιμή@example.com", "Greek local part, ASCII domain"),
    ("हिंदी@उदाहरण.भारत", "Devanagari (combining vowel signs)"),
    ("o'connor@example.ie", "apostrophe in the local part"),
    ("a@b.co", "shortest usual address"),
    ("info@shop.example.museum", "long top-level domain"),
]

SENTENCES = [
    ("{}", "alone"),
    ("write to {} please", "in a sentence"),
    ("contact:{}", "after a colon, no space"),
    ("<{}>", "in angle brackets, as mail clients write it"),
    ("({})", "in parentheses"),
    ("mailto:{}", "a mailto link"),
    ('"{}"', "quoted"),
    ("email me at {}.", "before a full stop"),
    ("联系我{}谢谢", "between Chinese characters, no spaces"),
    ("お問い合わせ：{}", "after a full-width colon"),
]

PHONE_SENTENCES = [
    ("{}", "alone"),
    ("call me on {} tomorrow", "in a sentence"),
    ("tel:{}", "a tel: link"),
    ("Tel.: {}", "after a label"),
    ("电话：{}", "after a Chinese label and full-width colon"),
    ("({})", "in parentheses"),
]


def _keyboard(text: str) -> list[tuple[str, str]]:
    """What keyboards and copy-paste make of ``text``."""
    full = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)
    return [
        (full, "full-width forms, as CJK input methods type them (finding 2)"),
        (text.replace(" ", "\u00a0"), "no-break spaces, as word processors paste them"),
        (text.replace(" ", "\u2009"), "thin spaces, as typographers write numbers"),
        (text.replace(" ", "\u202f"), "narrow no-break spaces (French typography)"),
        (text.replace("-", "\u2013"), "en dashes, as autocorrect makes hyphens (finding 2)"),
        (text.replace("@", "\u200b@\u200b"), "zero-width spaces around @ (finding 2)"),
        (text.replace("@", "\u00ad@"), "a soft hyphen before @ (finding 2)"),
        (text.replace("@", "%40"), "percent-encoded @ (finding 2)"),
        (text.replace("@", " (at) ").replace(".", " (dot) "), "(at) and (dot), to fool bots"),
        (text.replace("@", "[at]"), "[at], to fool bots"),
        (text.replace("@", "\ufe6b"), "small commercial at (U+FE6B)"),
        (text.replace("@", " @ "), "spaces around @"),
    ]


def variants() -> list[Row]:
    rows: list[Row] = []

    def add(text: str, kind: str, why: str) -> None:
        if all(row["text"] != text for row in rows):
            rows.append({"text": text, "kind": kind, "why": why})

    add(
        "hello+i+am+writing+about+the+price+of+the+red+mug+please+reply+to+jane@example.com",
        "email",
        "form-encoded message (finding 1)",
    )
    add(
        "/blog/our-red-mugs-and-how-to-reach-the-team-who-makes-them-by-mail-jane@example.com",
        "email",
        "a 70-character URL slug ending in an address (finding 1)",
    )
    add("x" * 70 + ".jane@example.com", "email", "a long run of word characters (finding 1)")
    for email, why in EMAILS:
        for sentence, where in SENTENCES:
            add(sentence.format(email), "email", f"{why}, {where}")
    for email in ("jane@example.com", "j.doe+shop@mail.example.co.uk"):
        for text, why in _keyboard(email):
            add(text, "email", why)
    for region in REGIONS:
        for kind in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is None:
                continue
            where = f"{region} {'mobile' if kind == PhoneNumberType.MOBILE else 'landline'}"
            national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
            international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
            add(national, "phone", f"{where}, national format (libphonenumber)")
            add(international, "phone", f"{where}, international format (libphonenumber)")
            e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
            add(e164, "phone", f"{where}, E.164")
            add(f"call {national} today", "phone", f"{where}, national, in a sentence")
    for text, why in WRITTEN:
        for sentence, where in PHONE_SENTENCES[:3]:
            add(sentence.format(text), "phone", f"{why}, {where}")
    for text in ("+1 415 555 0100", "415-555-0100", "+44 20 7946 0958", "138 0013 8000"):
        for variant, why in _keyboard(text):
            if variant != text and "@" not in text:
                add(variant, "phone", why)
    for sentence, where in PHONE_SENTENCES[3:]:
        add(sentence.format("+86 138 0013 8000"), "phone", f"China, {where}")
    add("+1 (415) 555-0100", "phone", "US, international with parentheses")
    add("+91-98765-43210", "phone", "India, international with hyphens")
    add("+82 10-1234-5678", "phone", "Korea, international")
    add("+7 495 123-45-67", "phone", "Russia, international")
    add("+61 412 345 678", "phone", "Australia, international")
    add("٠١٠ ١٢٣٤ ٥٦٧٨", "phone", "Egypt mobile in Arabic-Indic digits")
    add("०९८७६ ५४३२१", "phone", "India mobile in Devanagari digits")
    return rows


def _prices() -> list[Row]:
    rows = []
    amounts = [
        ("$1,299.99", "en-US"), ("$19.99", "en-US"), ("US$ 1,234,567.89", "en-US, large"),
        ("1.299,99 €", "de-DE"), ("1.234.567,89 €", "de-DE, large"), ("€ 1.299,99", "nl-NL"),
        ("1 299,99 €", "fr-FR, space"), ("1\u202f299,99\u00a0€", "fr-FR, narrow no-break space"),
        ("1 234 567,89 €", "fr-FR, large"), ("CHF 1'299.99", "de-CH"), ("CHF 1’234’567.50", "de-CH"),
        ("₹1,23,456.00", "en-IN lakh grouping"), ("₹ 12,34,567", "en-IN crore"),
        ("¥1,299", "ja-JP"), ("￥12,800", "ja-JP full-width yen"), ("12 800 ₽", "ru-RU"),
        ("1 299 zł", "pl-PL"), ("R$ 1.299,99", "pt-BR"), ("R$ 12.345,67", "pt-BR"),
        ("£1,299.99", "en-GB"), ("kr 1 299,00", "sv-SE"), ("1.299,99 TL", "tr-TR"),
        ("₩1,299,000", "ko-KR"), ("Rp 1.299.000", "id-ID"), ("₫1.299.000", "vi-VN"),
        ("MX$1,299.99", "es-MX"), ("A$1,299.95", "en-AU"), ("ZAR 1 299,99", "en-ZA"),
        ("₦129,999.00", "en-NG"), ("1299.99", "bare"), ("+49.99", "a price change"),
        ("-15.00", "a refund"), ("1 000 000 000", "a count in thousands"),
        ("12 345 678", "a count in thousands"), ("100,000,000", "a count in thousands"),
        ("9.999.999", "a count with dots"), ("1,234,567.891", "three decimals"),
        ("¥ 1 234 567", "spaced yen"), ("EUR 2.499.999,00", "de-DE with code"),
    ]  # fmt: skip
    for text, why in amounts:
        rows.append({"text": text, "kind": "price", "why": why})
        rows.append({"text": f"now only {text}!", "kind": "price", "why": f"{why}, in a sentence"})
    return rows


def shop_strings() -> list[Row]:
    rows = _prices()

    def add(kind: str, why: str, *texts: str) -> None:
        rows.extend({"text": text, "kind": kind, "why": why} for text in texts)

    add(
        "sku",
        "SKUs and item numbers",
        "PX-1000",
        "SKU-415-555-0100",
        "ABC-123-4567-XL",
        "ART.NR. 4006381333931",
        "MPN 9780-1234-56",
        "REF 2024/000123",
        "item #10045523",
        "B07XJ8C8F5",
        "SM-G991B/DS",
        "A2337 (MGN63LL/A)",
        "30-1234-5678-XL",
    )
    add(
        "isbn",
        "ISBNs",
        "ISBN 978-3-16-148410-0",
        "ISBN 0-306-40615-2",
        "978-0-306-40615-7",
        "ISBN-13: 9780306406157",
        "ISBN 3-16-148410-X",
        "978 3 16 148410 0",
    )
    add(
        "ean",
        "EAN/UPC barcodes",
        "4006381333931",
        "EAN 5901234123457",
        "0 12345 67890 5",
        "UPC 036000291452",
        "4 006381 333931",
        "96385074",
    )
    add(
        "tracking",
        "carriers' tracking numbers",
        "1Z 999 AA1 01 2345 6784",
        "1Z999AA10123456784",
        "9400 1000 0000 0000 0000 00",
        "9205 5000 0000 0000 0000 00",
        "JD014600006281234567",
        "DHL 00340434161234567890",
        "FedEx 7489 2345 6789 1",
        "RR123456785CN",
        "LX123456789DE",
        "00340434161094042557",
        "TBA123456789000",
        "Royal Mail AB 1234 5678 9GB",
        "PostNL 3SABCD1234567",
        "SF1234567890123",
        "YT2012345678901234",
    )
    dates = [
        "2024-01-15", "15/01/2024", "01/15/2024", "01.02.2024", "2024/01/15", "15.01.24",
        "05-11-2024 10:30", "2024-01-15T10:30:00Z", "2024-01-15T10:30:00+02:00",
        "2024-01-15 10:30:00.123456+00:00", "Mon, 15 Jan 2024 10:30:00 GMT", "15 Jan 2024",
        "January 15, 2024", "2024年1月15日", "2024年01月15日 10:30", "15. Januar 2024",
        "15 janvier 2024", "2024.01.15.", "20240115", "2024-W03", "10:30-11:45", "9:00–17:00",
        "10.30-11.45 Uhr", "1/15/24 3:45 PM", "2024-01-15 - 2024-01-20", "15-20 Jan 2024",
        "Q1 2024", "FY2024/25", "1705314600", "1705314600000", "12:30:45.123",
    ]  # fmt: skip
    add("date", "dates and times in many formats", *dates)
    add(
        "date",
        "date ranges",
        "01.02.2024 - 15.02.2024",
        "2024-01-15 / 2024-01-20",
        "15/01/2024 10:30",
        "2024-01-15 10",
        "12/12/2012 12:12",
    )
    add(
        "coordinates",
        "coordinates",
        "48.8566, 2.3522",
        "40.7128 -74.0060",
        "-33.8688,151.2093",
        "51°30′26″N 0°7′39″W",
        "35.6762° N, 139.6503° E",
        "lat=40.712776&lng=-74.005974",
    )
    add(
        "file",
        "file names",
        "image@2x.png",
        "hero@3x.webp",
        "icon@1.5x.jpg",
        "logo@2x.svg",
        "IMG_20240115_103000.jpg",
        "DSC01234.JPG",
        "invoice-2024-000123.pdf",
        "report_2024_01_15.xlsx",
        "photo 2024-01-15 at 10.30.45.png",
        "video-1080x1920.mp4",
        "Screenshot 2024-01-15 at 10.30.45.png",
        "product-415-555-front.jpg",
    )
    add(
        "css",
        "CSS and markup",
        "margin: 0 0 10px 20px",
        "#ff0000",
        "rgba(0, 0, 0, 0.5)",
        "@media (max-width: 600px)",
        "@import url(theme.css)",
        "font: 12px/1.5 Arial",
        "transform: translate(100px, 200px) rotate(45deg)",
        "@font-face",
        "grid-template: 1fr 2fr",
        "padding:1px 2px 3px 4px",
        '<div class="col-12 col-md-6">',
        "1920x1080",
        'srcset="a@1x.png 1x, a@2x.png 2x"',
    )
    add(
        "url",
        "URLs",
        "https://shop.example/p/red-mug-350ml?ref=home",
        "/products/12345678",
        "https://cdn.example/img/2024/01/15/abc.jpg",
        "https://shop.example/c/mugs?page=2&sort=price",
        "https://example.com/@brand",
        "https://twitter.com/@shop",
        "git@github.com:org/repo.git",
        "https://shop.example/p/4006381333931",
        "https://shop.example/orders/2024-000123",
        "https://maps.example/@48.8566,2.3522,15z",
        "ssh://deploy@10.0.0.1:22",
    )
    add(
        "order",
        "order ids",
        "ORD-2024-000123",
        "ORD-2133734253",
        "Order 100000123456",
        "#1001",
        "order 2133734253",
        "INV/2024/00123",
        "PO-45-000123",
        "A-123-456-789",
        "2024-000123-01",
        "R-1234-5678-9012",
        "ORDER#2024-01-15-0042",
        "W123456789",
        "Bestellnummer 302-1234567-1234567",
        "112-1234567-1234567",
        "订单号 202401151234567890",
    )
    add(
        "uuid",
        "UUIDs and hashes",
        "550e8400-e29b-41d4-a716-446655440000",
        "12345678-1234-5678-1234-567812345678",
        "00000000-0000-0000-0000-000000000000",
        "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
        "d41d8cd98f00b204e9800998ecf8427e",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "5f3e2a1b9c8d7e6f5a4b3c2d",
    )
    add(
        "version",
        "version numbers",
        "v1.2.3",
        "1.2.3",
        "10.15.7",
        "2024.1.15",
        "v2.0.0-rc.1",
        "Python 3.11.4",
        "iOS 17.2.1",
        "Android 14 (UPDE.231021.001)",
        "1.0.0.1234",
        "build 20240115.1030",
        "Chrome/120.0.6099.109",
        "1.980.1518",  # in TikTok's own beacons: the kit's PII guard took it for a phone
        "Windows 10.0.19045.3803",
        "sdk 2.2.1.1234",
    )
    add(
        "network",
        "addresses of machines",
        "192.168.100.200",
        "10.0.0.138",
        "127.0.0.1:5000",
        "2001:db8::1",
        "fe80::1%eth0",
        "00:1A:2B:3C:4D:5E",
    )
    add(
        "text",
        "ordinary shop text",
        "Organic Cotton T-Shirt, size M",
        "running shoes for women size 8",
        "@handle",
        "user@localhost",
        "5@10.99",
        "2 for 1 @ 9.99",
        "Buy 3 @ $4.99 each",
        "50% off",
        "100% cotton",
        "30%OFF",
        "Size 42 (EU) / 8.5 (US)",
        "Pack of 12 x 330 ml",
        "1 kg = 2.2 lb",
        "Dimensions: 120 x 60 x 75 cm",
        "Screen 1920 x 1080",
        "Model 2000 3000 4000",
        "Serial 2024 0115 1030",
        "Room 101, floor 12",
        "Gate 23, seat 14A",
        "Lot 12345 exp 2026-01",
        "Chapter 12 pp. 123-456",
        "Mon-Fri 9-17",
        "24/7 support",
        "Call us! Open 10-18",
        "postcode SW1A 1AA",
        "zip 90210",
        "PLZ 10115 Berlin",
        "5 stars (1,234 reviews)",
        "Rated 4.8/5",
        "3-5 business days",
        "Ships in 24-48h",
        "Save 20% with code SAVE20",
        "Gift card 1234",
        "Temp 20-25 °C",
        "Item 3 of 12",
        "Weight 1.234 kg",
        "Q&A",
        "Tom & Jerry mug",
        "C++ book",
        "AT&T phone case",
        "#hashtag @mention",
        "email newsletter sign-up",
        "phone case for iPhone 15",
        "Samsung Galaxy S24 Ultra 512GB",
        "iPhone 15 Pro Max 256 GB",
        'MacBook Pro 14" M3',
        "Lego 42115 Lamborghini",
        "Nike Air Max 270",
        "Levi's 501 W32 L34",
        "Dyson V15",
        "红色马克杯 350毫升",
        "赤いマグカップ",
        "빨간 머그컵",
        "красная кружка 350 мл",
        "كوب أحمر",
        "लाल मग",
        "Tasse rouge 35 cl",
        "Rote Tasse, 350 ml",
        "from 10:00 to 18:00",
        "1st-3rd floor",
        "2x 500g",
        "3 x 2 x 1 m",
        "0.5-1.0 mm",
        "12-24 months",
        "EU 36-41",
        "Best before 15/01/2025",
        "Tel. support hours 9-5",
        "Kontakt (at) our store",
        "meet us [at] the fair",
        "1+1 free",
        "2+2=4",
        "Price: 1 299,99 € TTC",
        "Colour: #1a2b3c",
        "ratio 16:9",
        "aspect 21/9",
        "ISO 9001:2015",
        "EN 71-1:2014+A1:2018",
        "IP68",
        "USB-C 3.2 Gen 2",
        "HDMI 2.1 4K@120Hz",
        "8K@60Hz",
        "5G 128GB",
        "Wi-Fi 6E 2.4/5/6 GHz",
        "batch 2024-01-15-A",
        "lot# 12-3456-789",
    )
    return rows


def main() -> None:
    for name, rows in (("pii_variants", variants()), ("shop_strings", shop_strings())):
        with open(HERE / f"{name}.jsonl", "w", encoding="utf-8") as file:
            for row in rows:
                file.write(json.dumps(row, ensure_ascii=True) + "\n")
        print(name, len(rows))


if __name__ == "__main__":
    main()
