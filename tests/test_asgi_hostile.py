"""Hostile requests against the Starlette integration: whatever a client puts in the path, the
query, the headers, the cookies (the session's included) or leaves out of the ASGI scope, the
page is answered (never an HTTP 500 in lenient mode), no raw e-mail address or phone number
reaches the page or its headers, and no header the pixel sets can be split.

The values go through the app in-process (an ASGI call per example: the property explores
bytes no HTTP client would send), and a few through uvicorn over a real socket."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator, MutableMapping
from typing import Any

import itsdangerous
import pytest
from asgi_support import CODE, SECRET, run_async, templates
from events_api_support import TOKEN
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pixel_embed.integrations.starlette import PixelMiddleware, TikTokPixel
from pixel_embed.testing.asgi_server import serve_asgi
from pixel_embed.testing.events_api import FakeEventsApi

EMAIL = "jane.doe@example.com"
PHONE = "+12133734253"
RAW = (EMAIL, "2133734253", "213-373-4253")
#: Bytes reviewers and past bugs found, for every place a request carries text.
CORPUS = [
    b"",
    b"</script><script>alert(1)</script>",
    b"\r\nSet-Cookie: evil=1",
    b"\x00\x1b[2J",
    b"\xff\xfe\xc3\x28",
    b"%00%0d%0aX: y",
    b"__proto__",
    b"9" * 5000,
    EMAIL.encode(),
    b"jane.doe%40example.com",
    b"call +1 213 373 4253 now",
    b"true",
    b"prefetch",
]
HYPOTHESIS = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
hostile = st.one_of(st.sampled_from(CORPUS), st.binary(max_size=60))
HEADER_NAMES = [
    b"hx-request",
    b"hx-history-restore-request",
    b"sec-fetch-dest",
    b"sec-fetch-mode",
    b"sec-purpose",
    b"x-requested-with",
    b"user-agent",
    b"referer",
    b"host",
    b"cookie",
]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeEventsApi]:
    with FakeEventsApi(access_token=TOKEN) as api:
        yield api


@pytest.fixture(scope="module")
def app(fake: FakeEventsApi) -> Starlette:
    """A lenient site with partial pages and server events on: every part the request reaches."""
    pixel = TikTokPixel(
        {
            "TIKTOK_PIXEL_CODE": CODE,
            "TIKTOK_PIXEL_PARTIAL": True,
            "TIKTOK_PIXEL_ACCESS_TOKEN": TOKEN,
            "TIKTOK_PIXEL_EVENTS_API_URL": fake.url,
            "TIKTOK_PIXEL_EVENTS_QUEUE": "memory",
            "TIKTOK_PIXEL_SERVER_EVENTS": True,
            "TIKTOK_PIXEL_INTERNAL_IPS": ["10.0.0.0/8"],
            "TIKTOK_PIXEL_CONSENT": "hold",
        }
    )
    pages = templates(pixel)

    async def search(request: Request) -> Response:
        query = request.query_params.get("q", "")
        pixel.identify(email=request.query_params.get("email"), defer=True)
        pixel.track("Search", query=query)
        pixel.track("AddToCart", content_id=request.path_params["slug"], defer=True)
        return pages.TemplateResponse(request, "page.html", {"body": "results"})

    return Starlette(
        routes=[Route("/search/{slug:path}", search)],
        middleware=[
            Middleware(SessionMiddleware, secret_key=SECRET),
            Middleware(PixelMiddleware, pixel=pixel),
        ],
    )


def signed_session(data: Any) -> bytes:
    """A session cookie Starlette accepts (signed with the site's key), holding ``data``."""
    payload = base64.b64encode(json.dumps(data).encode())
    return b"session=" + itsdangerous.TimestampSigner(SECRET).sign(payload)


def call(app: Starlette, scope: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """One request through the ASGI app, in-process; its status, headers and body."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    run_async(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], start["headers"], body


def scope_of(path: bytes, query: bytes, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/search/" + path.decode("latin-1"),
        "raw_path": b"/search/" + path,
        "root_path": "",
        "query_string": query,
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
    }


def assert_clean(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    # 404: Starlette's router matches no path holding a line break; never a 500.
    assert status in (200, 404), body[:2000]
    text = body.decode("utf-8", "replace")
    for raw in RAW:
        assert raw not in text
    for name, value in headers:
        assert not {b"\r", b"\n", b"\x00"} & {bytes([c]) for c in value}, (name, value)
        for raw in RAW:
            assert raw.encode() not in value, (name, value)


@HYPOTHESIS
@given(
    path=hostile,
    query=hostile,
    headers=st.lists(st.tuples(st.sampled_from(HEADER_NAMES), hostile), max_size=6),
)
@example(path=EMAIL.encode(), query=b"q=" + EMAIL.encode(), headers=[])
@example(path=b"x", query=b"ttclid=E.C.P.ok&email=" + EMAIL.encode(), headers=[])
@example(path=b"x", query=b"ttclid=%0d%0aSet-Cookie:%20evil", headers=[])
@example(path=b"x", query=b"q=call+%2B1+213+373+4253", headers=[(b"hx-request", b"true")])
@example(path=b"x", query=b"", headers=[(b"cookie", b"session=" + b"A" * 9000)])
@example(path=b"x", query=b"", headers=[(b"cookie", b"pixel_embed_consent=granted\xff")])
@example(path=b"", query=b"\x80", headers=[])  # Starlette's URL refused it (UTF-8 only)
def test_no_hostile_request_breaks_the_page(
    app: Starlette, path: bytes, query: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    assert_clean(*call(app, scope_of(path, query, headers)))


@HYPOTHESIS
@given(
    saved=st.one_of(
        st.sampled_from(
            [
                None,
                [],
                "x",
                {"identity": "x"},
                {"events": [{"name": 1}]},
                {"events": "x", "identity": [1]},
                {"identity": {"email": EMAIL}, "identity_at": "soon"},
                {"events": [{}] * 50, "once": ["x"] * 500},
                {"forget": "yes", "once": 7},
            ]
        ),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(
                    st.sampled_from(["events", "identity", "identity_at", "forget", "once", "x"]),
                    inner,
                    max_size=4,
                )
            ),
            max_leaves=12,
        ),
    )
)
def test_a_session_holding_anything_under_the_pixels_key_is_survived(
    app: Starlette, saved: Any
) -> None:
    """The site's own code (or an older version of it) may have left anything there."""
    cookie = signed_session({"_tiktok_pixel": saved, "cart": [1]})
    assert_clean(*call(app, scope_of(b"mug", b"q=mugs", [(b"cookie", cookie)])))


@pytest.mark.parametrize(
    "missing", ["client", "raw_path", "root_path", "server", "scheme", "http_version"]
)
def test_a_scope_without_optional_fields_is_served(app: Starlette, missing: str) -> None:
    """The fields ASGI lets a server leave out (daphne, hypercorn and granian fill fewer)."""
    scope = scope_of(b"mug", b"q=mugs", [])
    del scope[missing]
    assert_clean(*call(app, scope))


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /search/" + EMAIL.encode() + b"?q=" + EMAIL.encode() + b" HTTP/1.1\r\n",
        b"GET /search/x?ttclid=%3Cscript%3E&q=%2B1%20213%20373%204253 HTTP/1.1\r\n",
        b"GET /search/x HTTP/1.1\r\nCookie: session=!!!not-signed!!!; _ttp="
        + b"x" * 4000
        + b"\r\n",
        b"GET /search/x HTTP/1.1\r\nHX-Request: true\r\nSec-Purpose: prefetch;prerender\r\n",
        b"GET /search/%ff%fe%00 HTTP/1.1\r\nUser-Agent: \xff\xfe\r\n",
    ],
)
def test_hostile_requests_over_a_real_socket(app: Starlette, request_bytes: bytes) -> None:
    with serve_asgi(app) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as connection:
            connection.sendall(request_bytes + b"Host: x\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    headers = [tuple(line.split(b": ", 1)) for line in head.split(b"\r\n")[1:] if b": " in line]
    assert_clean(status, headers, body)  # type: ignore[arg-type]
