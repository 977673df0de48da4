"""The Flask extension: configuration, views queueing events, deferred events, headers."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from conftest import CODE, OTHER_CODE, make_app, page
from flask import Flask, redirect, render_template_string
from flask.sessions import SecureCookieSession, SessionInterface
from flask.testing import FlaskClient
from werkzeug.wrappers import Request, Response

from pixel_embed import (
    ConfigurationError,
    InvalidEvent,
    InvalidPhoneNumber,
    TikTokPixel,
    hash_email,
    hash_phone,
)

TRACK = re.compile(r'ttq\.track\(("[^"]*"),(\{.*?\}),(\{"event_id":"[^"]*"\})\);')


def tracked(html: str) -> list[tuple[str, dict[str, Any], str]]:
    """(event, params, event_id) of each ttq.track call in the page."""
    return [
        (json.loads(name), json.loads(params), json.loads(options)["event_id"])
        for name, params, options in TRACK.findall(html)
    ]


def identified(html: str) -> dict[str, str] | None:
    found = re.search(r"ttq\.identify\((\{.*?\})\);", html)
    return json.loads(found.group(1)) if found else None


# -- registration and configuration -----------------------------------------------------------


def test_init_app_in_a_factory() -> None:
    pixel = TikTokPixel()
    app = make_app()
    pixel.init_app(app)
    assert app.extensions["tiktok_pixel"] is pixel
    assert app.jinja_env.globals["tiktok_pixel"] == pixel.render
    assert app.config["TIKTOK_PIXEL_CONSENT"] == "none"


def test_a_second_registration_is_refused(app: Flask, pixel: TikTokPixel) -> None:
    with pytest.raises(RuntimeError, match="already been registered on this Flask app"):
        TikTokPixel(app)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"TIKTOK_PIXEL_CODE": None}, "TIKTOK_PIXEL_CODE is not set"),
        ({"TIKTOK_PIXEL_CODE": "nope"}, "TIKTOK_PIXEL_CODE 'nope' is not a pixel code"),
        ({"TIKTOK_PIXEL_LDU": "yes"}, "TIKTOK_PIXEL_LDU must be True or False, not 'yes'"),
        ({"TIKTOK_PIXEL_CONSENT": "opt-in"}, "TIKTOK_PIXEL_CONSENT 'opt-in' is not one of"),
        ({"TIKTOK_PIXEL_DEFAULT_REGION": "USA"}, "TIKTOK_PIXEL_DEFAULT_REGION 'USA' is not"),
        ({"TIKTOK_PIXEL_INTERNAL_IPS": ["10.0.0.0/33"]}, "TIKTOK_PIXEL_INTERNAL_IPS entry '10.0.0.0/33'"),
        ({"TIKTOK_PIXEL_INTERNAL_IPS": 10}, "TIKTOK_PIXEL_INTERNAL_IPS must be a list"),
    ],
)  # fmt: skip
def test_configuration_errors_fail_at_init_app(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        TikTokPixel(make_app(**config))


def test_no_code_is_needed_when_disabled() -> None:
    app = make_app(TIKTOK_PIXEL_CODE=None, TIKTOK_PIXEL_ENABLED=False)
    TikTokPixel(app)
    app.add_url_rule("/", view_func=page)
    assert app.test_client().get("/").text.count("<!-- TikTok Pixel off: TIKTOK_PIXEL_ENABLED") == 1


# -- views queueing calls ---------------------------------------------------------------------


def test_a_page_gets_page_identify_and_tracks_in_order(app: Flask, pixel: TikTokPixel) -> None:
    ids: list[str] = []

    @app.get("/product")
    def product() -> str:
        pixel.identify(email=" Jane@Example.com ", phone_number="(213) 373-4253", region="US")
        ids.append(pixel.track("ViewContent", {"content_type": "product"}, value=5, currency="EUR"))
        ids.append(pixel.track("AddToWishlist", event_id="my-id"))
        return page()

    html = app.test_client().get("/product").text
    assert html.count("<script>") == 1
    assert html.index("ttq.page()") < html.index("ttq.identify(") < html.index("ttq.track(")
    assert identified(html) == {
        "email": hash_email("jane@example.com"),
        "phone_number": hash_phone("+12133734253"),
    }
    assert tracked(html) == [
        ("ViewContent", {"content_type": "product", "value": 5, "currency": "EUR"}, ids[0]),
        ("AddToWishlist", {}, "my-id"),
    ]
    assert "jane" not in html.lower()
    assert "373" not in html


def test_identify_merges_and_uses_the_default_region() -> None:
    app = make_app(TIKTOK_PIXEL_DEFAULT_REGION="gb")
    pixel = TikTokPixel(app)

    @app.get("/")
    def home() -> str:
        pixel.identify(email="jane@example.com")
        pixel.identify(phone_number="020 7946 0958")
        return page()

    assert identified(app.test_client().get("/").text) == {
        "email": hash_email("jane@example.com"),
        "phone_number": hash_phone("+442079460958"),
    }


def test_strict_mode_raises_with_the_field_named(app: Flask, pixel: TikTokPixel) -> None:
    with app.test_request_context("/"):
        with pytest.raises(
            InvalidPhoneNumber, match=r"phone_number \(value withheld\) has no country code"
        ):
            pixel.identify(phone_number="12")
        with pytest.raises(InvalidEvent, match="currency 'US' is not an ISO 4217"):
            pixel.track("CompletePayment", value=1, currency="US")


def test_lenient_mode_drops_the_bad_field_and_keeps_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app(TIKTOK_PIXEL_STRICT=False)
    pixel = TikTokPixel(app)

    @app.get("/")
    def home() -> str:
        pixel.identify(email="jane@example.com", phone_number="12")
        pixel.track("AddToCart", value="ten", currency="USD", query="mug")
        return page()

    with caplog.at_level(logging.WARNING, "pixel_embed"):
        html = app.test_client().get("/").text
    assert identified(html) == {"email": hash_email("jane@example.com")}
    assert [(e, p) for e, p, _ in tracked(html)] == [
        ("AddToCart", {"currency": "USD", "query": "mug"})
    ]
    assert "phone_number (value withheld) has no country code" in caplog.text
    assert "'12'" not in caplog.text  # personal data stays out of the logs
    assert "value 'ten' is not a number" in caplog.text


def test_an_external_id_given_to_track_is_refused_not_rendered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app(TIKTOK_PIXEL_STRICT=False)
    pixel = TikTokPixel(app)

    @app.get("/")
    def home() -> str:
        pixel.track("ViewContent", external_id="user-42-secret", content_id="sku-1")
        return page()

    with caplog.at_level(logging.WARNING, "pixel_embed"):
        html = app.test_client().get("/").text
    assert "user-42-secret" not in html
    assert [(e, p) for e, p, _ in tracked(html)] == [("ViewContent", {"content_id": "sku-1"})]
    assert "external_id (value withheld)" in caplog.text
    assert "identify(external_id=...)" in caplog.text
    assert "user-42-secret" not in caplog.text
    strict = make_app()
    strict_pixel = TikTokPixel(strict)
    with strict.test_request_context("/"), pytest.raises(InvalidEvent, match="external_id"):
        strict_pixel.track("ViewContent", external_id="user-42-secret")


def test_track_outside_a_request_says_where_to_call_it(pixel: TikTokPixel) -> None:
    with pytest.raises(RuntimeError, match=r"pixel\.track\(\) needs a request"):
        pixel.track("Search")


def test_an_unregistered_app_is_explained() -> None:
    pixel = TikTokPixel()
    with (
        make_app().test_request_context("/"),
        pytest.raises(RuntimeError, match=r"call pixel\.init_app"),
    ):
        pixel.track("Search")


def test_the_pixel_renders_once_per_page(app: Flask, pixel: TikTokPixel) -> None:
    app.add_url_rule(
        "/", view_func=lambda: render_template_string("{{ tiktok_pixel() }}{{ tiktok_pixel() }}")
    )
    html = app.test_client().get("/").text
    assert html.count("<script>") == 1
    assert "<!-- TikTok Pixel off: already rendered on this page -->" in html


def test_requests_inside_one_app_context_do_not_share_a_page(
    app: Flask, pixel: TikTokPixel
) -> None:
    # An app context held open around requests (a common test set-up) keeps one ``g`` for all
    # of them; each request's queue and "rendered" flag must still be its own.
    @app.get("/")
    def home() -> str:
        pixel.track("Search", query="mug")
        return page()

    with app.app_context():
        client = app.test_client()
        first, second = client.get("/").text, client.get("/").text
    assert len(tracked(first)) == len(tracked(second)) == 1
    assert tracked(first)[0][2] != tracked(second)[0][2]
    assert "already rendered" not in second


def test_a_browser_without_a_session_cookie_gets_a_page_that_does_not_vary_on_it(
    app: Flask, pixel: TikTokPixel
) -> None:
    # Nothing can be deferred for it, so the session is not even looked at.
    app.add_url_rule("/", view_func=page)
    assert "Vary" not in app.test_client().get("/").headers


def test_another_session_interface_is_always_asked_for_deferred_events() -> None:
    class OneVisitorServerSessions(SessionInterface):
        """Sessions kept on the server and found without any cookie."""

        def __init__(self) -> None:
            self.store: dict[str, Any] = {}

        def open_session(self, app: Flask, request: Request) -> SecureCookieSession:
            return SecureCookieSession(self.store)

        def save_session(self, app: Flask, session: Any, response: Response) -> None:
            self.store = dict(session)

    app = make_app()
    app.session_interface = OneVisitorServerSessions()
    pixel = TikTokPixel(app)

    @app.post("/buy")
    def buy() -> Response:
        pixel.track("CompletePayment", value=5, currency="USD", defer=True)
        return redirect("/thanks")

    app.add_url_rule("/thanks", view_func=page)
    client = app.test_client(use_cookies=False)
    client.post("/buy")
    assert [name for name, _, _ in tracked(client.get("/thanks").text)] == ["CompletePayment"]


def test_the_macro_import(app: Flask, pixel: TikTokPixel) -> None:
    app.add_url_rule(
        "/",
        view_func=lambda: render_template_string(
            '{% from "pixel_embed/macros.html" import tiktok_pixel %}{{ tiktok_pixel() }}'
        ),
    )
    assert 'ttq.load("CABCDE1234567890ABCD")' in app.test_client().get("/").text


def test_page_calls_lists_what_the_page_will_do(app: Flask, pixel: TikTokPixel) -> None:
    with app.test_request_context("/"):
        event_id = pixel.track("Search", query="mug")
        assert [(c.method, c.args) for c in pixel.page_calls()] == [
            ("page", ()),
            ("track", ("Search", {"query": "mug"}, {"event_id": event_id})),
        ]


def test_page_calls_are_copies_the_caller_may_change(app: Flask, pixel: TikTokPixel) -> None:
    with app.test_request_context("/"):
        pixel.track("Search", query="mug")
        pixel.page_calls()[1].args[1]["query"] = "changed"  # before the page is rendered
        html = str(pixel.render())
        pixel.page_calls()[1].args[1]["query"] = "changed"  # and after
        assert pixel.page_calls()[1].args[1] == {"query": "mug"}
        assert '"query":"mug"' in html
        assert "changed" not in html


# -- deferred events --------------------------------------------------------------------------


@pytest.fixture
def shop(app: Flask, pixel: TikTokPixel) -> FlaskClient:
    @app.post("/checkout")
    def checkout() -> Response:
        pixel.identify(email="jane@example.com")
        pixel.track("CompletePayment", value=42.5, currency="USD", order_id="o-1", defer=True)
        return redirect("/thank-you")

    app.add_url_rule("/thank-you", view_func=page)
    return app.test_client()


def test_a_deferred_purchase_fires_once_after_the_redirect(shop: FlaskClient) -> None:
    response = shop.post("/checkout", follow_redirects=True)
    assert [e for e, _, _ in tracked(response.text)] == ["CompletePayment"]
    assert identified(response.text) == {"email": hash_email("jane@example.com")}
    assert response.headers["Cache-Control"] == "private"
    refreshed = shop.get("/thank-you")
    assert tracked(refreshed.text) == []
    assert identified(refreshed.text) is None


@pytest.mark.parametrize(
    "header",
    [
        {"Sec-Purpose": "prefetch"},
        {"Sec-Purpose": "prefetch;prerender"},
        {"X-Sec-Purpose": "prefetch"},  # Turbo 8's hover prefetch
        {"Purpose": "prefetch"},
    ],
)
def test_a_prefetched_page_leaves_deferred_events_for_a_page_the_visitor_sees(
    shop: FlaskClient, header: dict[str, str]
) -> None:
    shop.post("/checkout")
    prefetched = shop.get("/thank-you", headers=header)
    assert tracked(prefetched.text) == []  # perhaps never shown: nothing taken from the session
    shown = shop.get("/thank-you")
    assert [e for e, _, _ in tracked(shown.text)] == ["CompletePayment"]
    assert identified(shown.text) == {"email": hash_email("jane@example.com")}


def test_a_head_request_leaves_deferred_events_and_the_identity_for_the_next_get(
    shop: FlaskClient,
) -> None:
    # A HEAD response has no body a browser runs (a link checker, an uptime monitor).
    shop.post("/checkout")
    head = shop.head("/thank-you")
    assert head.status_code == 200
    assert head.text == ""
    shown = shop.get("/thank-you")
    assert [e for e, _, _ in tracked(shown.text)] == ["CompletePayment"]
    assert identified(shown.text) == {"email": hash_email("jane@example.com")}


def test_deferred_events_read_from_the_session_are_checked_again(
    shop: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    # A session kept on the server is not signed by what wrote it: what it holds is input.
    shop.post("/checkout")
    with shop.session_transaction() as session:
        saved = session["_tiktok_pixel"]
        purchase = saved["events"][0]
        purchase["params"] = [  # pairs, as Event.to_dict writes them
            *[(k, "jane@example.com" if k == "order_id" else v) for k, v in purchase["params"]],
            ("external_id", "user-42-secret"),
        ]
        saved["events"].append({**purchase, "name": "</script><script>alert(1)//"})
        session["_tiktok_pixel"] = saved
    with caplog.at_level(logging.WARNING, "pixel_embed"):
        shown = shop.get("/thank-you").text
    assert "jane@example.com" not in shown
    assert "user-42-secret" not in shown
    assert "<script>alert" not in shown
    [(name, params, _)] = tracked(shown)
    assert name == "CompletePayment"
    assert params == {"value": 42.5, "currency": "USD", "order_id": "[email]"}
    assert identified(shown) == {"email": hash_email("jane@example.com")}
    assert "order_id (value withheld)" in caplog.text
    assert "is not an event name" in caplog.text


def test_the_identity_read_from_the_session_is_checked_again(
    shop: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    shop.post("/checkout")
    with shop.session_transaction() as session:
        saved = session["_tiktok_pixel"]
        saved["identity"] = {
            **saved["identity"],
            "external_id": "user-42-secret",
            "phone_number": "+12133734253",
            "city": "jane@example.com",
            "country": "us",
        }
        session["_tiktok_pixel"] = saved
    with caplog.at_level(logging.WARNING, "pixel_embed"):
        shown = shop.get("/thank-you").text
    for raw in ("user-42-secret", "2133734253", "jane@example.com"):
        assert raw not in shown
    assert identified(shown) == {"email": hash_email("jane@example.com"), "country": "us"}
    assert "ignored external_id of the identity in the session" in caplog.text


def test_the_redirect_itself_carries_nothing(shop: FlaskClient) -> None:
    response = shop.post("/checkout")
    assert response.status_code == 302
    assert "ttq" not in response.text


def test_deferred_events_keep_their_event_id_and_order(app: Flask, pixel: TikTokPixel) -> None:
    ids: list[str] = []

    @app.post("/cart")
    def cart() -> Response:
        ids.append(pixel.track("AddToCart", defer=True))
        ids.append(pixel.track("AddToWishlist", defer=True))
        return redirect("/next")

    @app.get("/next")
    def next_page() -> str:
        ids.append(pixel.track("ViewContent"))
        return page()

    client = app.test_client()
    client.post("/cart")
    html = client.get("/next").text
    assert [(e, i) for e, _, i in tracked(html)] == list(
        zip(["AddToCart", "AddToWishlist", "ViewContent"], ids, strict=True)
    )


def test_deferred_events_are_bounded(app: Flask, pixel: TikTokPixel) -> None:
    ids: list[str] = []

    @app.post("/spam")
    def spam() -> Response:
        ids.extend(pixel.track("ClickButton", defer=True) for _ in range(25))
        return redirect("/")

    app.add_url_rule("/", view_func=page)
    client = app.test_client()
    client.post("/spam")
    events = tracked(client.get("/").text)
    assert [event_id for _, _, event_id in events] == ids[5:]


def test_defer_needs_a_secret_key() -> None:
    app = make_app(SECRET_KEY=None)
    pixel = TikTokPixel(app)
    with (
        app.test_request_context("/"),
        pytest.raises(ConfigurationError, match=r"set app\.secret_key"),
    ):
        pixel.track("Search", defer=True)


def test_an_event_tracked_after_rendering_moves_to_the_next_page(
    app: Flask, pixel: TikTokPixel
) -> None:
    @app.get("/")
    def home() -> str:
        html = page()
        pixel.track("Search", query="late")
        return html

    client = app.test_client()
    assert tracked(client.get("/").text) == []
    assert [p for _, p, _ in tracked(client.get("/").text)] == [{"query": "late"}]


def test_events_never_rendered_are_reported(
    app: Flask, pixel: TikTokPixel, caplog: pytest.LogCaptureFixture
) -> None:
    @app.post("/")
    def lost() -> Response:
        pixel.track("AddToCart")
        return redirect("/")

    with caplog.at_level(logging.WARNING, "pixel_embed"):
        app.test_client().post("/")
    assert "1 event(s) queued on '/' were never rendered" in caplog.text


# -- headers, internal addresses, nonce -------------------------------------------------------


def test_pages_without_identity_stay_cacheable(app: Flask, pixel: TikTokPixel) -> None:
    app.add_url_rule("/", view_func=page)
    assert "Cache-Control" not in app.test_client().get("/").headers


def test_identity_makes_the_response_private(app: Flask, pixel: TikTokPixel) -> None:
    @app.get("/")
    def home() -> Response:
        pixel.identify(external_id="u-1")
        response = Response(page(), mimetype="text/html")
        response.cache_control.public = True
        response.cache_control.max_age = 60
        return response

    assert app.test_client().get("/").headers["Cache-Control"] == "max-age=60, private"


def test_internal_addresses_get_a_comment_instead() -> None:
    app = make_app(TIKTOK_PIXEL_INTERNAL_IPS=["10.0.0.0/8", "192.168.1.7"])
    TikTokPixel(app)
    app.add_url_rule("/", view_func=page)
    client = app.test_client()
    inside = client.get("/", environ_base={"REMOTE_ADDR": "10.1.2.3"}).text
    assert "<!-- TikTok Pixel off: request from an internal address" in inside
    assert "ttq" not in inside
    outside = client.get("/", environ_base={"REMOTE_ADDR": "203.0.113.9"}).text
    assert "ttq.load(" in outside


def test_the_nonce_function_is_used() -> None:
    app = make_app()
    TikTokPixel(app, nonce=lambda: "n0nce")
    app.add_url_rule("/", view_func=page)
    assert '<script nonce="n0nce">' in app.test_client().get("/").text


def test_flask_talismans_csp_nonce_global_is_picked_up() -> None:
    app = make_app()
    TikTokPixel(app)
    app.jinja_env.globals["csp_nonce"] = lambda: "t4lisman"
    app.add_url_rule("/", view_func=page)
    assert '<script nonce="t4lisman">' in app.test_client().get("/").text


def test_consent_cookie_is_read_on_the_server() -> None:
    app = make_app(TIKTOK_PIXEL_CONSENT="hold")
    pixel = TikTokPixel(app)
    app.add_url_rule("/", view_func=page)
    client = app.test_client()
    assert "ttq.grantConsent();\n" not in client.get("/").text
    client.set_cookie("pixel_embed_consent", "granted")
    assert "ttq.holdConsent();\n  ttq.grantConsent();" in client.get("/").text
    with app.test_request_context("/", headers={"Cookie": "pixel_embed_consent=denied"}):
        assert pixel.consent == "denied"
    with app.test_request_context("/", headers={"Cookie": "pixel_embed_consent=bogus"}):
        assert pixel.consent is None


def test_several_pixels_from_config() -> None:
    app = make_app(TIKTOK_PIXEL_CODE=[CODE, OTHER_CODE])
    TikTokPixel(app)
    app.add_url_rule("/", view_func=page)
    html = app.test_client().get("/").text
    assert f'ttq.load("{CODE}");\n  ttq.load("{OTHER_CODE}");' in html
    assert "ttq.instance(p)" in html


def test_deferred_parameters_keep_the_views_order(app: Flask, pixel: TikTokPixel) -> None:
    @app.post("/pay")
    def pay() -> Response:
        pixel.track("CompletePayment", value=1, currency="USD", order_id="o-1", defer=True)
        return redirect("/")

    app.add_url_rule("/", view_func=page)
    client = app.test_client()
    client.post("/pay")
    html = client.get("/").text
    assert '"CompletePayment",{"value":1,"currency":"USD","order_id":"o-1"}' in html


@pytest.mark.parametrize(
    ("old", "names", "new"),
    [
        (
            "pixel_embed.extension",
            ["SESSION_KEY", "MAX_ONCE_KEYS", "SIBLING_SESSION_BYTES", "MAX_DEFERRED"],
            "pixel_embed.core.deferred",
        ),
        (
            "pixel_embed.extension",
            ["PREFETCH_HEADERS", "RESTORE_HEADER", "is_prefetch", "is_history_restore"],
            "pixel_embed.core.policy",
        ),
        ("pixel_embed.extension", ["TikTokPixel"], "pixel_embed"),
        (
            "pixel_embed.events_api.commands",
            ["events_cli", "status", "retry", "purge", "deliver", "rq_worker"],
            "pixel_embed.integrations.flask.commands",
        ),
    ],
)
def test_0_1s_module_paths_still_work_with_a_warning_naming_the_new_one(
    old: str, names: list[str], new: str
) -> None:
    """0.1 had pixel_embed.extension (its docs cited extension.SESSION_KEY, MAX_ONCE_KEYS and
    SIBLING_SESSION_BYTES) and pixel_embed.events_api.commands; the split removed both."""
    import importlib
    import sys

    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} is deprecated: import .* from "):
        module = importlib.import_module(old)
    moved = importlib.import_module(new)
    for name in names:
        assert getattr(module, name) is getattr(moved, name)
        assert name in module.__all__


def test_0_1s_flask_entry_point_still_finds_the_command_group() -> None:
    """An environment left with 0.1's entry point metadata (pixel_embed.cli:flask_cli)."""
    from importlib.metadata import EntryPoint

    from pixel_embed.integrations.flask.cli import flask_cli

    old = EntryPoint(name="tiktok-pixel", value="pixel_embed.cli:flask_cli", group="flask.commands")
    with pytest.warns(DeprecationWarning, match="pixel_embed.cli.flask_cli is deprecated"):
        assert old.load() is flask_cli
