"""Django's log-in and log-out signals, as Flask-Login's are in Flask.

``django.contrib.auth.logout()`` sends ``user_logged_out``: the pixel forgets the visitor
(``forget()``). ``login()`` sends ``user_logged_in``: what earlier requests left for the next page
is dropped, so a login without a logout before it (a shared computer) never fires the last
person's deferred purchase on the new one's page; the login request's own calls are kept.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def _forget_on_logout(*, request: HttpRequest | None = None, **extra: Any) -> None:
    from .pixel import pixel

    if request is not None:
        pixel.forget_request(request)


def _forget_carried_on_login(*, request: HttpRequest | None = None, **extra: Any) -> None:
    from .pixel import pixel

    if request is not None:
        pixel.forget_carried_of(request)


def connect() -> None:
    """Connect the receivers (once: ``dispatch_uid``)."""
    from django.contrib.auth.signals import user_logged_in, user_logged_out

    user_logged_out.connect(_forget_on_logout, dispatch_uid="pixel_embed.forget_on_logout")
    user_logged_in.connect(
        _forget_carried_on_login, dispatch_uid="pixel_embed.forget_carried_on_login"
    )
