"""Serve a WSGI app (a Flask app) on 127.0.0.1 in a background thread, for a real browser."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

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
