"""Customer accounts, in memory: sign-up, log-in, and who is signed in on this request."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from flask import current_app, g, session
from werkzeug.security import check_password_hash, generate_password_hash

from .forms import FormError

_SESSION_KEY = "user_id"


@dataclass(frozen=True)
class User:
    id: str
    name: str
    #: Normalised (trimmed, lower-case); only its hash reaches a page.
    email: str
    #: E.164, or ``None``.
    phone: str | None
    password_hash: str


class UserStore:
    """The shop's customers, for as long as the process runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, User] = {}
        self._by_email: dict[str, User] = {}

    def create(self, *, name: str, email: str, phone: str | None, password: str) -> User:
        """Add a customer; ``email`` must already be normalised.

        :raises FormError: the address already has an account.
        """
        password_hash = generate_password_hash(password)
        with self._lock:
            if email in self._by_email:
                raise FormError("email", "This e-mail address already has an account: log in")
            user = User(f"u-{len(self._by_id) + 1}", name, email, phone, password_hash)
            self._by_id[user.id] = user
            self._by_email[email] = user
        return user

    def get(self, user_id: object) -> User | None:
        return self._by_id.get(user_id) if isinstance(user_id, str) else None

    def authenticate(self, email: str, password: str) -> User | None:
        """The customer with this (normalised) address and password, else ``None``."""
        user = self._by_email.get(email)
        if user is None or not check_password_hash(user.password_hash, password):
            return None
        return user


def users() -> UserStore:
    store: UserStore = current_app.extensions["demo_shop"].users
    return store


def log_in(user: User) -> None:
    session[_SESSION_KEY] = user.id
    g.user = user


def log_out() -> None:
    session.pop(_SESSION_KEY, None)
    g.user = None


def load_user() -> User | None:
    """The customer signed in on this request (kept in ``g.user``)."""
    user = users().get(session.get(_SESSION_KEY))
    g.user = user
    return user
