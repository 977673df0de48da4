"""People log in and out, pay and look at pages, in any order, on one browser, with Django's
own ``login()`` and ``logout()`` and each session backend: a page shows one person's identity or
none, and only the purchases made since that person logged in, each once."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client, override_settings
from django_support import JANE, SAM, seed_customers
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    precondition,
    rule,
    run_state_machine_as_test,
)

from pixel_embed import hash_email, hash_external_id, hash_phone

PEOPLE = {person[0]: person for person in (JANE, SAM)}
BACKENDS = [
    "django.contrib.sessions.backends.signed_cookies",
    "django.contrib.sessions.backends.db",
    "django.contrib.sessions.backends.cache",
]


def identified(html: str) -> dict[str, Any] | None:
    found = re.search(r"ttq\.identify\((\{.*?\})\);", html)
    return json.loads(found.group(1)) if found else None


def tracked(html: str) -> list[str]:
    return re.findall(r'ttq\.track\("(\w+)"', html)


class VisitorsOnOneBrowser(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.client = Client()
        self.who: str | None = None  # who is logged in
        self.waiting: list[str] = []  # deferred events waiting for the next page
        self.user_ids = {name: str(pk) for name, pk in USER_IDS.items()}

    @rule(name=st.sampled_from(sorted(PEOPLE)))
    def log_in(self, name: str) -> None:
        person = PEOPLE[name]
        answer = self.client.post("/login", {"username": name, "password": person[3]})
        assert answer.status_code == 302
        # user_logged_in: what earlier requests left for the next page is dropped.
        self.who, self.waiting = name, []

    @rule()
    def log_out(self) -> None:
        self.client.post("/logout")
        self.who, self.waiting = None, []

    # Three purchases' events (about 1,300 bytes) fit the session's budget; more drop the
    # oldest, which test_django_integration.py checks.
    @precondition(lambda self: len(self.waiting) < 6)
    @rule()
    def pay(self) -> None:
        self.client.post("/cart/add", {"product": "canvas-tote"})
        self.client.post("/checkout/pay")
        self.waiting += ["AddToCart", "CompletePayment"]

    @rule()
    def look(self) -> None:
        html = self.client.get("/").content.decode()
        if self.who is None:
            assert identified(html) is None
        else:
            _, email, phone, _ = PEOPLE[self.who]
            assert identified(html) == {
                "email": hash_email(email),
                "phone_number": hash_phone(phone),
                "external_id": hash_external_id(self.user_ids[self.who]),
            }
        assert tracked(html) == self.waiting
        self.waiting = []


USER_IDS: dict[str, int] = {}
FAST_HASHER = ["django.contrib.auth.hashers.MD5PasswordHasher"]
#: The sequences that broke a page once, run every time (the machine's search is random).
KNOWN = [
    ["pay", "log_in jane", "look"],  # Django's login() keeps an anonymous session's data
    ["log_in jane", "pay", "log_in sam", "look"],  # login() flushes another user's session
    ["log_in jane", "pay", "log_in jane", "look"],  # and keeps the same user's
    ["log_in jane", "pay", "log_out", "look", "log_in sam", "look"],
    ["log_in jane", "look", "log_out", "pay", "look"],
]


@pytest.mark.django_db
@pytest.mark.parametrize("engine", BACKENDS, ids=[b.rsplit(".", 1)[1] for b in BACKENDS])
def test_visitors_on_one_browser(engine: str) -> None:
    from django.contrib.auth import get_user_model

    # Django's real hasher takes a third of a second per log-in, by design: a fast one here.
    with override_settings(
        SESSION_ENGINE=engine, TIKTOK_PIXEL_CONSENT="none", PASSWORD_HASHERS=FAST_HASHER
    ):
        seed_customers()
        users = get_user_model().objects
        USER_IDS.update({name: users.get(username=name).pk for name in PEOPLE})
        for steps in KNOWN:
            machine = VisitorsOnOneBrowser()
            for step in steps:
                method, *arguments = step.split()
                getattr(machine, method)(*arguments)
        run_state_machine_as_test(
            VisitorsOnOneBrowser,
            settings=settings(max_examples=40, stateful_step_count=10, deadline=None),
        )
