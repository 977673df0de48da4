"""The Flask side of server events: the click-id cookie, and when a process delivers."""

from __future__ import annotations

from flask import Flask, Response, request

from ...core.config import PixelConfig
from ...core.view import PixelCore
from ...events_api.clickid import TTCLID_COOKIE, TTCLID_MAX_AGE
from ...events_api.hooks import EXTENSION_KEY, ServerEvents


def in_flask_command() -> bool:
    """Whether the app is being built for a ``flask`` command (or another click program,
    such as ``celery worker``) other than ``flask run``, which serves requests: such a
    process does not start delivering what the outbox holds (``events status`` must not)."""
    import click

    context = click.get_current_context(silent=True)
    return context is not None and context.info_name != "run"


def register(app: Flask, pixel: PixelCore, server: ServerEvents, config: PixelConfig) -> None:
    """Keep ``server`` in ``app.extensions[EXTENSION_KEY]`` and, after each request, start
    delivering in this process and keep a landing URL's click id (where consent allows)."""
    app.extensions[EXTENSION_KEY] = server

    def remember_click(response: Response) -> Response:
        # The outbox delivers from every process that serves requests, events left by an
        # earlier run included, and not from a `flask` command.
        server.start()
        ttclid = pixel.click_id_to_keep(server, config, request)
        if ttclid is not None:
            response.set_cookie(
                TTCLID_COOKIE,
                ttclid,
                max_age=TTCLID_MAX_AGE,
                httponly=True,
                samesite="Lax",
                secure=request.is_secure,
            )
        return response

    # Registered after the pixel's own hook, it runs before it (Flask runs after-request
    # functions last registered first).
    app.after_request(remember_click)
