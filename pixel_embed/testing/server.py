"""Serve a WSGI app (a Flask app) on 127.0.0.1 in a background thread, for a real browser:
:func:`serve_app`, and the pytest fixture ``pixel_app_url`` that serves the test's own app."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from ..errors import PixelError

#: How often the server's loop looks for a shutdown request, in seconds. ``shutdown()`` waits
#: for that look: with socketserver's default (0.5 s) every server took half a second to stop.
POLL_INTERVAL = 0.05


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@contextmanager
def serve_app(app: object, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run ``app`` on a threaded local server for the duration of the block.

    :param port: 0 picks a free port.
    :returns: the base URL, e.g. ``http://127.0.0.1:53817``.
    """
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise PixelError(f"serve_app host {host!r} is not a loopback address")
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)  # type: ignore[arg-type]
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": POLL_INTERVAL},
        name="pixel-embed-server",
        daemon=True,
    )
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
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
