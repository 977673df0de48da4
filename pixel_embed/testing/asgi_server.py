"""Serve an ASGI app (Starlette, FastAPI) on 127.0.0.1 with uvicorn in a background thread,
for a real browser: :func:`serve_asgi`. :func:`pixel_embed.testing.server.serve_app` hands ASGI
apps here, so the ``pixel_app_url`` fixture serves them as it serves WSGI ones.

The app's lifespan runs as under ``uvicorn app:app``: its startup before the first request
(the server is not handed out before it finished), its shutdown when the block ends, after the
requests in flight.
"""

from __future__ import annotations

import inspect
import socket
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from typing import Any

from ..browser.hosts import LOCAL_HOSTS
from ..errors import PixelError

#: Seconds to wait for the server to start (its lifespan startup included), and for requests
#: in flight to finish when it stops.
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def is_asgi_app(app: object) -> bool:
    """Whether ``app`` is an ASGI 3 application (``async def app(scope, receive, send)``), as
    uvicorn itself tells: a coroutine function, or an object whose ``__call__`` is one."""
    if inspect.isfunction(app) or inspect.ismethod(app):
        return inspect.iscoroutinefunction(app)
    return inspect.iscoroutinefunction(getattr(app, "__call__", None))  # noqa: B004


@contextmanager
def serve_asgi(app: Any, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run ``app`` with uvicorn on a local port for the duration of the block.

    :param port: 0 picks a free port.
    :returns: the base URL, e.g. ``http://127.0.0.1:53817``.
    :raises PixelError: uvicorn is not installed, or the app failed to start (its lifespan
        startup raised): the error says which, and the app's own traceback is logged.
    """
    if host not in LOCAL_HOSTS:
        raise PixelError(f"serve_asgi host {host!r} is not a loopback address")
    try:
        import uvicorn
    except ImportError:
        raise PixelError(
            "serving an ASGI app (Starlette, FastAPI) for the browser needs uvicorn: "
            "pip install uvicorn"
        ) from None
    family = socket.AF_INET6 if host == "::1" else socket.AF_INET
    with closing(socket.socket(family, socket.SOCK_STREAM)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        bound_port = sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            # The test process's logging, not uvicorn's own handlers: pytest shows what the
            # app logged (a failed startup, an error in a view) with the failing test.
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="auto",
            timeout_graceful_shutdown=int(STOP_TIMEOUT),
            # One event loop and one HTTP parser for every run: the pure-Python ones, which need
            # nothing beyond uvicorn itself (uvloop and httptools are optional extras).
            loop="asyncio",
            http="h11",
        )
        server = uvicorn.Server(config)
        # Off the main thread uvicorn installs no signal handlers: Ctrl-C stays pytest's.
        thread = threading.Thread(
            target=_run, args=(server, sock), name="pixel-embed-asgi", daemon=True
        )
        thread.start()
        try:
            _wait_started(server, thread)
            shown = f"[{host}]" if ":" in host else host
            yield f"http://{shown}:{bound_port}"
        finally:
            server.should_exit = True
            thread.join(timeout=STOP_TIMEOUT + 5)


def _run(server: Any, sock: socket.socket) -> None:
    # A failed startup exits: uvicorn logged why, and _wait_started raises.
    with suppress(SystemExit):
        server.run(sockets=[sock])


def _wait_started(server: Any, thread: threading.Thread) -> None:
    """Return once ``server`` serves; raise when it stopped (or hangs) instead."""
    done = threading.Event()
    waited = 0.0
    while not server.started:
        if not thread.is_alive():
            raise PixelError(
                "the ASGI app did not start: its lifespan startup failed (uvicorn logged why)"
            )
        if waited >= START_TIMEOUT:
            server.should_exit = True
            raise PixelError(f"the ASGI app did not start within {START_TIMEOUT:.0f} s")
        done.wait(0.01)
        waited += 0.01
