"""The core without a framework: a minimal integration over plain dicts, as Django's and
Starlette's are built, drives the view API, the deferred store and the response policy."""

from __future__ import annotations

import contextvars
import logging
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from pixel_embed import ConfigurationError, Identity, StreamingError
from pixel_embed.core.config import PixelConfig
from pixel_embed.core.deferred import (
    MAX_DEFERRED,
    MAX_DEFERRED_BYTES,
    SESSION_KEY,
    DeferredStore,
)
from pixel_embed.core.policy import NO_POLICY, ResponsePolicy, private_cache_control
from pixel_embed.core.state import RequestState
from pixel_embed.core.view import PixelCore
from pixel_embed.events import validate_event
from pixel_embed.partial import HEADER, SCRIPT_VERSION

CODE = "C4A1B2C3D4E5F6G7H8I9"


class Headers(dict[str, str]):
    """Header names in any case, as every framework's headers."""

    def __init__(self, items: Mapping[str, str] = {}) -> None:
        super().__init__({name.lower(): value for name, value in items.items()})

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


@dataclass
class Request:
    """A :class:`~pixel_embed.core.request.RequestFacts` as a plain object."""

    path: str = "/"
    raw_query: str = ""
    method: str = "GET"
    endpoint: str | None = "page"
    remote_addr: str | None = "203.0.113.9"
    is_secure: bool = True
    headers: Mapping[str, str] = field(default_factory=Headers)
    cookies: Mapping[str, str] = field(default_factory=dict)
    args: Mapping[str, str] = field(default_factory=dict)

    @property
    def raw_path(self) -> str:
        return self.path

    @property
    def url(self) -> str:
        return "https://shop.example" + self.path + ("?" + self.raw_query if self.raw_query else "")


@dataclass
class Response:
    """A :class:`~pixel_embed.core.request.ResponseFacts` as a plain object."""

    status: int = 200
    mimetype: str | None = "text/html"
    streamed: bool = False
    passthrough: bool = False
    headers: Mapping[str, str] = field(default_factory=Headers)

    def header_items(self) -> Iterable[tuple[str, str]]:
        return self.headers.items()


_current: contextvars.ContextVar[tuple[Request, dict[str, Any] | None, list[RequestState]]] = (
    contextvars.ContextVar("request")
)


class DictPixel(PixelCore):
    """The smallest integration: state in a context variable, the session a dict."""

    session_hint = "give the request a session"

    def __init__(self, settings: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.site = self.setup(
            PixelConfig.from_mapping(settings), instance_path="/nonexistent", start_waiting=False
        )

    def request_state(self, caller: str) -> RequestState:
        try:
            request, _, states = _current.get()
        except LookupError:
            raise self.no_request(caller) from None
        if not states:
            states.append(self.new_state(self.site, request))
        return states[0]

    def session(self, state: RequestState, *, write: bool) -> MutableMapping[str, Any] | None:
        return _current.get()[1]

    def partial_script_url(self, state: RequestState) -> str:
        return f"/_pixel_embed/pixel_embed_partial.js?v={SCRIPT_VERSION}"

    @contextmanager
    def request(
        self, request: Request | None = None, session: dict[str, Any] | None = None
    ) -> Iterator[list[RequestState]]:
        states: list[RequestState] = []
        token = _current.set((request or Request(), session, states))
        try:
            yield states
        finally:
            _current.reset(token)

    def respond(
        self, states: list[RequestState], response: Response | None = None
    ) -> ResponsePolicy:
        return self.finish(states[0], response or Response()) if states else NO_POLICY


def calls(html: str) -> list[str]:
    return re.findall(r"ttq\.(\w+)\(", html.split("ttq.load(", 1)[1])


def test_a_page_with_calls_is_rendered_and_made_private() -> None:
    pixel = DictPixel({"TIKTOK_PIXEL_CODE": CODE})
    with pixel.request() as states:
        pixel.identify(email="Jane.Doe@Example.com")
        event_id = pixel.track("ViewContent", value=5, currency="USD")
        html = pixel.render()
        policy = pixel.respond(states)
    assert calls(html) == ["page", "identify", "track"]
    assert event_id in html
    assert "jane" not in html.lower()  # hashed on the server
    assert policy == ResponsePolicy(private=True)


def test_a_page_without_identity_or_events_needs_nothing() -> None:
    pixel = DictPixel({"TIKTOK_PIXEL_CODE": CODE})
    with pixel.request() as states:
        pixel.render()
        policy = pixel.respond(states)
    assert policy is NO_POLICY


def test_deferred_events_cross_to_the_next_request_through_the_session_once() -> None:
    pixel = DictPixel({"TIKTOK_PIXEL_CODE": CODE})
    session: dict[str, Any] = {}
    with pixel.request(Request("/checkout", method="POST"), session) as states:
        pixel.identify(email="jane@example.com", defer=True)
        event_id = pixel.track("CompletePayment", value=9, currency="USD", defer=True)
        pixel.respond(states, Response(status=303))
    assert set(session[SESSION_KEY]) == {"identity", "identity_at", "events"}
    prefetch = Request("/thanks", headers=Headers({"Sec-Purpose": "prefetch"}))
    with pixel.request(prefetch, session):
        assert event_id not in pixel.render()  # a prefetch may never be seen: it waits
    with pixel.request(Request("/thanks"), session) as states:
        html = pixel.render()
        assert pixel.respond(states).private
    assert event_id in html
    assert SESSION_KEY not in session
    with pixel.request(Request("/thanks"), session):
        assert event_id not in pixel.render()


def test_without_a_session_defer_and_once_name_the_integrations_fix() -> None:
    pixel = DictPixel({"TIKTOK_PIXEL_CODE": CODE})
    with pixel.request(session=None):
        with pytest.raises(ConfigurationError, match="give the request a session"):
            pixel.track("Purchase", defer=True)
        with pytest.raises(ConfigurationError, match="give the request a session"):
            pixel.track("Purchase", once="o-1")
        with pytest.raises(ConfigurationError, match="give the request a session"):
            pixel.identify(email="a@b.co", defer=True)
        pixel.forget()  # nothing was carried: nothing to do


def test_once_holds_the_event_back_and_the_page_is_not_stored() -> None:
    pixel = DictPixel({"TIKTOK_PIXEL_CODE": CODE})
    session: dict[str, Any] = {}
    with pixel.request(session=session) as states:
        pixel.track("Purchase", once="o-1", value=1, currency="USD")
        html = pixel.render()
        assert pixel.respond(states) == ResponsePolicy(private=True, no_store=True)
    assert calls(html) == ["page", "track"]
    with pixel.request(session=session) as states:
        pixel.track("Purchase", once="o-1", value=1, currency="USD")
        assert calls(pixel.render()) == ["page"]


def test_outside_a_request_the_error_names_the_method() -> None:
    pixel = DictPixel({"TIKTOK_PIXEL_CODE": CODE})
    with pytest.raises(RuntimeError, match=r"pixel\.track\(\) needs a request"):
        pixel.track("ViewContent")
    with pytest.raises(RuntimeError, match=r"pixel\.segment\.page\(\) needs a request"):
        pixel.segment.page()


def test_a_render_after_the_response_started_is_refused() -> None:
    pixel = DictPixel({"TIKTOK_PIXEL_CODE": CODE})
    with pixel.request() as states:
        pixel.track("ViewContent")
        pixel.respond(states)
        with pytest.raises(StreamingError):
            pixel.render()


def test_a_partial_request_gets_its_calls_as_a_header_and_vary() -> None:
    pixel = DictPixel({"TIKTOK_PIXEL_CODE": CODE, "TIKTOK_PIXEL_PARTIAL": True})
    with pixel.request() as states:
        assert "_pixel_embed/pixel_embed_partial.js" in pixel.render()
        assert "HX-Request" in pixel.respond(states).vary
    htmx = Request(headers=Headers({"HX-Request": "true"}))
    with pixel.request(htmx, {}) as states:
        event_id = pixel.track("AddToCart")
        assert "in its PixelEmbed-Calls header" in pixel.render()
        policy = pixel.respond(states)
    assert event_id in policy.headers[HEADER]
    assert policy.private


def test_a_blocking_csp_warns_once_per_endpoint(caplog: pytest.LogCaptureFixture) -> None:
    pixel = DictPixel({"TIKTOK_PIXEL_CODE": CODE})
    for _ in range(2):
        with pixel.request() as states:
            pixel.render()
            csp = Headers({"Content-Security-Policy": "script-src 'self'"})
            pixel.respond(states, Response(headers=csp))
    assert [r.getMessage().count("blocks TikTok") for r in caplog.records] == [1]


def test_an_internal_address_gets_no_pixel_and_no_server_events() -> None:
    pixel = DictPixel({"TIKTOK_PIXEL_CODE": CODE, "TIKTOK_PIXEL_INTERNAL_IPS": ["203.0.113.0/24"]})
    with pixel.request():
        assert "internal address" in pixel.render()


def test_the_store_keeps_the_newest_events_within_its_budget(
    caplog: pytest.LogCaptureFixture,
) -> None:
    session: dict[str, Any] = {SESSION_KEY: {"sibling": 1}}
    store = DeferredStore(session, max_age=60)
    events = [validate_event("ViewContent", {"description": "x" * 150}) for _ in range(30)]
    store.save(Identity.from_raw(email="jane@example.com"), True, events)
    identity, kept = store.peek()
    assert identity
    assert 0 < len(kept) <= MAX_DEFERRED
    assert [e.event_id for e in kept] == [e.event_id for e in events[-len(kept) :]]
    assert len(str(session[SESSION_KEY]).encode()) < MAX_DEFERRED_BYTES + 300
    assert "too many deferred events" in caplog.text
    assert session[SESSION_KEY]["sibling"] == 1
    store.forget()
    assert session[SESSION_KEY] == {"sibling": 1, "forget": 1}
    assert store.pop()[2] is True
    assert session[SESSION_KEY] == {"sibling": 1}


def test_an_unreadable_store_is_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    store = DeferredStore({SESSION_KEY: {"events": [{"name": 5}]}}, max_age=60)
    with caplog.at_level(logging.WARNING):
        assert store.pop()[:2] == (Identity(), [])
    assert "unreadable deferred events" in caplog.text


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, "private"),
        ("", "private"),
        ("public, max-age=60", "max-age=60, private"),
        ("s-maxage=600, max-age=60", "max-age=60, private"),
        ("private", "private"),
        ("no-cache, Public", "no-cache, private"),
    ],
)
def test_private_cache_control_keeps_the_views_other_directives(
    given: str | None, expected: str
) -> None:
    assert private_cache_control(given) == expected


def test_the_core_imports_no_framework() -> None:
    blocker = (
        "import sys, importlib.abc\n"
        "class B(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] in ('flask', 'werkzeug', 'click', 'django', 'starlette'):\n"
        "            raise ImportError('refused ' + name)\n"
        "sys.meta_path.insert(0, B())\n"
        "import pixel_embed.core.view, pixel_embed.core.config, pixel_embed.partial\n"
        "import pixel_embed, pixel_embed.events_api, pixel_embed.cli\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", blocker], capture_output=True, text=True, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr


@pytest.mark.parametrize(
    ("policy", "current", "changes"),
    [
        (NO_POLICY, {}, {}),
        (ResponsePolicy(private=True), {}, {"Cache-Control": "private"}),
        (
            ResponsePolicy(private=True),
            {"Cache-Control": "public, max-age=60", "Surrogate-Control": "max-age=600"},
            {"Cache-Control": "max-age=60, private", "Surrogate-Control": "no-store"},
        ),
        (
            ResponsePolicy(private=True, no_store=True),
            {"CDN-Cache-Control": "max-age=60"},
            {"Cache-Control": "no-store", "CDN-Cache-Control": "no-store"},
        ),
        (
            ResponsePolicy(vary=("HX-Request", "Cookie")),
            {"Vary": "cookie"},
            {"Vary": "cookie, HX-Request"},
        ),
        (ResponsePolicy(vary=("HX-Request",)), {"Vary": "*"}, {}),
        (ResponsePolicy(headers={HEADER: "[]"}), {}, {HEADER: "[]"}),
    ],
)
def test_the_policy_as_header_changes(
    policy: ResponsePolicy, current: dict[str, str], changes: dict[str, str]
) -> None:
    assert policy.header_changes(Headers(current)) == changes


def test_the_partial_script_is_cached_for_a_year_under_its_version_only() -> None:
    from pixel_embed.partial import script_cache_control

    assert script_cache_control(SCRIPT_VERSION) == "public, max-age=31536000, immutable"
    assert script_cache_control("0" * 12) == "no-cache"
    assert script_cache_control(None) == "no-cache"
