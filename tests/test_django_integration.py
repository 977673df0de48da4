"""The Django integration through Django's test client: start-up checks, sessions of every
backend, template tags and the Jinja2 global, log-in and log-out, hostile requests, ASGI."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from typing import Any

import pytest
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template import engines
from django.test import AsyncClient, Client, override_settings
from django.urls import path
from django_support import JANE, PIXEL_MIDDLEWARE, SAM, seed_customers

from pixel_embed import ConfigurationError, StreamingError, hash_email, hash_external_id
from pixel_embed.core.deferred import MAX_DEFERRED, SESSION_KEY
from pixel_embed.integrations.django.pixel import pixel
from pixel_embed.testing.events_api import FakeEventsApi

SESSION = "django.contrib.sessions.middleware.SessionMiddleware"
LAYOUT = "{% load tiktok_pixel %}<!doctype html><head>{% tiktok_pixel %}</head><body>ok</body>"


def page(request: HttpRequest) -> HttpResponse:
    template = engines["django"].from_string(LAYOUT)
    return HttpResponse(template.render({}, request))


def many_deferred(request: HttpRequest) -> HttpResponse:
    """Tracks more deferred events than the session keeps, of random text."""
    for _ in range(MAX_DEFERRED + 5):
        request.tiktok_pixel.track(  # type: ignore[attr-defined]
            "AddToCart",
            # Random text: what compresses worst in a signed-cookie session.
            contents=[{"content_id": secrets.token_hex(30), "quantity": 1, "price": 9.5}],
            value=9.5,
            currency="USD",
            description=secrets.token_urlsafe(60),
            defer=True,
        )
    request.tiktok_pixel.identify(email="jane@example.com", defer=True)  # type: ignore[attr-defined]
    return HttpResponse(status=302, headers={"Location": "/page"})


def jinja_page(request: HttpRequest) -> HttpResponse:
    request.tiktok_pixel.track("Search", query="</script><script>alert(1)</script>")  # type: ignore[attr-defined]
    template = engines["jinja2"].from_string("<head>{{ tiktok_pixel() }}</head>")
    return HttpResponse(template.render({}, request))


def fragment(request: HttpRequest) -> HttpResponse:
    request.tiktok_pixel.track("AddToCart", content_id="mug")  # type: ignore[attr-defined]
    template = engines["django"].from_string(
        "{% load tiktok_pixel %}<li>mug</li>{% tiktok_pixel_calls %}"
    )
    return HttpResponse(template.render({}, request))


def added(request: HttpRequest) -> HttpResponse:
    request.tiktok_pixel.track("AddToCart", content_id="mug", value=12.5, currency="USD")  # type: ignore[attr-defined]
    return HttpResponse("<span>Added</span>")


def streamed(request: HttpRequest) -> StreamingHttpResponse:
    request.tiktok_pixel.track("ViewContent", content_id="mug")  # type: ignore[attr-defined]
    template = engines["django"].from_string(LAYOUT)
    return StreamingHttpResponse(template.render({}, request) for _ in range(1))


def segment(request: HttpRequest) -> HttpResponse:
    request.tiktok_pixel.segment.track(  # type: ignore[attr-defined]
        "Order Completed",
        {"order_id": "o-1", "revenue": 42.5, "currency": "USD", "products": [{"sku": "mug"}]},
        message_id="ajs-1",
        user_id="u-42",
    )
    return page(request)


def no_request(request: HttpRequest) -> HttpResponse:
    return HttpResponse(engines["django"].from_string(LAYOUT).render({}))


urlpatterns = [
    path("page", page),
    path("many", many_deferred),
    path("jinja", jinja_page),
    path("fragment", fragment),
    path("no-request", no_request),
    path("added", added),
    path("streamed", streamed),
    path("segment", segment),
]
JINJA2 = {
    "BACKEND": "django.template.backends.jinja2.Jinja2",
    "OPTIONS": {"extensions": ["pixel_embed.integrations.django.jinja2.TikTokPixelExtension"]},
}


def site_settings(**extra: Any) -> override_settings:
    """This module's views on the demo's settings, consent off unless ``extra`` says."""
    from django.conf import settings

    wanted: dict[str, Any] = {
        "ROOT_URLCONF": __name__,
        # Django's engine without the demo's context processors (they read the session).
        "TEMPLATES": [{"BACKEND": settings.TEMPLATES[0]["BACKEND"]}, JINJA2],
        "MIDDLEWARE": [SESSION, PIXEL_MIDDLEWARE],
        "TIKTOK_PIXEL_CONSENT": "none",
    }
    return override_settings(**{**wanted, **extra})


class SiteSessionMiddleware(SessionMiddleware):
    """A site's own session middleware."""


# -- start-up ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        (
            [PIXEL_MIDDLEWARE, SESSION],
            f"MIDDLEWARE lists {SESSION} below {PIXEL_MIDDLEWARE}: move it above",
        ),
        (
            [SESSION, "csp.middleware.CSPMiddleware", PIXEL_MIDDLEWARE],
            f"MIDDLEWARE lists csp.middleware.CSPMiddleware above {PIXEL_MIDDLEWARE}: move it below",
        ),
        (
            [SESSION, PIXEL_MIDDLEWARE, "django.middleware.cache.UpdateCacheMiddleware"],
            "django.middleware.cache.UpdateCacheMiddleware below",
        ),
        ([SESSION, PIXEL_MIDDLEWARE, PIXEL_MIDDLEWARE], "2 times: list it once"),
        # A site's own subclass counts as the class it extends.
        (
            [PIXEL_MIDDLEWARE, f"{__name__}.SiteSessionMiddleware"],
            f"MIDDLEWARE lists {__name__}.SiteSessionMiddleware below",
        ),
    ],
)
def test_a_misplaced_middleware_fails_start_up_saying_how_to_fix_it(
    entries: list[str], problem: str
) -> None:
    with site_settings(MIDDLEWARE=entries), pytest.raises(ImproperlyConfigured) as error:
        Client().get("/page")
    assert problem in str(error.value)
    with site_settings(MIDDLEWARE=entries):
        assert problem in " ".join(message.msg for message in run_checks())


def test_a_missing_middleware_is_reported_by_manage_py_check() -> None:
    with site_settings(MIDDLEWARE=[SESSION]):
        errors = [message for message in run_checks() if message.id == "tiktok_pixel.E002"]
    assert errors
    assert PIXEL_MIDDLEWARE in errors[0].msg


def test_the_tag_without_the_middleware_says_which_middleware() -> None:
    with site_settings(MIDDLEWARE=[SESSION]), pytest.raises(ImproperlyConfigured) as error:
        Client().get("/page")
    assert f"add {PIXEL_MIDDLEWARE} to MIDDLEWARE" in str(error.value)


def test_a_page_rendered_while_streaming_says_to_render_the_pixel_first() -> None:
    with site_settings():
        response = Client().get("/streamed")
        assert isinstance(response, StreamingHttpResponse)
        with pytest.raises(
            StreamingError, match=r"Call request.tiktok_pixel.render\(\) in the view"
        ):
            b"".join(response.streaming_content)


def test_the_tag_without_the_request_says_how_to_pass_it() -> None:
    with site_settings(), pytest.raises(ImproperlyConfigured, match="render"):
        Client().get("/no-request")


def test_a_bad_setting_fails_naming_it_and_the_old_settings_come_back() -> None:
    with (
        pytest.raises(ConfigurationError, match="TIKTOK_PIXEL_CODE 'my-pixel' is not a pixel code"),
        site_settings(TIKTOK_PIXEL_CODE="my-pixel"),
    ):
        pass  # pragma: no cover - the override itself fails
    with site_settings():
        assert 'ttq.load("CDEMOSHOP00PIXEL0001")' in Client().get("/page").content.decode()


def test_the_view_api_outside_a_request_says_where_to_call_it() -> None:
    with pytest.raises(RuntimeError, match=r"request.tiktok_pixel.track\(\) needs the request"):
        pixel.track("ViewContent")


# -- sessions ------------------------------------------------------------------------------------

BACKENDS = [
    "django.contrib.sessions.backends.signed_cookies",
    "django.contrib.sessions.backends.db",
    "django.contrib.sessions.backends.cache",
    "django.contrib.sessions.backends.cached_db",
    "django.contrib.sessions.backends.file",
]


@pytest.mark.django_db
@pytest.mark.parametrize("engine", BACKENDS, ids=[b.rsplit(".", 1)[1] for b in BACKENDS])
def test_deferred_events_wait_in_every_session_backend_within_the_budget(
    engine: str, caplog: pytest.LogCaptureFixture
) -> None:
    with site_settings(SESSION_ENGINE=engine):
        client = Client()
        redirect = client.get("/many")
        assert redirect.status_code == 302
        cookie = client.cookies["sessionid"].value
        if engine.endswith("signed_cookies"):
            # The whole session in the cookie, below the 4 KB browsers keep, with room left.
            assert len(cookie) < 3400, len(cookie)
        shown = client.get("/page").content.decode()
        assert shown.count('ttq.track("AddToCart"') >= 1
        assert hash_email("jane@example.com") in shown
        assert "too many deferred events" in caplog.text
        # Exactly once: the next page has none of them.
        again = client.get("/page").content.decode()
        assert "AddToCart" not in again
        assert "ttq.identify(" not in again


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("before", "after"), [(BACKENDS[0], BACKENDS[1]), (BACKENDS[1], BACKENDS[0])]
)
def test_a_session_backend_change_loses_what_waited_but_breaks_no_page(
    before: str, after: str
) -> None:
    browser = Client()
    with site_settings(SESSION_ENGINE=before):
        browser.get("/many")
    # A new client is a new handler, which builds SessionMiddleware with the new backend; the
    # browser's cookies stay. The old cookie means nothing to the new backend: a new session.
    client = Client()
    client.cookies = browser.cookies
    with site_settings(SESSION_ENGINE=after):
        page = client.get("/page")
        assert page.status_code == 200
        assert "AddToCart" not in page.content.decode()
        client.get("/many")
        assert "AddToCart" in client.get("/page").content.decode()


def test_a_head_request_leaves_deferred_events_for_the_next_get() -> None:
    with site_settings():
        client = Client()
        client.get("/deferred")
        assert client.head("/page").status_code == 200
        assert "AddToCart" in client.get("/page").content.decode()


@pytest.mark.django_db
def test_a_first_visit_does_not_touch_the_session() -> None:
    with site_settings(SESSION_ENGINE="django.contrib.sessions.backends.db"):
        response = Client().get("/page")
    assert "Cookie" not in response.get("Vary", "")
    assert "sessionid" not in response.cookies


@pytest.mark.django_db
def test_an_unreadable_session_value_never_breaks_a_page() -> None:
    with site_settings(SESSION_ENGINE="django.contrib.sessions.backends.db"):
        client = Client()
        session = client.session
        session[SESSION_KEY] = {"events": [{"name": 3}], "identity": "nope"}
        session.save()
        assert session.session_key is not None
        client.cookies["sessionid"] = session.session_key
        assert client.get("/page").status_code == 200


# -- log-in and log-out --------------------------------------------------------------------------


@pytest.mark.django_db
def test_logout_forgets_and_the_mark_outlives_djangos_session_flush() -> None:
    seed_customers()
    with override_settings(TIKTOK_PIXEL_CONSENT="none"):
        client = Client()
        client.post("/login", {"username": JANE[0], "password": JANE[3]})
        client.post("/cart/add", {"product": "enamel-mug"})  # a deferred AddToCart waits
        client.post("/logout")
        # logout() flushed the session after its signal; the pixel put its mark back, so the
        # next partial page empties TikTok's SDK of Jane's identity too.
        assert client.session[SESSION_KEY] == {"forget": 1}
        home = client.get("/").content.decode()
        assert "ttq.identify(" not in home
        assert "AddToCart" not in home


@pytest.mark.django_db
def test_a_login_without_logout_drops_the_last_persons_deferred_purchase() -> None:
    seed_customers()
    with override_settings(TIKTOK_PIXEL_CONSENT="none"):
        client = Client()
        client.post("/login", {"username": JANE[0], "password": JANE[3]})
        client.post("/cart/add", {"product": "enamel-mug"})
        client.post("/checkout/pay")  # Jane's purchase waits for her next page...
        client.post("/login", {"username": SAM[0], "password": SAM[3]})  # ...Sam logs in
        home = client.get("/").content.decode()
    assert "CompletePayment" not in home
    assert hash_email(SAM[1]) in home
    assert hash_email(JANE[1]) not in home


# -- templates -----------------------------------------------------------------------------------


def test_the_jinja2_global_renders_html_safe_json() -> None:
    with site_settings():
        html = Client().get("/jinja").content.decode()
    assert html.count("<script>") == 1
    assert "\\u003c/script\\u003e" in html
    assert "</script><script>alert" not in html


def test_the_fragment_tag_renders_the_calls_as_data() -> None:
    with site_settings(TIKTOK_PIXEL_PARTIAL=True):
        html = Client().get("/fragment", headers={"HX-Request": "true"}).content.decode()
    assert '<script type="application/json" data-pixel-embed-calls' in html
    assert '"AddToCart"' in html


def test_partial_pages_without_django_htmx_read_the_headers() -> None:
    # site_settings' MIDDLEWARE has no HtmxMiddleware: the request's headers are enough.
    with site_settings(TIKTOK_PIXEL_PARTIAL=True):
        response = Client().get("/added", headers={"HX-Request": "true"})
    assert response.content.decode() == "<span>Added</span>"
    assert '"AddToCart"' in response["PixelEmbed-Calls"]
    assert response["Cache-Control"] == "private"


def test_the_partial_script_is_served_with_its_version() -> None:
    with site_settings(TIKTOK_PIXEL_PARTIAL=True):
        client = Client()
        html = client.get("/page").content.decode()
        src = html.split('data-src="')[1].split('"')[0]
        script = client.get(src)
    assert script.status_code == 200
    assert b"pixelEmbed" in script.content
    assert "immutable" in script["Cache-Control"]
    # Another version's URL (a page cached before a release) is not kept for a year, as in
    # Flask: Django's served every URL of the script with a year's cache.
    with site_settings(TIKTOK_PIXEL_PARTIAL=True):
        stale = client.get(src.split("?")[0] + "?v=0")
    assert stale["Cache-Control"] == "no-cache"


# -- hostile requests ----------------------------------------------------------------------------


def test_a_host_header_django_refuses_never_makes_a_500(caplog: pytest.LogCaptureFixture) -> None:
    # No CommonMiddleware here: nothing asked Django to check the host before the pixel built
    # the page's URL (for the personal-data error), which must not raise DisallowedHost.
    with site_settings():
        response = Client().get(
            "/page?email=jane@example.com", headers={"Host": "evil.example</script>"}
        )
    assert response.status_code == 200
    assert "TikTok Pixel off" in response.content.decode()
    assert "evil.example" not in caplog.text


@pytest.mark.parametrize("cookie", ["granted; x", "\x00", "a" * 5000, '"</script>', "denied\x85"])
def test_a_hostile_consent_cookie_changes_nothing(cookie: str) -> None:
    with site_settings(TIKTOK_PIXEL_CONSENT="hold"):
        client = Client()
        client.cookies["pixel_embed_consent"] = cookie
        html = client.get("/page").content.decode()
    assert "ttq.holdConsent();" in html
    assert '</script>"' not in html


def test_personal_data_in_the_url_leaves_the_pixel_out_in_strict_mode(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with site_settings(), caplog.at_level(logging.ERROR, "pixel_embed"):
        response = Client().get("/page?email=jane@example.com")
    assert response.status_code == 200
    assert "TikTok Pixel off" in response.content.decode()
    assert "jane@example.com" not in caplog.text


# -- ASGI ------------------------------------------------------------------------------------------


async def track_async(request: HttpRequest) -> HttpResponse:
    """An async view: the middleware runs in the event loop, the view too."""
    request.tiktok_pixel.track("Search", query="mugs")  # type: ignore[attr-defined]
    return HttpResponse("<span>results</span>")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("engine", BACKENDS[:3], ids=[b.rsplit(".", 1)[1] for b in BACKENDS[:3]])
def test_the_async_path_renders_and_keeps_deferred_events(
    engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Django's guard against database work in the event loop, which the browser tests turn
    # off for Playwright, on again: a database-backed session must be read in a thread.
    monkeypatch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE", raising=False)

    async def visit() -> tuple[str, str, str]:
        client = AsyncClient()
        await client.get("/deferred")
        page = await client.get("/page")
        again = await client.get("/page")
        partial = await client.get("/search-async", headers={"HX-Request": "true"})
        plain = await client.get("/plain-async")  # the pixel unused: no thread hop
        assert plain.content == b"plain"
        return page.content.decode(), again.content.decode(), partial["PixelEmbed-Calls"]

    with site_settings(TIKTOK_PIXEL_PARTIAL=True, SESSION_ENGINE=engine):
        first, second, calls = asyncio.run(visit())
    assert '"Search"' in calls
    assert first.count('ttq.track("AddToCart"') == 1
    assert "AddToCart" not in second


# -- consent from the site's own record ------------------------------------------------------------


def cmp_choice(request: HttpRequest) -> object:
    """A consent platform's record, as a site would read it (hostile answers included)."""
    answer = request.COOKIES.get("cmp", "")
    if answer == "boom":
        raise ValueError("the platform's cookie is unreadable")
    return {"yes": "granted", "no": "denied", "odd": "GRANTED", "obj": object()}.get(answer)


@pytest.mark.parametrize(
    ("cmp", "granted"),
    [("yes", True), ("no", False), (None, False), ("boom", False), ("odd", False), ("obj", False)],
)
def test_consent_from_a_function_of_the_request_fails_closed(
    cmp: str | None, granted: bool, caplog: pytest.LogCaptureFixture
) -> None:
    with site_settings(
        TIKTOK_PIXEL_CONSENT="strict", TIKTOK_PIXEL_CONSENT_STATE=f"{__name__}.cmp_choice"
    ):
        client = Client()
        if cmp is not None:
            client.cookies["cmp"] = cmp
        # The pixel's own cookie says the opposite: the site's function wins.
        client.cookies["pixel_embed_consent"] = "denied" if granted else "granted"
        html = client.get("/page").content.decode()
    assert ("run();" in html) is granted
    if cmp in ("boom", "odd", "obj"):
        assert "TIKTOK_PIXEL_CONSENT_STATE" in caplog.text


@pytest.mark.parametrize("value", [42, "no.such.module.function", "json"])
def test_a_bad_consent_state_setting_fails_naming_it(value: object) -> None:
    with (
        pytest.raises(ConfigurationError, match="TIKTOK_PIXEL_CONSENT_STATE"),
        site_settings(TIKTOK_PIXEL_CONSENT_STATE=value),
    ):
        pass  # pragma: no cover - the override itself fails


def test_the_request_headers_are_read_from_meta_in_any_case() -> None:
    from pixel_embed.integrations.django.request import MetaHeaders

    headers = MetaHeaders(
        {"HTTP_HX_REQUEST": "true", "CONTENT_TYPE": "text/html", "wsgi.input": object()}
    )
    assert headers.get("HX-Request") == headers.get("hx-request") == "true"
    assert headers["Content-Type"] == "text/html"
    assert headers.get("X-Missing") is None
    assert sorted(headers) == ["Content-Type", "Hx-Request"]
    assert len(headers) == 2


def test_segment_calls_reach_the_page_mapped_and_hashed() -> None:
    with site_settings():
        html = Client().get("/segment").content.decode()
    # Segment's destination maps "Order Completed" to PlaceAnOrder, messageId to event_id.
    assert 'ttq.track("PlaceAnOrder",{"currency":"USD","value":42.5,"order_id":"o-1"}' in html
    assert '{"event_id":"ajs-1"}' in html
    assert hash_external_id("u-42") in html


@pytest.mark.parametrize(
    ("consent", "choice", "kept"),
    [
        ("none", None, True),
        ("hold", None, True),
        ("strict", None, False),
        ("strict", "granted", True),
    ],
)
def test_a_landing_click_id_is_kept_where_consent_lets_the_pixel_fire(
    consent: str, choice: str | None, kept: bool
) -> None:
    with (
        FakeEventsApi(access_token="t") as fake,
        site_settings(
            TIKTOK_PIXEL_ACCESS_TOKEN="t",
            TIKTOK_PIXEL_EVENTS_API_URL=fake.url,
            TIKTOK_PIXEL_EVENTS_QUEUE="memory",
            TIKTOK_PIXEL_CONSENT=consent,
        ),
    ):
        client = Client()
        if choice:
            client.cookies["pixel_embed_consent"] = choice
        response = client.get("/page?ttclid=E.C.P.abc-123")
        hostile = [
            client.get(f"/page?ttclid={value}")
            for value in ("%3Cscript%3E", "%2B31612345678", "jane%40example.com")
        ]
    assert ("ttclid" in response.cookies) is kept
    if kept:
        cookie = response.cookies["ttclid"]
        assert cookie.value == "E.C.P.abc-123"
        assert cookie["httponly"]
        assert cookie["samesite"] == "Lax"
    # Markup, a phone number, an e-mail address: none is a click id, none is kept.
    assert all("ttclid" not in answer.cookies for answer in hostile)


# -- more of what a site may get wrong ---------------------------------------------------------------


def deferred(request: HttpRequest) -> HttpResponse:
    request.tiktok_pixel.track("AddToCart", content_id="mug", defer=True)  # type: ignore[attr-defined]
    return HttpResponse(status=302, headers={"Location": "/page"})


urlpatterns.append(path("deferred", deferred))
urlpatterns.append(path("search-async", track_async))


async def plain_async(request: HttpRequest) -> HttpResponse:
    return HttpResponse("plain")


urlpatterns.append(path("plain-async", plain_async))


def test_a_deferred_event_without_sessions_says_how_to_add_them() -> None:
    with (
        site_settings(MIDDLEWARE=[PIXEL_MIDDLEWARE]),
        pytest.raises(
            ConfigurationError, match=r"add 'django\.contrib\.sessions' to INSTALLED_APPS"
        ),
    ):
        Client().get("/deferred")


def test_a_prefetch_leaves_deferred_events_for_the_page_the_visitor_sees() -> None:
    with site_settings():
        client = Client()
        client.get("/deferred")
        prefetched = client.get("/page", headers={"Sec-Purpose": "prefetch"})
        assert "AddToCart" not in prefetched.content.decode()
        assert "AddToCart" in client.get("/page").content.decode()


def test_a_policy_that_blocks_tiktok_is_logged_once_naming_the_view(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from django_support import CSP_MIDDLEWARE

    blocking = {"DIRECTIVES": {"default-src": ["'self'"], "script-src": ["'self'"]}}
    with site_settings(
        MIDDLEWARE=[SESSION, PIXEL_MIDDLEWARE, CSP_MIDDLEWARE],
        CONTENT_SECURITY_POLICY=blocking,
        TIKTOK_PIXEL_STRICT=False,
    ):
        client = Client()
        client.get("/page")
        client.get("/page")
    warnings = [r.getMessage() for r in caplog.records if "blocks TikTok" in r.getMessage()]
    assert len(warnings) == 1
    assert "test_django_integration.page" in warnings[0]


def test_djangos_cache_middleware_above_never_stores_a_personal_page() -> None:
    cache = ["django.middleware.cache.UpdateCacheMiddleware"]
    fetch = ["django.middleware.cache.FetchFromCacheMiddleware"]
    with site_settings(
        MIDDLEWARE=[*cache, SESSION, PIXEL_MIDDLEWARE, *fetch],
        CACHE_MIDDLEWARE_SECONDS=60,
    ):
        jane = Client()
        jane.get("/many")  # deferred events and an identity wait for Jane's next page
        personal = jane.get("/page")
        assert personal["Cache-Control"] == "private"
        assert hash_email("jane@example.com") in personal.content.decode()
        # Another visitor asks for the same URL: not served Jane's copy from the cache.
        other = Client().get("/page").content.decode()
    assert hash_email("jane@example.com") not in other


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        ({"TIKTOK_PIXEL_ENABLED": False}, "TIKTOK_PIXEL_ENABLED is False"),
        ({"TIKTOK_PIXEL_INTERNAL_IPS": ["127.0.0.0/8"]}, "request from an internal address"),
    ],
)
def test_a_page_without_the_pixel_says_why_and_the_views_still_run(
    setting: dict[str, Any], reason: str
) -> None:
    with site_settings(**setting):
        client = Client()  # REMOTE_ADDR 127.0.0.1
        html = client.get("/added").status_code, client.get("/page").content.decode()
    assert html[0] == 200
    assert f"<!-- TikTok Pixel off: {reason}" in html[1]
    assert "ttq." not in html[1]


def test_warnings_speak_djangos_words(caplog: pytest.LogCaptureFixture) -> None:
    # A Django site is told about its own template tag, not Flask's global (the core's
    # messages spoke Flask's words to every framework).
    with site_settings(), caplog.at_level(logging.WARNING, "pixel_embed"):
        Client().get("/added")
    assert "never rendered: put {% tiktok_pixel %} in the page's template" in caplog.text
    assert "tiktok_pixel()" not in caplog.text


def product(request: HttpRequest) -> HttpResponse:
    request.tiktok_pixel.track("ViewContent", content_id="mug")  # type: ignore[attr-defined]
    return page(request)


def pay(request: HttpRequest) -> HttpResponse:
    request.tiktok_pixel.track(  # type: ignore[attr-defined]
        "CompletePayment", value=9.5, currency="USD", order_id="o-9", defer=True
    )
    return HttpResponse(status=302, headers={"Location": "/product"})


urlpatterns += [path("product", product), path("pay", pay)]


def test_djangos_cache_middleware_never_stores_a_page_with_events() -> None:
    # Found by an outsider with the cache middleware placed as docs/django.md shows: a
    # tracked page was cached for 10 minutes, so every visitor sent the first one's event_id
    # (TikTok counts them as one), and a visitor's deferred purchase met the cached page.
    cache = ["django.middleware.cache.UpdateCacheMiddleware"]
    fetch = ["django.middleware.cache.FetchFromCacheMiddleware"]
    with site_settings(
        MIDDLEWARE=[*cache, SESSION, PIXEL_MIDDLEWARE, *fetch], CACHE_MIDDLEWARE_SECONDS=600
    ):
        pages = [Client().get("/product") for _ in range(3)]
        buyer = Client()
        buyer.get("/product")
        assert buyer.get("/pay").status_code == 302
        thanks = buyer.get("/product").content.decode()
    ids = [re.findall(r'"event_id":"([^"]+)"', p.content.decode()) for p in pages]
    assert all(p["Cache-Control"] == "private" for p in pages)
    assert len({tuple(found) for found in ids}) == 3, ids
    assert thanks.count('ttq.track("CompletePayment"') == 1
