"""The demo shop through Flask's test client: what each page renders, without a browser."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from urllib.error import URLError

import pytest
from flask import Flask
from flask.testing import FlaskClient

from demo_site import DEMO_PIXEL_CODE, create_app
from demo_site.__main__ import config_from_args, parse_args
from pixel_embed import ConfigurationError, hash_email, hash_phone, order_event_id
from pixel_embed.csp import policy_problems

_TRACK = re.compile(r'ttq\.track\("([^"]+)",(\{.*?\}),\{"event_id":"([^"]+)"\}\);')
_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.S)


def shop(**config: object) -> Flask:
    return create_app({"TESTING": True, "DEMO_SEED_CUSTOMER": False, **config})


@pytest.fixture
def client() -> Iterator[FlaskClient]:
    with shop().test_client() as client:
        yield client


def tracked(html: str) -> list[str]:
    """The event names of the page's ttq.track calls, in order."""
    return [match[0] for match in _TRACK.findall(html)]


def scripts(html: str) -> list[str]:
    return [body for _, body in _SCRIPT.findall(html)]


def buy(client: FlaskClient, slug: str = "enamel-mug", quantity: int = 2) -> str:
    """Add to cart, check out and place the order; the order page's address."""
    client.post("/cart/add", data={"product": slug, "quantity": str(quantity)})
    client.post("/checkout/payment", data={"payment_method": "card"})
    placed = client.post("/checkout/place")
    assert placed.status_code == 302
    return placed.location


PAGES = [
    "/",
    "/category/apparel",
    "/category/kitchen",
    "/category/accessories",
    "/product/black-tee",
    "/product/navy-cap",
    "/search?q=mug",
    "/search",
    "/cart",
    "/wishlist",
    "/signup",
    "/login",
    "/contact",
    "/downloads",
    "/downloads/size-guide",
]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_with_the_pixel(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    html = response.text
    assert f'ttq.load("{DEMO_PIXEL_CODE}");' in html
    assert "ttq.page();" in html
    assert 'id="consent-banner"' in html


def test_unknown_pages_are_404_with_the_shop_layout(client: FlaskClient) -> None:
    for path in ("/nope", "/product/nope", "/category/nope", "/orders/PX-0000", "/downloads/x"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "We could not find that page" in response.text
        assert tracked(response.text) == []


def test_product_page_tracks_view_content_with_its_contents(client: FlaskClient) -> None:
    html = client.get("/product/enamel-mug").text
    assert (
        'ttq.track("ViewContent",{"contents":[{"content_id":"PX-2001","content_type":"product",'
        '"content_name":"Enamel camp mug","content_category":"kitchen","price":14.5,"quantity":1}]'
        ',"value":14.5,"currency":"USD"},{"event_id":"'
    ) in html


def test_search_tracks_the_query_only_when_there_is_one(client: FlaskClient) -> None:
    assert tracked(client.get("/search?q=tote").text) == ["Search"]
    assert "Canvas tote bag" in client.get("/search?q=tote").text
    assert tracked(client.get("/search?q=+").text) == []
    assert tracked(client.get("/search").text) == []


def test_search_escapes_a_hostile_query_everywhere(client: FlaskClient) -> None:
    html = client.get("/search", query_string={"q": "</script><script>alert(1)//"}).text
    assert "<script>alert(1)" not in html
    assert '"query":"\\u003c/script\\u003e\\u003cscript\\u003ealert(1)//"' in html
    assert "&lt;/script&gt;&lt;script&gt;alert(1)//" in html


def test_search_masks_an_e_mail_or_phone_typed_in_the_box(client: FlaskClient) -> None:
    # The demo runs in strict mode: the view masks the query itself, so no HTTP 500 either;
    # and its GET search form puts the query in the page's URL, which TikTok's SDK would send
    # (context.page.url): strict mode leaves the pixel out of such a page.
    response = client.get("/search", query_string={"q": "jane@example.com call 415-555-0100"})
    assert response.status_code == 200
    scripts_text = "".join(scripts(response.text))
    assert (
        "TikTok Pixel off: the URL of this page holds what looks like personal data"
        in response.text
    )
    assert "jane@example.com" not in scripts_text
    assert "415-555-0100" not in scripts_text
    masked = client.get("/search", query_string={"q": "red mug"}).text
    assert '"query":"red mug"' in "".join(scripts(masked))
    assert client.get("/search", query_string={"q": "9" * 100_000}).status_code == 200


def test_form_posts_track_on_the_next_page_only(client: FlaskClient) -> None:
    response = client.post("/cart/add", data={"product": "black-tee", "quantity": "1"})
    assert (response.status_code, response.location) == (302, "/cart")
    assert tracked(client.get("/cart").text) == ["AddToCart"]
    assert tracked(client.get("/cart").text) == []


def test_out_of_stock_and_bad_quantities_are_not_added(client: FlaskClient) -> None:
    client.post("/cart/add", data={"product": "navy-cap"})
    client.post("/cart/add", data={"product": "black-tee", "quantity": "0"})
    client.post("/cart/add", data={"product": "black-tee", "quantity": "many"})
    html = client.get("/cart").text
    assert "Your cart is empty" in html
    assert "Quantity must be a whole number from 1 to 20" in html
    assert tracked(html) == []
    assert client.post("/cart/add", data={"product": "nope"}).status_code == 404


def test_checkout_fires_each_step_once(client: FlaskClient) -> None:
    client.post("/cart/add", data={"product": "stoneware-mug", "quantity": "1"})
    assert tracked(client.get("/checkout").text) == ["AddToCart", "InitiateCheckout"]
    client.post("/checkout/payment", data={"payment_method": "invoice"})
    assert tracked(client.get("/checkout/review").text) == ["AddPaymentInfo"]
    order_page = client.post("/checkout/place").location
    assert tracked(client.get(order_page).text) == ["PlaceAnOrder"]


def test_checkout_steps_out_of_order_go_back(client: FlaskClient) -> None:
    assert client.get("/checkout").location == "/cart"
    assert client.get("/checkout/review").location == "/cart"
    client.post("/cart/add", data={"product": "black-tee"})
    assert client.get("/checkout/review").location == "/checkout"
    assert client.post("/checkout/payment", data={"payment_method": "gold"}).location == (
        "/checkout"
    )
    assert client.post("/checkout/place").location == "/checkout"


def test_payment_is_tracked_once_even_when_submitted_twice(client: FlaskClient) -> None:
    order_page = buy(client)
    order_id = order_page.rsplit("/", 1)[1]
    client.get(order_page)  # PlaceAnOrder fires here

    assert client.post(f"{order_page}/pay").location == order_page
    html = client.get(order_page).text
    [(name, params, event_id)] = _TRACK.findall(html)
    assert (name, event_id) == ("CompletePayment", order_event_id("CompletePayment", order_id))
    assert json.loads(params) == {
        "contents": [
            {
                "content_id": "PX-2001",
                "content_type": "product",
                "content_name": "Enamel camp mug",
                "content_category": "kitchen",
                "price": 14.5,
                "quantity": 2,
            }
        ],
        "value": 29.0,
        "currency": "USD",
        "order_id": order_id,
    }
    assert "Paid. Thank you!" in html

    assert tracked(client.get(order_page).text) == []
    client.post(f"{order_page}/pay")
    assert tracked(client.get(order_page).text) == []


def test_an_order_is_only_visible_to_the_browser_that_placed_it(client: FlaskClient) -> None:
    order_page = buy(client)
    with client.application.test_client() as stranger:
        assert stranger.get(order_page).status_code == 404
        assert stranger.post(f"{order_page}/pay").status_code == 404


def sign_up(client: FlaskClient, **fields: str) -> FlaskClient:
    form = {
        "name": "Ada",
        "email": "Ada@Example.com",
        "phone": "(213) 373-4253",
        "password": "correct horse",
    }
    response = client.post("/signup", data={**form, **fields})
    assert response.status_code == 302, response.text
    return client


def test_signed_in_pages_identify_with_hashes_only(client: FlaskClient) -> None:
    sign_up(client)
    html = client.get("/account").text
    assert tracked(html) == ["CompleteRegistration"]
    for path in ("/", "/product/black-tee", "/cart", "/account"):
        html = client.get(path).text
        identify = re.search(r"ttq\.identify\((\{.*?\})\);", html)
        assert identify is not None, path
        assert hash_email("ada@example.com") in identify[1]
        assert hash_phone("+12133734253") in identify[1]
        assert '"external_id":"' in identify[1]
        # The raw number in any form it was typed or normalised to ("373" alone also turns up
        # in random event ids and digests).
        raw = ("373-4253", "3734253", "373 4253")
        assert not any("@" in s or any(r in s for r in raw) for s in scripts(html))
    assert "Signed in as Ada" in html
    client.post("/logout")
    assert "ttq.identify" not in client.get("/").text


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"email": "ada@"}, "E-mail address does not look like name@example.com"),
        ({"phone": "12"}, "Phone number"),
        ({"password": "short"}, "Password must be at least 8 characters"),
        ({"name": " "}, "Name is required"),
    ],
)
def test_sign_up_errors_are_shown_on_the_form(
    client: FlaskClient, fields: dict[str, str], problem: str
) -> None:
    form = {"name": "Ada", "email": "ada@example.com", "password": "correct horse"}
    response = client.post("/signup", data={**form, **fields})
    assert response.status_code == 400
    assert problem in response.text
    assert tracked(response.text) == []


def test_one_account_per_address(client: FlaskClient) -> None:
    sign_up(client)
    client.post("/logout")
    response = client.post(
        "/signup", data={"name": "A", "email": "ADA@example.com", "password": "12345678"}
    )
    assert response.status_code == 400
    assert "already has an account" in response.text


def test_log_in_and_out(client: FlaskClient) -> None:
    sign_up(client)
    client.post("/logout")
    assert client.get("/account").location == "/login"
    wrong = client.post("/login", data={"email": "ada@example.com", "password": "nope"})
    assert wrong.status_code == 400
    right = client.post(
        "/login", data={"email": " ADA@example.com", "password": "correct horse", "next": "/cart"}
    )
    assert right.location == "/cart"


def test_seeded_customer_can_log_in() -> None:
    with create_app({"TESTING": True}).test_client() as client:
        response = client.post(
            "/login", data={"email": "jane@example.com", "password": "pixel-demo"}
        )
        assert response.location == "/account"


def test_contact_newsletter_download_wishlist_button_and_custom_event(
    client: FlaskClient,
) -> None:
    form = {"name": "Grace", "email": "grace@example.com", "message": "Hi"}
    assert client.post("/contact", data=form).location == "/contact"
    assert tracked(client.get("/contact").text) == ["Contact", "SubmitForm"]

    client.post("/newsletter", data={"email": "grace@example.com", "next": "/downloads"})
    assert tracked(client.get("/downloads").text) == ["Subscribe"]

    assert client.post("/downloads/size-guide").location == "/downloads/size-guide"
    assert tracked(client.get("/downloads/size-guide").text) == ["Download"]
    file = client.get("/downloads/size-guide/file")
    assert file.headers["Content-Disposition"].startswith("attachment;")
    assert "Chest (cm)" in file.text

    client.post("/wishlist/add", data={"product": "canvas-tote"})
    assert tracked(client.get("/wishlist").text) == ["AddToWishlist"]

    client.post("/product/navy-cap/notify")
    assert tracked(client.get("/product/navy-cap").text) == ["ClickButton", "ViewContent"]

    client.post("/cart/add", data={"product": "canvas-tote"})
    client.post("/cart/gift-wrap", data={"gift_wrap": "on"})
    assert tracked(client.get("/cart").text) == ["AddToCart", "tiktok_custom_event"]
    client.post("/cart/gift-wrap", data={"gift_wrap": "on"})
    assert tracked(client.get("/cart").text) == []


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"email": "grace@"}, "E-mail address does not look like name@example.com"),
        ({"message": ""}, "Message is required"),
        ({"message": "x" * 2001}, "Message is longer than 2000 characters"),
    ],
)
def test_contact_form_errors_fire_nothing(
    client: FlaskClient, fields: dict[str, str], problem: str
) -> None:
    form = {"name": "Grace", "email": "grace@example.com", "message": "Hi", **fields}
    response = client.post("/contact", data=form)
    assert response.status_code == 400
    assert problem in response.text
    assert tracked(response.text) == []
    assert tracked(client.get("/").text) == []


def test_a_bad_newsletter_address_is_refused(client: FlaskClient) -> None:
    client.post("/newsletter", data={"email": "nope", "next": "/cart"})
    html = client.get("/cart").text
    assert "E-mail address does not look like name@example.com" in html
    assert tracked(html) == []


@pytest.mark.parametrize(
    ("target", "lands_on"),
    [("/cart", "/cart"), ("https://evil.example/", "/"), ("//evil.example/", "/"), ("", "/")],
)
def test_newsletter_goes_back_to_this_site_only(
    client: FlaskClient, target: str, lands_on: str
) -> None:
    response = client.post("/newsletter", data={"email": "a@example.com", "next": target})
    assert response.location == lands_on


def test_strict_csp_sends_the_policy_and_puts_its_nonce_on_every_script() -> None:
    with shop(DEMO_STRICT_CSP=True).test_client() as client:
        first, second = client.get("/"), client.get("/")
    policy = first.headers["Content-Security-Policy"]
    match = re.search(r"script-src 'nonce-([\w-]+)' 'strict-dynamic';", policy)
    assert match is not None
    assert policy.startswith("default-src 'self';")
    # TikTok's sources merged in (pixel.csp_sources()): the beacons get through.
    assert "connect-src 'self' https://analytics.tiktok.com https://analytics-ipv6.tiktokw.us" in (
        policy
    )
    assert policy_problems([("Content-Security-Policy", policy)], match[1]) == ()
    attributes = [attrs for attrs, _ in _SCRIPT.findall(first.text)]
    # The pixel, its partial-page client, the consent banner, htmx and the newsletter form.
    assert len(attributes) == 5
    assert all(f'nonce="{match[1]}"' in attrs for attrs in attributes)
    assert second.headers["Content-Security-Policy"] != policy


def test_no_csp_header_unless_asked(client: FlaskClient) -> None:
    assert "Content-Security-Policy" not in client.get("/").headers


def test_inspector_is_neither_computed_nor_rendered_when_debug_is_off() -> None:
    app = shop()

    def must_not_run() -> None:
        raise AssertionError("page_calls() was called with TIKTOK_PIXEL_DEBUG off")

    app.jinja_env.globals["pixel_page_calls"] = must_not_run
    with app.test_client() as client:
        client.post("/cart/add", data={"product": "black-tee"})
        html = client.get("/cart").text
    assert "pixel-inspector" not in html
    assert tracked(html) == ["AddToCart"]


def test_inspector_lists_what_the_pixel_rendered() -> None:
    with shop(TIKTOK_PIXEL_DEBUG=True).test_client() as client:
        sign_up(client)
        client.get("/account")
        client.post("/cart/add", data={"product": "black-tee"})
        html = client.get("/cart").text
    [(_, _, event_id)] = _TRACK.findall(html)
    inspector = html[html.index('id="pixel-inspector"') :]
    assert re.findall(r'data-method="(\w+)"', inspector) == ["page", "identify", "track"]
    assert 'data-event="AddToCart"' in inspector
    assert event_id in inspector
    assert hash_email("ada@example.com") in inspector
    assert "ada@example.com" not in inspector


def test_consent_mode_none_has_no_banner() -> None:
    with shop(TIKTOK_PIXEL_CONSENT="none").test_client() as client:
        html = client.get("/").text
    assert "consent-banner" not in html
    assert "Privacy choices" not in html


def test_a_recorded_choice_hides_the_banner(client: FlaskClient) -> None:
    client.set_cookie("pixel_embed_consent", "granted")
    html = client.get("/").text
    assert 'id="consent-banner"' not in html
    assert "ttq.grantConsent();" in html


def test_bad_settings_fail_when_the_app_is_built() -> None:
    with pytest.raises(ConfigurationError, match="DEMO_STRICT_CSP must be True or False"):
        shop(DEMO_STRICT_CSP="yes")
    with pytest.raises(ConfigurationError, match="TIKTOK_PIXEL_CONSENT 'maybe'"):
        shop(TIKTOK_PIXEL_CONSENT="maybe")


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_TIKTOK_PIXEL_CONSENT", "strict")
    monkeypatch.setenv("FLASK_DEMO_STRICT_CSP", "true")
    app = shop()
    assert app.config["TIKTOK_PIXEL_CONSENT"] == "strict"
    assert app.config["DEMO_STRICT_CSP"] is True


def test_command_line_options() -> None:
    assert config_from_args(parse_args([])) == {"TIKTOK_PIXEL_DEBUG": True}
    args = parse_args(["--consent", "strict", "--no-inspector", "--strict-csp", "--port", "8001"])
    assert args.port == 8001
    assert config_from_args(args) == {
        "TIKTOK_PIXEL_DEBUG": False,
        "TIKTOK_PIXEL_CONSENT": "strict",
        "DEMO_STRICT_CSP": True,
    }


def test_python_m_demo_site_prints_its_address_and_serves_the_shop() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "demo_site", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == f"Pixel & Co. demo shop: http://127.0.0.1:{port}/\n"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as page:
                    html = page.read().decode()
                break
            except (URLError, TimeoutError, ConnectionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        assert f'ttq.load("{DEMO_PIXEL_CODE}");' in html
        assert 'id="pixel-inspector"' in html
    finally:
        process.terminate()
        process.wait(timeout=10)
