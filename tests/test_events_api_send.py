"""send_event(): server events with no request (webhooks, jobs, scripts), through the app's own
queue, with the visitor's stored matching context; every argument and every field of the stored
context attacked."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import orjson
import pytest
from events_api_support import TOKEN, closing_sender, events_app
from flask import Flask
from hypothesis import HealthCheck, example, given, settings
from hypothesis import event as target_event
from hypothesis import strategies as st

from benchmarks.screen import load_corpus
from pixel_embed import TikTokPixel, order_event_id
from pixel_embed.errors import InvalidEvent, InvalidIdentity, InvalidInput
from pixel_embed.events_api import BackgroundSender, EventsApiClient, ServerEvents
from pixel_embed.events_api.context import (
    MAX_CONTEXT_BYTES,
    capture,
    read,
)
from pixel_embed.events_api.payload import RequestContext
from pixel_embed.events_api.quality import match_quality
from pixel_embed.events_api.send import PROCESS_QUALITY, send_event
from pixel_embed.matching import Identity, sha256_hex
from pixel_embed.render import CONSENT_COOKIE
from pixel_embed.screening import find_personal_data
from pixel_embed.testing.events_api import FakeEventsApi

CODE = "CABCDE1234567890ABCD"
CRM_SET = "7654321098765432109"
UA = "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"
EMAIL = "jane@example.com"
EMAIL_HASH = sha256_hex(EMAIL)


def visit(**changes: Any) -> dict[str, Any]:
    """A context as pixel.matching_context() captures it at checkout."""
    context = capture(
        RequestContext(
            ip="203.0.113.9",
            user_agent=UA,
            url="https://shop.example/checkout?email=jane@example.com&step=2",
            ttp="01JABCDEFGHJKMNPQRSTVWXYZ0_.tt.1",
            ttclid="E.C.P.CvgBdLz0",
        ),
        Identity.from_raw(email=EMAIL, external_id="u-42"),
        consent="granted",
        ldu=False,
    )
    context.update(changes)
    return context


@pytest.fixture
def app(fake: FakeEventsApi) -> Iterator[Flask]:
    app = events_app(fake)
    pixel = TikTokPixel(app)

    @app.get("/thanks/<order_id>")
    def thanks(order_id: str) -> tuple[str, dict[str, str]]:
        event_id = pixel.track("CompletePayment", value=42.5, currency="EUR", order_id=order_id)
        return "thanks", {"X-Event-Id": event_id}

    with closing_sender(app):
        yield app


def delivered(app: Flask) -> None:
    sender = app.extensions["tiktok_pixel_events_api"].sender
    assert sender.flush(timeout=10)


def test_the_webhooks_purchase_has_the_browsers_id_and_the_visitors_stored_keys(
    app: Flask, fake: FakeEventsApi
) -> None:
    browser_id = app.test_client().get("/thanks/o-1001").headers["X-Event-Id"]
    stored = orjson.dumps(visit()).decode()  # as a database column keeps it

    sent = send_event(
        app, "CompletePayment", value=42.5, currency="EUR", order_id="o-1001", context=stored
    )

    assert sent == browser_id == order_event_id("CompletePayment", "o-1001")
    delivered(app)
    event = fake.to_have_received(
        "Purchase",
        event_id=browser_id,
        user={
            "ttclid": "E.C.P.CvgBdLz0",
            "ttp": "01JABCDEFGHJKMNPQRSTVWXYZ0_.tt.1",
            "ip": "203.0.113.9",
            "user_agent": UA,
            "email": EMAIL_HASH,
            "external_id": sha256_hex("u-42"),
        },
        properties={"value": 42.5, "currency": "EUR", "order_id": "o-1001"},
    )
    assert event["page"] == {"url": "https://shop.example/checkout?step=2"}
    assert event["limited_data_use"] is False
    assert not fake.problems


def test_the_identity_given_wins_and_a_different_person_replaces_the_stored_one(
    app: Flask, fake: FakeEventsApi
) -> None:
    send_event(
        app, "Subscribe", event_id="s-1", context=visit(), identity={"phone_number": "+12133734253"}
    )
    send_event(
        app, "Subscribe", event_id="s-2", context=visit(), identity={"email": "bob@example.com"}
    )
    delivered(app)
    one = fake.to_have_received("Subscribe", event_id="s-1")["user"]
    assert one["email"] == EMAIL_HASH
    assert one["phone"] == sha256_hex("+12133734253")
    two = fake.to_have_received("Subscribe", event_id="s-2")["user"]
    assert two["email"] == sha256_hex("bob@example.com")
    assert "external_id" not in two  # Jane's, not Bob's


def test_with_no_context_it_sends_what_it_is_given(app: Flask, fake: FakeEventsApi) -> None:
    event_id = send_event(app, "CompleteRegistration", identity={"email": EMAIL})
    delivered(app)
    event = fake.to_have_received("CompleteRegistration", event_id=event_id)
    assert event["user"] == {"email": EMAIL_HASH}
    assert "page" not in event


def test_a_declined_visitor_gets_no_event_and_a_strict_site_none_without_a_yes(
    fake: FakeEventsApi,
) -> None:
    sender = BackgroundSender(EventsApiClient(access_token=TOKEN, url=fake.url))
    try:
        for mode, consent, sent in [
            ("none", "denied", False),
            ("none", None, True),
            ("hold", None, True),
            ("strict", None, False),
            ("strict", "granted", True),
        ]:
            server = ServerEvents(codes=(CODE,), sender=sender, consent=mode)  # type: ignore[arg-type]
            result = send_event(server, "Lead", context=visit(consent=consent))
            assert (result is not None) is sent, (mode, consent)
        # CRM and offline events have no browser, but a stored "no" is honoured for them too.
        server = ServerEvents(codes=(CODE,), sender=sender, consent="strict")
        crm = {"source": "crm", "source_id": CRM_SET, "lead": {"lead_id": "1"}}
        assert send_event(server, "Qualified", **crm) is not None  # type: ignore[arg-type]
        denied = send_event(server, "Qualified", context=visit(consent="denied"), **crm)  # type: ignore[arg-type]
        assert denied is None
        assert sender.flush(timeout=10)
    finally:
        sender.close(timeout=2)
    assert len(fake.events) == 4


def test_limited_data_use_as_it_was_at_the_visit(app: Flask, fake: FakeEventsApi) -> None:
    send_event(app, "Lead", event_id="ldu", context=visit(ldu=True))
    delivered(app)
    assert fake.to_have_received("Lead", event_id="ldu")["limited_data_use"] is True


def test_a_context_older_than_the_click_cookie_keeps_all_but_the_click(
    app: Flask, fake: FakeEventsApi
) -> None:
    old = visit(at=int(time.time()) - 40 * 86400)
    send_event(app, "Lead", event_id="old", context=old)
    delivered(app)
    user = fake.to_have_received("Lead", event_id="old")["user"]
    assert "ttclid" not in user
    assert "ttp" not in user
    assert user["ip"] == "203.0.113.9"


HOSTILE_FIELDS = [
    ("ttclid", "E.C.P.<script>alert(1)</script>", "context.ttclid"),
    ("ttp", "x" * 500, "context.ttp"),
    ("ip", "999.1.1.1", "context.ip"),
    ("ip", ["203.0.113.9"], "context.ip"),
    ("user_agent", "Mozilla\x00/5.0", "context.user_agent"),
    ("user_agent", "A" * 600, "context.user_agent"),
    ("url", 42, "context.url"),
    ("url", "https://shop.example/?email=jane@example.com", "context.url"),  # found by the property
    ("url", "javascript:alert(1)", "context.url"),
    ("user_agent", "Mozilla/5.0 jane@example.com", "context.user_agent"),
    ("email", EMAIL, "context.email"),  # a raw address, never a hash: refused, not hashed
    ("phone", "12345", "context.phone"),
    ("external_id", {"$gt": ""}, "context.external_id"),
    ("at", time.time() + 86400, "context.at"),
    ("at", True, "context.at"),
    ("consent", "yes please", "context.consent"),
    ("ldu", "false", "context.ldu"),
]


@pytest.mark.parametrize(("field", "value", "named"), HOSTILE_FIELDS)
def test_a_tampered_field_is_refused_by_name_and_only_it_is_left_out(
    fake: FakeEventsApi, field: str, value: object, named: str, caplog: pytest.LogCaptureFixture
) -> None:
    context = visit(**{field: value})
    with pytest.raises(InvalidEvent) as refused:
        read(context, on_error=_raise)
    assert refused.value.field == named
    # Lenient: logged, that field left out (consent: taken as denied; ldu: taken as on).
    app = events_app(fake, TIKTOK_PIXEL_STRICT=False)
    TikTokPixel(app)
    with closing_sender(app):
        sent = send_event(app, "Lead", event_id=f"t-{field}", context=context)
        if field == "consent":
            assert sent is None
            return
        delivered(app)
    event = fake.to_have_received("Lead", event_id=f"t-{field}")
    assert named in caplog.text
    assert EMAIL not in caplog.text
    kept = {"ttclid", "ttp", "ip", "user_agent", "email", "external_id"} - {field}
    assert kept <= set(event["user"])
    assert field not in event["user"]
    assert event["limited_data_use"] is (field == "ldu")


def _raise(error: InvalidEvent) -> None:
    raise error


@pytest.mark.parametrize(
    ("context", "named", "problem"),
    [
        ({**visit(), "v": 2}, "context.v", "newer pixel_embed"),
        ({k: v for k, v in visit().items() if k != "v"}, "context.v", "layout this release reads"),
        ("{not json", "context", "is not JSON"),
        ("x" * (MAX_CONTEXT_BYTES + 1), "context", f"longer than {MAX_CONTEXT_BYTES} bytes"),
        ({**visit(), "padding": "x" * MAX_CONTEXT_BYTES}, "context", "over 4096 bytes"),
        ({**visit(), "nested": {"a": object()}}, "context", "over 4096 bytes as JSON, or not"),
        (["v", 1], "context", "is not a matching context"),
        (b"null", "context", "is not a matching context"),
    ],
)
def test_what_is_not_a_context_is_refused_whole(context: object, named: str, problem: str) -> None:
    with pytest.raises(InvalidEvent) as refused:
        read(context, on_error=_raise)
    assert refused.value.field == named
    assert problem in refused.value.problem


def test_an_unreadable_context_sends_the_event_without_it_in_lenient_mode(
    fake: FakeEventsApi,
) -> None:
    app = events_app(fake, TIKTOK_PIXEL_STRICT=False)
    TikTokPixel(app)
    with closing_sender(app):
        assert send_event(app, "Lead", event_id="no-context", context={"v": 9}) == "no-context"
        delivered(app)
    assert fake.to_have_received("Lead", event_id="no-context")["user"] == {}


def test_a_captured_context_is_small_even_with_the_longest_values() -> None:
    longest = capture(
        RequestContext(
            ip="ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
            user_agent="U" * 512,
            url="https://shop.example/" + "p" * 2000,
            ttp="t" * 128,
            ttclid="c" * 500,
        ),
        Identity.from_raw(email=EMAIL, phone_number="+12133734253", external_id="x" * 200),
        consent="granted",
        ldu=True,
    )
    assert len(orjson.dumps(longest)) <= MAX_CONTEXT_BYTES
    assert read(longest, on_error=_raise).request.user_agent == "U" * 512
    too_long = capture(
        RequestContext(user_agent="U" * 513, url="https://x.example/" + "p" * 2100),
        Identity(),
        consent=None,
        ldu=False,
    )
    assert "user_agent" not in too_long
    assert "url" not in too_long


HOSTILE_ARGUMENTS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"event": "<script>"}, InvalidEvent, "event"),
    ({"value": float("nan"), "currency": "EUR"}, InvalidEvent, "value"),
    ({"value": 10, "currency": "EURO"}, InvalidEvent, "currency"),
    ({"value": 10}, InvalidEvent, "currency"),
    ({"event_id": "x" * 200}, InvalidEvent, "event_id"),
    ({"order_id": ["o-1"]}, InvalidEvent, "order_id"),
    ({"identity": {"email": "not an address"}}, InvalidIdentity, "email"),
    ({"identity": {"password": "hunter2"}}, InvalidEvent, "identity.password"),
    ({"identity": "jane@example.com"}, InvalidEvent, "identity"),
    ({"event_time": time.time() + 3600}, InvalidEvent, "event_time"),
    ({"event_time": time.time() - 3 * 86400}, InvalidEvent, "event_time"),
    ({"event_time": dt.datetime(2026, 1, 1)}, InvalidEvent, "event_time"),
    ({"event_time": "yesterday"}, InvalidEvent, "event_time"),
    ({"source": "app"}, InvalidEvent, "source"),
    ({"source": "crm"}, InvalidEvent, "source_id"),
    ({"source": "crm", "source_id": CODE}, InvalidEvent, "event_source_id"),
    ({"source": "crm", "source_id": CRM_SET}, InvalidEvent, "lead.lead_id"),
    (
        {"source": "crm", "source_id": CRM_SET, "lead": {"lead_id": "1\n"}},
        InvalidEvent,
        "lead.lead_id",
    ),
    ({"source": "offline", "source_id": CRM_SET}, InvalidEvent, "user.email"),
    ({"source_id": "not a code!"}, InvalidEvent, "event_source_id"),
]


@pytest.mark.parametrize(("arguments", "error", "field"), HOSTILE_ARGUMENTS)
def test_every_argument_is_checked_with_an_error_naming_it(
    app: Flask, fake: FakeEventsApi, arguments: dict[str, Any], error: type[Exception], field: str
) -> None:
    event = arguments.pop("event", "Purchase")
    with pytest.raises(error) as refused:
        send_event(app, event, **arguments)
    assert getattr(refused.value, "field", None) == field
    delivered(app)
    assert fake.events == []


def test_personal_data_in_free_text_is_masked_as_track_masks_it(
    app: Flask, fake: FakeEventsApi
) -> None:
    app.config["TIKTOK_PIXEL_STRICT"] = False
    send_event(app, "Contact", event_id="c-1", description="call me on +1 213 373 4253")
    delivered(app)
    description = fake.to_have_received("Contact", event_id="c-1")["properties"]["description"]
    assert "373" not in description


def test_crm_and_offline_events_go_to_their_event_sets(app: Flask, fake: FakeEventsApi) -> None:
    lead = {"lead_id": "7000000000000001", "lead_event_source": "HubSpot"}
    crm_id = send_event(app, "QualifiedLead", source="crm", source_id=CRM_SET, lead=lead)
    when = dt.datetime.now(dt.UTC) - dt.timedelta(days=20)
    send_event(
        app,
        "CompletePayment",
        value=12,
        currency="EUR",
        order_id="till-7",
        source="offline",
        source_id="7123456789012345678",
        identity={"email": EMAIL},
        event_time=when,
    )
    delivered(app)
    fake.to_have_received("QualifiedLead", event_id=crm_id, source="crm", lead=lead)
    offline = fake.to_have_received(
        "Purchase", source="offline", event_id=order_event_id("CompletePayment", "till-7")
    )
    assert offline["event_time"] == int(when.timestamp())
    assert not fake.problems


def test_server_events_off_sends_nothing_and_says_so(fake: FakeEventsApi) -> None:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="x", TIKTOK_PIXEL_CODE=CODE)
    TikTokPixel(app)
    assert send_event(app, "Lead", context=visit()) is None
    with pytest.raises(TypeError, match="a Flask app that set up TikTokPixel"):
        send_event(object(), "Lead")


class _ListSender:
    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []

    def send(self, key: str, data: Any) -> None:
        self.items.append((key, data))

    def close(self, timeout: float | None = None) -> None:
        pass


def test_a_sender_that_keeps_no_counts_is_counted_in_the_process() -> None:
    sender = _ListSender()
    server = ServerEvents(codes=(CODE, "CZYXWV0987654321ZYXW"), sender=sender)
    before = match_quality(PROCESS_QUALITY, hours=1)
    send_event(server, "ProcessCounted", event_id="p-1", context=visit())
    assert [key for key, _ in sender.items] == [CODE, "CZYXWV0987654321ZYXW"]
    assert not any(row.event == "ProcessCounted" for row in before.rows)
    row = match_quality(PROCESS_QUALITY, hours=1).row("ProcessCounted")
    assert row.events == 2
    assert row.shares["ttclid"] == 1.0


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.sampled_from([EMAIL, "+12133734253", "203.0.113.9", "E.C.P.x", "granted", "</script>"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
FIELDS = [
    "v",
    "at",
    "email",
    "phone",
    "external_id",
    "ttclid",
    "ttp",
    "url",
    "ip",
    "user_agent",
    "consent",
    "ldu",
]


@settings(max_examples=300, deadline=None)
@given(changes=st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=5))
@example(changes={"user_agent": "</script>"})  # found by this property, kept raw before
def test_any_stored_value_is_read_or_refused_by_name_and_nothing_raw_is_kept(
    changes: dict[str, Any],
) -> None:
    refused: list[InvalidEvent] = []
    stored = read(visit(**changes), on_error=refused.append)
    assert all(error.field.startswith("context") for error in refused)
    kept = orjson.dumps(
        {**stored.request.__dict__, **stored.identity.as_params(), "consent": stored.consent}
    ).decode()
    assert EMAIL not in kept
    assert "+12133734253" not in kept
    assert "</script>" not in kept
    for name in ("email", "phone_number", "external_id"):
        value = getattr(stored.identity, name)
        assert value is None or len(value) == 64
    assert stored.consent in (None, "granted", "denied")
    assert isinstance(stored.ldu, bool)


# In a Flask site: the context captured at checkout, the webhook with no visitor -------------


@pytest.fixture
def shop(fake: FakeEventsApi) -> Iterator[Flask]:
    app = events_app(fake, TIKTOK_PIXEL_LDU=False)
    pixel = TikTokPixel(app)
    stored: dict[str, Any] = {}

    @app.post("/checkout")
    def checkout() -> str:
        pixel.identify(email=EMAIL, external_id="u-42", defer=False)
        stored["o-7"] = orjson.dumps(pixel.matching_context()).decode()
        return "placed"

    @app.get("/thanks")
    def thanks() -> tuple[str, dict[str, str]]:
        event_id = pixel.track("CompletePayment", value=9.5, currency="EUR", order_id="o-7")
        return "thanks", {"X-Event-Id": event_id}

    @app.post("/webhook")
    def webhook() -> tuple[str, int]:
        sent = send_event(
            app, "CompletePayment", value=9.5, currency="EUR", order_id="o-7", context=stored["o-7"]
        )
        return sent or "", 200

    app.extensions["stored"] = stored
    with closing_sender(app):
        yield app


def test_the_context_captured_in_the_visitors_request_reaches_the_webhooks_event(
    shop: Flask, fake: FakeEventsApi
) -> None:
    visitor = shop.test_client()
    visitor.get("/?ttclid=E.C.P.landed")  # the ad click: the click id is kept in a cookie
    visitor.set_cookie("_ttp", "01JVISITOR000000000000000_.tt.1")
    checkout = {"User-Agent": UA, "X-Forwarded-For": "198.51.100.7"}
    visitor.post(
        "/checkout?coupon=x&email=jane@example.com",
        headers=checkout,
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    browser_id = visitor.get("/thanks").headers["X-Event-Id"]
    context = orjson.loads(shop.extensions["stored"]["o-7"])
    assert context == {
        "v": 1,
        "at": context["at"],
        "email": EMAIL_HASH,
        "external_id": sha256_hex("u-42"),
        "ttclid": "E.C.P.landed",
        "ttp": "01JVISITOR000000000000000_.tt.1",
        "url": "http://localhost/checkout?coupon=x",
        "ip": "203.0.113.9",
        "user_agent": UA,
        "consent": None,
        "ldu": False,
    }
    assert len(shop.extensions["stored"]["o-7"]) <= MAX_CONTEXT_BYTES

    # The payment provider: another client, no cookie, its own address and agent.
    provider = shop.test_client()
    answer = provider.post(
        "/webhook", headers={"User-Agent": "provider/1"}, environ_base={"REMOTE_ADDR": "10.9.9.9"}
    )

    assert answer.text == browser_id == order_event_id("CompletePayment", "o-7")
    delivered(shop)
    user = fake.to_have_received("Purchase", event_id=browser_id)["user"]
    assert user == {
        "email": EMAIL_HASH,
        "external_id": sha256_hex("u-42"),
        "ttclid": "E.C.P.landed",
        "ttp": "01JVISITOR000000000000000_.tt.1",
        "ip": "203.0.113.9",
        "user_agent": UA,
    }


def test_matching_context_outside_a_request_says_where_to_call_it(shop: Flask) -> None:
    pixel = shop.extensions["tiktok_pixel"]
    with pytest.raises(RuntimeError, match=r"pixel.matching_context\(\) needs a request"):
        pixel.matching_context()


def test_a_declined_visitors_context_stops_the_webhooks_event(
    shop: Flask, fake: FakeEventsApi
) -> None:
    visitor = shop.test_client()
    visitor.set_cookie(CONSENT_COOKIE, "denied")
    visitor.post("/checkout")
    assert orjson.loads(shop.extensions["stored"]["o-7"])["consent"] == "denied"
    assert shop.test_client().post("/webhook").text == ""
    delivered(shop)
    assert fake.events == []


def test_send_event_takes_plain_settings_in_a_script(fake: FakeEventsApi, tmp_path: Path) -> None:
    settings = {
        "TIKTOK_PIXEL_CODE": CODE,
        "TIKTOK_PIXEL_EVENTS_QUEUE": f"sqlite:///{tmp_path}/script.sqlite3",
        **fake.config,
    }
    event_id = send_event(settings, "Subscribe", context=visit())
    assert send_event(settings, "Subscribe", event_id="second") == "second"
    from pixel_embed.events_api.send import _setup_of

    sender = _setup_of(settings).server_events.sender
    sender.start()
    assert sender.flush(timeout=10)
    sender.close(timeout=2)
    fake.to_have_received("Subscribe", event_id=event_id, user={"ttclid": "E.C.P.CvgBdLz0"})
    fake.to_have_received("Subscribe", event_id="second")


def test_a_visit_from_an_internal_address_sends_no_webhook_event_either(
    fake: FakeEventsApi,
) -> None:
    """Staff testing the shop from the office: no server copy in the request, none later."""
    app = events_app(fake, TIKTOK_PIXEL_INTERNAL_IPS=["203.0.113.0/24"])
    TikTokPixel(app)
    with closing_sender(app):
        assert send_event(app, "CompletePayment", order_id="o-9", context=visit()) is None
        outside = send_event(app, "CompletePayment", order_id="o-9", context=visit(ip="192.0.2.1"))
        assert outside == order_event_id("CompletePayment", "o-9")
        delivered(app)
    assert [e["user"]["ip"] for e in fake.events] == ["192.0.2.1"]


PARAMS = st.dictionaries(
    st.sampled_from(["value", "currency", "order_id", "content_id", "description", "contents"])
    | st.text(max_size=12),
    JSON,
    max_size=4,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    event=st.sampled_from(["CompletePayment", "Lead", "Custom_1"]) | st.text(max_size=20),
    params=PARAMS,
    identity=st.none()
    | st.dictionaries(st.sampled_from(["email", "phone_number", "external_id"]), JSON, max_size=2),
    strict=st.booleans(),
)
def test_any_arguments_are_sent_or_refused_with_a_named_error_never_a_traceback(
    fake: FakeEventsApi, event: str, params: dict[str, Any], identity: Any, strict: bool
) -> None:
    sender = _ListSender()
    server = ServerEvents(codes=(CODE,), sender=sender)
    app = Flask(__name__)
    app.config.update(SECRET_KEY="x", TIKTOK_PIXEL_CODE=CODE, TIKTOK_PIXEL_STRICT=strict)
    app.config.update(fake.config)
    TikTokPixel(app, sender=sender)
    refused: list[str] = []
    for target in (server, app):
        try:
            sent = send_event(target, event, params, identity=identity, context=visit())
        except InvalidInput as exc:  # names the field (a parameter's own name may be "")
            refused.append(exc.field)
            continue
        target_event(f"sent: {sent is not None}")
        if sent is not None:
            data = sender.items[-1][1]
            text = orjson.dumps(data).decode()
            assert EMAIL not in text
            assert data["event_id"] == sent
    assert all(isinstance(field, str) for field in refused)


VARIANTS: list[str] = [row["text"] for row in load_corpus("pii_variants")]
PLACES: dict[str, Callable[[str], dict[str, str]]] = {
    "url_path": lambda v: {"url": "https://shop.example/" + quote(v, safe="/@+")},
    "url_query": lambda v: {"url": "https://shop.example/p?note=" + quote_plus(v)},
    "user_agent": lambda v: {"user_agent": f"Mozilla/5.0 {v}"},
    "ttclid": lambda v: {"ttclid": v},
    "ttp": lambda v: {"ttp": v},
    "ip": lambda v: {"ip": v},
    "email": lambda v: {"email": v},
}


@settings(max_examples=200, deadline=None)
@given(variant=st.sampled_from(VARIANTS), place=st.sampled_from(sorted(PLACES)))
def test_personal_data_put_in_a_stored_context_never_reaches_tiktok(
    variant: str, place: str
) -> None:
    """The privacy corpus's e-mail addresses and phone numbers, written into each field of a
    stored context (a tampered database row): what is sent holds none of them."""
    sender = _ListSender()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="x",
        TIKTOK_PIXEL_CODE=CODE,
        TIKTOK_PIXEL_STRICT=False,  # a tampered field is logged and left out
        TIKTOK_PIXEL_ACCESS_TOKEN=TOKEN,
    )
    TikTokPixel(app, sender=sender)
    send_event(app, "Lead", context=visit(**PLACES[place](variant)))
    [(_, data)] = sender.items
    text = orjson.dumps(data).decode()
    if place != "user_agent":  # a user agent is judged by the screen alone, as in a request
        assert variant not in text
    sent = [data["user"].get(key) for key in ("ttclid", "ttp", "user_agent")]
    sent.append(data.get("page", {}).get("url"))
    assert [find_personal_data(value) for value in sent if value] == [[]] * len(
        [value for value in sent if value]
    )


def test_an_identify_field_as_a_parameter_is_refused_not_sent_raw(
    fake: FakeEventsApi, caplog: pytest.LogCaptureFixture
) -> None:
    strict = events_app(fake)
    TikTokPixel(strict)
    with closing_sender(strict), pytest.raises(InvalidEvent, match=r"identity=|identify\("):
        send_event(strict, "Lead", {"external_id": "user-42-secret"}, event_id="s-1")
    app = events_app(fake, TIKTOK_PIXEL_STRICT=False)
    TikTokPixel(app)
    with closing_sender(app):
        send_event(
            app,
            "Lead",
            {"external_id": "user-42-secret", "value": 1, "currency": "USD"},
            event_id="s-2",
        )
        delivered(app)
    event = fake.to_have_received("Lead", event_id="s-2")
    assert "user-42-secret" not in str(event)
    assert "user-42-secret" not in caplog.text
    assert "external_id (value withheld)" in caplog.text
