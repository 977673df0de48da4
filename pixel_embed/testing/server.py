"""Serve the site under test on this machine in a background thread, for a real browser:
:func:`serve_app`, and the pytest fixture ``pixel_app_url`` that serves the test's own app.

A WSGI app (Flask, Django's WSGI handler) runs on Werkzeug's threaded server, imported when an
app is served: pytest starts in projects that have no Werkzeug. Another kind of app plugs in
beside :func:`serve_wsgi`, as a context manager ``(app, host, port)`` that yields the base URL
and stops its server at the end, which :func:`serve_app` picks for that kind of app.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest

from ..browser.hosts import LOCAL_HOSTS
from ..errors import PixelError

if TYPE_CHECKING:
    from werkzeug.serving import WSGIRequestHandler

#: How often the server's loop looks for a shutdown request, in seconds. ``shutdown()`` waits
#: for that look: with socketserver's default (0.5 s) every server took half a second to stop.
POLL_INTERVAL = 0.05
NO_WERKZEUG = (
    "serve_app runs a WSGI app on Werkzeug's threaded server, and Werkzeug is not installed: "
    "pip install werkzeug (Flask brings it)"
)


@contextmanager
def serve_app(app: object, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run ``app`` on a threaded local server for the duration of the block.

    :param port: 0 picks a free port.
    :returns: the base URL, e.g. ``http://127.0.0.1:53817``.
    :raises PixelError: ``host`` is not this machine's.
    """
    if host not in LOCAL_HOSTS:
        raise PixelError(f"serve_app host {host!r} is not a loopback address")
    with serve_wsgi(app, host, port) as url:
        yield url


@functools.cache
def _quiet_handler() -> type[WSGIRequestHandler]:
    from werkzeug.serving import WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass

    return QuietHandler


@contextmanager
def serve_wsgi(app: Any, host: str, port: int) -> Iterator[str]:
    """Run the WSGI ``app`` on Werkzeug's threaded server at ``host:port`` for the duration of
    the block (no request log), and stop it at the end; :func:`serve_app` checks the host.

    :raises ModuleNotFoundError: Werkzeug is not installed (the message says so).
    """
    try:
        from werkzeug.serving import make_server
    except ImportError:
        raise ModuleNotFoundError(NO_WERKZEUG, name="werkzeug") from None

    server = make_server(host, port, app, threaded=True, request_handler=_quiet_handler())
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": POLL_INTERVAL},
        name="pixel-embed-server",
        daemon=True,
    )
    thread.start()
    try:
        named = f"[{host}]" if ":" in host else host  # an IPv6 address goes in brackets
        yield f"http://{named}:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


@pytest.fixture
def pixel_app_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The base URL (``http://127.0.0.1:PORT``) of the test's own app, served for the browser
    while the test runs: the app is the ``app`` fixture the project defines (the name Flask's
    docs and pytest-flask use), or ``pixel_app`` when a project names it so for this kit.

    ::

        def test_purchase_reaches_tiktok(pixel_page, pixel_app_url):
            pixel_page.goto(pixel_app_url + "/thanks")
    """
    for name in ("pixel_app", "app"):
        try:
            app = request.getfixturevalue(name)
        except pytest.FixtureLookupError as exc:
            if exc.argname != name:
                raise  # the fixture exists; something it needs does not
            continue
        break
    else:
        raise pytest.UsageError(
            "pixel_app_url serves your app: define a fixture named 'app' (or 'pixel_app') "
            "that returns it, in conftest.py"
        )
    with serve_app(app) as url:
        yield url
