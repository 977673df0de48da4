"""One person's identity never reaches another's pages: forget(), Flask-Login's logout, the
carried identity's lifetime, and the session mapping shared with other parts."""

from __future__ import annotations

import json
import logging
import re
import time

import pytest
from conftest import make_app, page
from flask import Flask, redirect, session
from flask_login import (  # type: ignore[import-untyped]
    LoginManager,
    UserMixin,
    login_user,
    logout_user,
)
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule
from werkzeug.wrappers import Response as BaseResponse

from pixel_embed import ConfigurationError, TikTokPixel
from pixel_embed.core.deferred import SESSION_KEY
from pixel_embed.matching import hash_email, hash_phone

ALICE = {"email": "alice@example.com", "phone_number": "+14155550100"}


def identified(html: str) -> dict[str, str] | None:
    found = re.search(r"ttq\.identify\((\{.*?\})\);", html)
    return json.loads(found.group(1)) if found else None


def tracked(html: str) -> list[str]:
    return re.findall(r'ttq\.track\("(\w+)"', html)


class User(UserMixin):  # type: ignore[misc]
    def __init__(self, name: str) -> None:
        self.id = name


def shop(**config: object) -> tuple[Flask, TikTokPixel]:
    app = make_app(**config)
    pixel = TikTokPixel(app)
    LoginManager(app).user_loader(User)
    app.add_url_rule("/home", view_func=page)

    @app.post("/login/<name>")
    def login(name: str) -> BaseResponse:
        login_user(User(name))
        pixel.identify(
            **(ALICE if name == "alice" else {"email": f"{name}@example.com"}), defer=True
        )
        return redirect("/home")

    @app.post("/pay")
    def pay() -> BaseResponse:
        pixel.track("CompletePayment", value=5, currency="USD", defer=True)
        return redirect("https://payments.example/")

    @app.post("/logout")
    def logout() -> BaseResponse:
        logout_user()
        return redirect("/home")

    @app.post("/forget")
    def forget() -> BaseResponse:
        pixel.identify(**ALICE, defer=True)
        pixel.track("Contact", defer=True)
        pixel.forget()
        return redirect("/home")

    return app, pixel


# /forget calls pixel.forget(); /logout only Flask-Login's logout_user().
@pytest.mark.parametrize("route", ["/forget", "/logout"])
def test_forget_clears_the_carried_identity_and_the_deferred_events(route: str) -> None:
    app, _ = shop()
    client = app.test_client()
    client.post("/login/alice")
    client.post("/pay")
    client.post(route)
    home = client.get("/home").text
    assert identified(home) is None
    assert tracked(home) == []


def test_a_forget_before_anything_was_carried_leaves_nothing_behind() -> None:
    app, _ = shop()
    client = app.test_client()
    client.post("/forget")  # identify and track in the same request, then forget
    assert identified(client.get("/home").text) is None


def test_the_next_person_is_never_mixed_with_the_last() -> None:
    app, _ = shop()
    client = app.test_client()
    client.post("/login/alice")
    client.post("/login/bob")  # no logout between: a shared computer, a forgotten logout
    assert identified(client.get("/home").text) == {"email": hash_email("bob@example.com")}


def test_a_login_without_a_logout_drops_the_last_persons_deferred_events() -> None:
    app, _ = shop()
    client = app.test_client()
    client.post("/login/alice")
    client.post("/pay")  # Alice's purchase waits for a page she never sees
    client.post("/login/bob")  # Flask-Login's login_user(), no logout before it
    home = client.get("/home").text
    assert identified(home) == {"email": hash_email("bob@example.com")}
    assert tracked(home) == []


def test_one_persons_carried_identities_still_add_up() -> None:
    app, pixel = shop()

    @app.post("/phone")
    def phone() -> BaseResponse:
        pixel.identify(email="alice@example.com", zip_code="75001", defer=True)
        return redirect("/home")

    client = app.test_client()
    with client.session_transaction() as saved:  # Alice's identity, carried a moment ago
        saved[SESSION_KEY] = {
            "identity": {
                "email": hash_email("alice@example.com"),
                "phone_number": hash_phone(ALICE["phone_number"]),
            },
            "identity_at": int(time.time()),
        }
    client.post("/phone")
    found = identified(client.get("/home").text)
    assert found is not None
    assert set(found) == {"email", "phone_number", "zip_code"}


def test_a_carried_identity_has_a_lifetime() -> None:
    app, _ = shop(TIKTOK_PIXEL_IDENTITY_MAX_AGE=60)
    client = app.test_client()
    with client.session_transaction() as saved:
        saved[SESSION_KEY] = {
            "identity": {"email": hash_email("alice@example.com")},
            "identity_at": int(time.time()) - 61,
            "events": [],
        }
    assert identified(client.get("/home").text) is None
    client.post("/login/alice")
    assert identified(client.get("/home").text) is not None


@pytest.mark.parametrize("value", [0, -1, "1800", True, None])
def test_the_lifetime_must_be_a_positive_number_of_seconds(value: object) -> None:
    with pytest.raises(ConfigurationError, match="TIKTOK_PIXEL_IDENTITY_MAX_AGE"):
        TikTokPixel(make_app(TIKTOK_PIXEL_IDENTITY_MAX_AGE=value))


def test_other_parts_keys_in_the_session_mapping_are_left_alone() -> None:
    app, _ = shop()
    client = app.test_client()
    with client.session_transaction() as saved:
        saved[SESSION_KEY] = {"once": ["k1"]}
    client.post("/login/alice")
    client.post("/pay")
    with client.session_transaction() as saved:
        assert saved[SESSION_KEY]["once"] == ["k1"]
        assert saved[SESSION_KEY]["events"]
    client.get("/home")  # the deferred ones are used up; the sibling stays
    with client.session_transaction() as saved:
        assert saved[SESSION_KEY] == {"once": ["k1"]}
    client.post("/logout")
    with client.session_transaction() as saved:
        assert saved[SESSION_KEY]["once"] == ["k1"]


def test_the_lost_identity_warning_points_a_logout_at_forget(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, pixel = shop()

    @app.post("/plain-logout")
    def plain_logout() -> BaseResponse:
        pixel.identify(**ALICE)  # type: ignore[arg-type]  # as a before_request hook would
        session.clear()
        return redirect("/home")

    with caplog.at_level(logging.WARNING, "pixel_embed"):
        app.test_client().post("/plain-logout")
    assert "a logout), call pixel.forget()" in caplog.text
    assert "alice" not in caplog.text


def test_flask_logins_logout_gives_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    app, pixel = shop()

    @app.before_request
    def every_request() -> None:
        pixel.identify(**ALICE)  # type: ignore[arg-type]

    with caplog.at_level(logging.WARNING, "pixel_embed"):
        app.test_client().post("/logout")
    assert "reaches no page" not in caplog.text


# -- the lifecycle, as a state machine ------------------------------------------------------------

PEOPLE = {
    "alice": ALICE,
    "bob": {"email": "bob@example.com"},
    # Alice's phone number with another e-mail: not Alice (they disagree on a shared key).
    "carol": {"email": "carol@example.com", "phone_number": ALICE["phone_number"]},
}


def hashes_of(name: str) -> dict[str, str]:
    fields = PEOPLE[name]
    found = {"email": hash_email(fields["email"])}
    if "phone_number" in fields:
        found["phone_number"] = hash_phone(fields["phone_number"])
    return found


def lifecycle_shop() -> Flask:
    app, pixel = shop()

    @app.post("/as/<name>")
    def login_as(name: str) -> BaseResponse:
        login_user(User(name))
        pixel.identify(**PEOPLE[name], defer=True)
        return redirect("/home")

    return app


class VisitorsOnOneBrowser(RuleBasedStateMachine):
    """People log in and out, pay and look at pages, in any order, on one browser: a page
    shows one person's identity or none, and only the purchases made since that person
    logged in."""

    def __init__(self) -> None:
        super().__init__()
        self.client = lifecycle_shop().test_client()
        self.carried: str | None = None  # whose identity waits for the next page
        self.purchases = 0  # deferred purchases waiting for it

    @rule(name=st.sampled_from(sorted(PEOPLE)))
    def log_in(self, name: str) -> None:
        self.client.post(f"/as/{name}")
        self.carried, self.purchases = name, 0

    @rule()
    def log_out(self) -> None:
        self.client.post("/logout")
        self.carried, self.purchases = None, 0

    @rule()
    def pay(self) -> None:
        self.client.post("/pay")
        self.purchases += 1

    @rule()
    def look(self) -> None:
        html = self.client.get("/home").text
        expected = hashes_of(self.carried) if self.carried else None
        assert identified(html) == expected
        assert tracked(html) == ["CompletePayment"] * min(self.purchases, 20)
        self.carried, self.purchases = None, 0


VisitorsOnOneBrowser.TestCase.settings = settings(max_examples=60, stateful_step_count=12)
TestVisitorsOnOneBrowser = VisitorsOnOneBrowser.TestCase


@pytest.mark.parametrize(
    "saved",
    [
        "not a mapping",
        ["a", "list"],
        {"identity": "x", "events": "y"},
        {"identity": {"email": hash_email("a@example.com")}, "identity_at": "yesterday"},
        {"identity": {"email": hash_email("a@example.com")}},  # the previous release's layout
        {"events": [{"name": "Search"}]},  # an event without its fields
        {"forget": {"x": 1}, "once": "sibling"},
    ],
)
def test_an_unreadable_or_old_session_value_never_breaks_a_page(saved: object) -> None:
    app, _ = shop()
    client = app.test_client()
    with client.session_transaction() as session_:
        session_[SESSION_KEY] = saved
    assert client.get("/home").status_code == 200
    assert client.post("/login/alice").status_code == 302
    assert identified(client.get("/home").text) == {
        "email": hash_email("alice@example.com"),
        "phone_number": hash_phone(ALICE["phone_number"]),
    }
    assert client.post("/logout").status_code == 302
