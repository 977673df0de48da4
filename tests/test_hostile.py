"""Hostile input, property-based: every public entry point that takes outside input.

For ``track``, ``identify``, ``segment.track/identify/page`` (through real Flask requests) and
server event payloads: no HTTP 500 in lenient mode, a named :class:`PixelError` in strict mode,
and no raw e-mail address or phone number in the page, its headers, the logs or the payload.
Example counts are kept small enough for CI; the hostile corpus (:data:`CORPUS`) is always
among the examples.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from typing import Any

import pytest
from conftest import CODE, make_app, page
from flask import Flask, request
from flask.testing import FlaskClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pixel_embed import Identity, PixelError, TikTokPixel, find_personal_data, validate_event
from pixel_embed.events_api.payload import RequestContext, server_event

#: Personal data the outputs must never show raw.
EMAIL = "jane.doe@example.com"
PHONE = "+1 213 373 4253"
NANP = "415-555-0100"
#: Strings reviewers and past bugs found: script breakouts, prototype keys, long numbers,
#: NaN spellings, lone surrogates, control characters, personal data in free text.
CORPUS = [
    "",
    " ",
    "</script><script>alert(1)</script>",
    "<!--<script>",
    "'-alert(1)-'",
    '"};alert(1);//',
    "\u2028\u2029",
    "\x00\x1b[2J\r\nINFO forged",
    "__proto__",
    "constructor",
    "prototype",
    "sNaN",
    "NaN",
    "-Infinity",
    "1e999",
    "9" * 5000,
    "9" * 499_000,
    "a\ud800b",
    "\udfff",
    EMAIL,
    f"call {PHONE} now",
    f"text {NANP}",
    f"{EMAIL} " * 300,
    "x" * 600_000,
    "ORD-2024-000123",
    "2024-01-15T10:30:00+02:00",
]
HYPOTHESIS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

texts = st.one_of(
    st.sampled_from(CORPUS),
    # Surrogates included: a JSON body can carry them.
    st.text(st.characters(codec=None, exclude_categories=()), max_size=40),
    st.builds(lambda a, b: f"{a}{b}", st.text(max_size=10), st.sampled_from([EMAIL, PHONE, NANP])),
)
scalars = st.one_of(
    texts,
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
)
keys = st.one_of(st.sampled_from(["query", "__proto__", "constructor", EMAIL, "a" * 200]), texts)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=12,
)
params = st.dictionaries(
    st.sampled_from(
        [
            "value",
            "currency",
            "query",
            "description",
            "content_id",
            "content_ids",
            "content_type",
            "num_items",
            "contents",
            "order_id",
            "custom",
            "__proto__",
        ]
    ),
    json_values,
    max_size=6,
)
identity_fields = st.fixed_dictionaries(
    {},
    optional={
        name: st.one_of(texts, st.integers(min_value=-(10**50), max_value=10**50), st.none())
        for name in (
            "email",
            "phone_number",
            "external_id",
            "first_name",
            "last_name",
            "city",
            "state",
            "country",
            "zip_code",
        )
    },
)


def assert_no_raw_pii(*outputs: str) -> None:
    for text in outputs:
        found = find_personal_data(text)
        assert not found, f"raw personal data in an output: {found}"


def hostile_app(strict: bool) -> tuple[Flask, TikTokPixel]:
    """A shop whose views hand the request's JSON body to each entry point."""
    app = make_app(TIKTOK_PIXEL_STRICT=strict)
    pixel = TikTokPixel(app)

    @app.post("/track")
    def track() -> str:
        body = request.get_json()
        pixel.track("Search", body["params"])
        pixel.track("AddToCart", body["params"], defer=True)
        return page()

    @app.post("/identify")
    def identify() -> str:
        pixel.identify(**request.get_json())
        return page()

    @app.post("/segment")
    def segment() -> str:
        body = request.get_json()
        pixel.segment.identify(body["user_id"], body["traits"])
        pixel.segment.track(body["event"], body["properties"])
        pixel.segment.page(None, body["properties"])
        return page()

    return app, pixel


@pytest.fixture(scope="module")
def lenient() -> FlaskClient:
    app, _ = hostile_app(strict=False)
    return app.test_client()


@pytest.fixture(scope="module")
def strict() -> FlaskClient:
    app, _ = hostile_app(strict=True)
    return app.test_client()


class LogText(logging.Handler):
    """Every log record's message, formatted as a log file would hold it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def lenient_request(client: FlaskClient, path: str, body: Any) -> None:
    handler = LogText()
    logger = logging.getLogger("pixel_embed")
    logger.addHandler(handler)
    try:
        response = client.post(path, data=json.dumps(body), content_type="application/json")
    finally:
        logger.removeHandler(handler)
    assert response.status_code == 200, response.text[:500]
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    assert_no_raw_pii(response.text, headers, *handler.lines)
    for line in handler.lines:
        assert "\n" not in line, line
        assert "\x1b" not in line, line


def strict_request(client: FlaskClient, path: str, body: Any) -> None:
    try:
        response = client.post(path, data=json.dumps(body), content_type="application/json")
    except PixelError as error:  # a named error: what strict mode promises
        assert_no_raw_pii(str(error), repr(error))  # it ends up in the server's logs
        return
    assert response.status_code == 200, response.text[:500]
    assert_no_raw_pii(response.text)


def json_safe(value: Any) -> Any:
    """What a JSON body can carry: NaN and infinities are not JSON, big ints are strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


Check = Callable[[FlaskClient, str, Any], None]
MODES: list[tuple[str, Check]] = [("lenient", lenient_request), ("strict", strict_request)]


@pytest.mark.parametrize(("mode", "check"), MODES)
@HYPOTHESIS
@given(data=params)
@example(data={"value": "9" * 499_000, "currency": "USD", "query": EMAIL})
@example(data={"value": "sNaN", "__proto__": {"x": 1}, "description": f"call {PHONE}"})
@example(data={"contents": [{"content_id": "a\ud800", "price": "1e999", "brand": NANP}]})
@example(data={"custom": [[[[[[[[[["deep"]]]]]]]]]], "content_ids": ["x"] * 1000})
@example(data=[EMAIL, {"value": 1}])  # not a mapping at all
def test_track(request: pytest.FixtureRequest, mode: str, check: Check, data: Any) -> None:
    check(request.getfixturevalue(mode), "/track", {"params": json_safe(data)})


@pytest.mark.parametrize(("mode", "check"), MODES)
@HYPOTHESIS
@given(fields=identity_fields)
@example(fields={"email": "a" * 480_000 + "@example.com", "external_id": "u" * 100_000})
@example(fields={"email": "a\ud800@example.com", "zip_code": "9\udfff", "external_id": "\ud800"})
@example(fields={"city": EMAIL, "state": PHONE, "first_name": NANP, "external_id": 10**4000})
def test_identify(
    request: pytest.FixtureRequest, mode: str, check: Check, fields: dict[str, Any]
) -> None:
    body = {k: str(v) if isinstance(v, int) and abs(v) > 2**63 else v for k, v in fields.items()}
    check(request.getfixturevalue(mode), "/identify", body)


@pytest.mark.parametrize(("mode", "check"), MODES)
@HYPOTHESIS
@given(
    event=st.one_of(
        st.sampled_from(["Products Searched", "Order Completed", "Product Added"]), texts
    ),
    user_id=st.one_of(st.none(), texts, st.integers(min_value=-(10**20), max_value=10**20)),
    traits=st.dictionaries(st.sampled_from(["email", "phone", "address", "name"]), json_values),
    properties=st.dictionaries(
        st.sampled_from(["query", "revenue", "price", "currency", "products", "product_id"]),
        json_values,
        max_size=5,
    ),
)
@example(
    event="Order Completed",
    user_id=None,
    traits={"email": EMAIL},
    properties={"revenue": "9" * 499_000, "products": [{"product_id": NANP, "price": "sNaN"}]},
)
def test_segment(
    request: pytest.FixtureRequest,
    mode: str,
    check: Check,
    event: str,
    user_id: Any,
    traits: dict[str, Any],
    properties: dict[str, Any],
) -> None:
    body = {
        "event": event,
        "user_id": user_id,
        "traits": json_safe(traits),
        "properties": json_safe(properties),
    }
    check(request.getfixturevalue(mode), "/segment", body)


urls = st.one_of(
    st.none(),
    texts,
    st.builds(
        lambda path, name, value: f"https://shop.example/{path}?{name}={value}&q=ok",
        texts,
        st.sampled_from(["email", "reset_token", "accessToken", "q", "phone", "ref"]),
        texts,
    ),
)


@HYPOTHESIS
@given(data=params, fields=identity_fields, url=urls, referrer=urls)
@example(data={}, fields={}, url=None, referrer="?0@0.AA")  # an e-mail as a parameter name
@example(
    data={"query": EMAIL},
    fields={"email": EMAIL},
    url=f"https://shop.example/reset?reset_token=s3cret&email={EMAIL}",
    referrer=f"https://u:p@mail.example/{EMAIL}?n={NANP}",
)
def test_server_event_payloads(
    data: dict[str, Any], fields: dict[str, Any], url: str | None, referrer: str | None
) -> None:
    event = validate_event("Search", data, on_error=lambda error: None)
    identity = Identity.from_raw(**fields, on_error=lambda error: None)
    context = RequestContext(url=url, referrer=referrer, ip="203.0.113.9", ttp="ttp")
    payload = server_event(event, identity, context)
    text = json.dumps(payload, allow_nan=False)  # JSON as it is sent: no NaN, encodable
    text.encode("utf-8")
    assert_no_raw_pii(text)
    assert "s3cret" not in text
    assert CODE not in text  # the pixel code is the request's, not the event's
