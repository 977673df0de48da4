"""The deferred store through Starlette's signed cookie session, as a state machine: whatever
order a visitor defers events, logs in, logs out, is prefetched and views pages in, each page
shows exactly what earlier requests left for it (in order, each event once) and the identity
carried to it, and nothing after a logout."""

from __future__ import annotations

import re
from typing import Any

import pytest
from asgi_support import site, templates
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from pixel_embed import hash_email

EMAILS = ("jane@example.com", "joe@example.com")
EVENTS = ("AddToCart", "AddToWishlist", "Subscribe", "CompletePayment")
_TRACK = re.compile(r'ttq\.track\("(\w+)",.*?\{"event_id":"([^"]+)"\}\);')
_IDENTIFY = re.compile(r'ttq\.identify\(\{"email":"([0-9a-f]{64})"')


class SessionModel(RuleBasedStateMachine):
    """The visitor's browser (one cookie jar) against a Starlette site, and what it expects."""

    @initialize(kind=st.sampled_from(["async", "sync"]))
    def start(self, kind: str) -> None:
        app, pixel = site("async" if kind == "async" else "sync")
        pages = templates(pixel)

        def defer(request: Request) -> Response:
            event_id = pixel.track(request.query_params["event"], defer=True)
            return PlainTextResponse(event_id)

        def login(request: Request) -> Response:
            pixel.identify(email=request.query_params["email"], defer=True)
            return PlainTextResponse("in")

        def logout(request: Request) -> Response:
            pixel.forget()
            return PlainTextResponse("out")

        def page(request: Request) -> Response:
            return pages.TemplateResponse(request, "page.html", {"body": "page"})

        app.router.routes[:0] = [
            Route("/m/defer", defer, methods=["POST"]),
            Route("/m/login", login, methods=["POST"]),
            Route("/m/logout", logout, methods=["POST"]),
            Route("/m/page", page),
        ]
        self.client = TestClient(app)
        self.waiting: list[tuple[str, str]] = []  # (event, id) deferred since the last page
        self.identity: str | None = None  # the e-mail carried to the next page

    def teardown(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()

    @rule(event=st.sampled_from(EVENTS))
    def defer_an_event(self, event: str) -> None:
        answer = self.client.post("/m/defer", params={"event": event})
        assert answer.status_code == 200
        self.waiting.append((event, answer.text))

    @rule(email=st.sampled_from(EMAILS))
    def log_in(self, email: str) -> None:
        assert self.client.post("/m/login", params={"email": email}).status_code == 200
        self.identity = email

    @rule()
    def log_out(self) -> None:
        assert self.client.post("/m/logout").status_code == 200
        self.waiting = []
        self.identity = None

    @rule()
    def a_prefetch_takes_nothing(self) -> None:
        html = self.client.get("/m/page", headers={"Sec-Purpose": "prefetch"}).text
        assert _TRACK.findall(html) == []

    @rule()
    def view_a_page(self) -> None:
        response = self.client.get("/m/page")
        html = response.text
        assert _TRACK.findall(html) == self.waiting
        shown = _IDENTIFY.findall(html)
        assert shown == ([hash_email(self.identity)] if self.identity else [])
        if self.waiting or self.identity:
            assert response.headers["cache-control"] == "private"
        self.waiting = []
        self.identity = None

    @invariant()
    def within_the_budget(self) -> None:
        # The model stays below the store's limits (20 events, 2000 bytes): nothing is dropped.
        assert len(getattr(self, "waiting", [])) <= 12


SessionModel.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_the_session_lifecycle = SessionModel.TestCase


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level("ERROR", logger="pixel_embed")
