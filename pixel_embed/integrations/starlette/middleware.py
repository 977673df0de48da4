"""``PixelMiddleware``: a pure ASGI middleware (no ``BaseHTTPMiddleware``, whose task per
request costs time and copies the context), in the manner of asgi-csrf: the request's state in
a context variable, the response's headers changed in its ``http.response.start`` message.

For each HTTP request it

- sets :data:`~.pixel.CURRENT` to a fresh slot, so that ``pixel.track()`` finds the request in
  ``async def`` and ``def`` endpoints alike;
- when the response starts, runs the core's end of request (the partial-page calls, the CSP
  check, the server events, the deferred events saved in the session) and applies the
  :class:`~pixel_embed.core.policy.ResponsePolicy` it returns to the start message's headers;
- serves the partial-pages client script at ``/_pixel_embed/pixel_embed_partial.js``.

And for the lifespan: at startup it checks that ``SessionMiddleware`` is outside it and starts
delivering server events in this process; at shutdown, after the app's own shutdown, it
delivers what waits (for at most ``TIKTOK_PIXEL_EVENTS_SHUTDOWN_TIMEOUT`` seconds): under
``uvicorn --workers N`` each worker does so when it is told to stop, and the durable outbox
keeps what is left for the next start.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from starlette.middleware.sessions import SessionMiddleware

from ...core.policy import CDN_CACHE_HEADERS, NO_POLICY, ResponsePolicy, private_cache_control
from ...errors import ConfigurationError
from ...events_api.clickid import TTCLID_COOKIE, TTCLID_MAX_AGE
from ...partial import SCRIPT, SCRIPT_VERSION, script_cache_control
from .pixel import CURRENT, MISPLACED_SESSION, SCRIPT_PATH, RequestSlot, TikTokPixel
from .request import ScopeRequest, StartedResponse

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("pixel_embed")

_CDN_NAMES = frozenset(name.lower().encode() for name in CDN_CACHE_HEADERS)
_SCRIPT_ETAG = f'"{SCRIPT_VERSION}"'.encode()


class PixelMiddleware:
    """Serves ``pixel`` (a :class:`~.pixel.TikTokPixel`) to the requests of ``app``.

    Add it inside ``SessionMiddleware`` (deferred events are saved in the session when the
    response starts) and outside a middleware that sets the Content Security Policy header
    (the pixel checks the policy its page gets)::

        app.add_middleware(CspMiddleware)          # inside: its header is checked
        app.add_middleware(PixelMiddleware, pixel=pixel)
        app.add_middleware(SessionMiddleware, secret_key=...)   # outside

    :raises TypeError: ``pixel`` is not a Starlette ``TikTokPixel``.
    """

    def __init__(self, app: ASGIApp, *, pixel: TikTokPixel) -> None:
        if not isinstance(pixel, TikTokPixel):
            raise TypeError(
                "PixelMiddleware(pixel=...) takes a pixel_embed.integrations.starlette."
                f"TikTokPixel, not {type(pixel).__name__}"
            )
        self.app = app
        self.pixel = pixel
        self._checked_apps: set[int] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(scope, receive, send)
        else:  # websockets carry no page
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _route_path(scope) == SCRIPT_PATH:
            await _serve_script(scope, send)
            return
        self._check_order(scope)
        slot = RequestSlot(self.pixel, scope, session_outside="session" in scope)
        server_events = self.pixel.app_setup.server_events
        if server_events is not None:
            # The process that serves requests delivers (a server without lifespan events too).
            server_events.start()

        async def send_with_pixel(message: Message) -> None:
            if message["type"] == "http.response.start" and not slot.responded:
                slot.responded = True
                await self._respond(slot, message)
            await send(message)

        token = CURRENT.set(slot)
        try:
            await self.app(scope, receive, send_with_pixel)
        except Exception:
            if not slot.responded and slot.state is not None:
                # The view failed: Starlette's error page goes out around this middleware. The
                # request still ends as Flask's does on its error page: its server events go
                # to the Events API (the browser gets none of its calls).
                slot.responded = True
                with suppress(Exception):
                    await self._respond(slot, {"type": "http.response.start", "status": 500})
            raise
        finally:
            CURRENT.reset(token)

    async def _respond(self, slot: RequestSlot, message: Message) -> None:
        """The end of the request, when its response starts: what the core decides, applied
        to ``message``'s headers."""
        state = slot.state
        pixel = self.pixel
        headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
        if state is not None:
            state.responded = True
            if state.server_events:
                # The outbox writes to disk and may wait a few ms for its lock: not in the loop.
                import anyio.to_thread

                policy = await anyio.to_thread.run_sync(
                    pixel.finish, state, StartedResponse(message)
                )
            else:
                policy = pixel.finish(state, StartedResponse(message))
            if policy is not NO_POLICY:
                headers = apply_policy(headers, policy)
        cookie = self._click_cookie(slot)
        if cookie is not None:
            headers.append((b"set-cookie", cookie))
        message["headers"] = headers

    def _click_cookie(self, slot: RequestSlot) -> bytes | None:
        """The ``ttclid`` cookie that keeps an ad click's id for later server events, when the
        landing URL has one (and consent allows the pixel)."""
        server_events = self.pixel.app_setup.server_events
        if server_events is None or b"ttclid" not in slot.scope.get("query_string", b""):
            return None
        request = slot.state.request if slot.state is not None else ScopeRequest(slot.scope)
        ttclid = self.pixel.click_id_to_keep(server_events, self.pixel.config, request)
        if ttclid is None:
            return None
        secure = "; Secure" if request.is_secure else ""
        return (
            f"{TTCLID_COOKIE}={ttclid}; Max-Age={TTCLID_MAX_AGE}; Path=/; HttpOnly; "
            f"SameSite=Lax{secure}"
        ).encode("latin-1")

    def _check_order(self, scope: Scope) -> None:
        """Refuse, once per app, a ``SessionMiddleware`` that Starlette runs inside this one."""
        app = scope.get("app")
        if app is None or id(app) in self._checked_apps:
            return
        self._checked_apps.add(id(app))
        listed = [getattr(item, "cls", None) for item in getattr(app, "user_middleware", [])]
        ours = [i for i, cls in enumerate(listed) if cls is PixelMiddleware]
        sessions = [
            i
            for i, cls in enumerate(listed)
            if isinstance(cls, type) and issubclass(cls, SessionMiddleware)
        ]
        # user_middleware lists the outermost first.
        if ours and sessions and min(sessions) > min(ours):
            self._checked_apps.discard(id(app))
            raise ConfigurationError(MISPLACED_SESSION)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            self._check_order(scope)
        except ConfigurationError as error:
            # Said as the lifespan protocol says it, so the server stops (an exception alone
            # would be taken for an app without lifespan support by uvicorn's default, "auto"),
            # then raised, as Starlette's Router does: uvicorn takes an exception after
            # startup.failed as the failed startup, and Starlette's TestClient waits for it.
            if (await receive())["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.failed", "message": f"{error}"})
            raise
        pixel = self.pixel

        async def receive_checked() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                pixel.start_delivery()
            return message

        async def send_after_delivery(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                import anyio.to_thread

                # After the app's own shutdown (it may track to the end); a worker told to stop
                # delivers what waits before it reports that it is done.
                await anyio.to_thread.run_sync(pixel.stop_delivery)
            await send(message)

        await self.app(scope, receive_checked, send_after_delivery)


def _route_path(scope: Scope) -> str:
    """The path below the app's root path (a mounted app's own)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


async def _serve_script(scope: Scope, send: Send) -> None:
    """The partial-pages client script: cached for a year under its versioned URL."""
    query = bytes(scope.get("query_string", b"")).decode("latin-1")
    cache = script_cache_control(parse_qs(query).get("v", [None])[0]).encode()
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"text/javascript; charset=utf-8"),
        (b"cache-control", cache),
        (b"etag", _SCRIPT_ETAG),
    ]
    matches = any(
        name == b"if-none-match" and _SCRIPT_ETAG in value for name, value in scope["headers"]
    )
    body = b"" if matches or scope["method"] == "HEAD" else SCRIPT
    status = 304 if matches else 200
    if not matches:
        headers.append((b"content-length", str(len(SCRIPT)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def apply_policy(
    headers: list[tuple[bytes, bytes]], policy: ResponsePolicy
) -> list[tuple[bytes, bytes]]:
    """``headers`` (an ASGI start message's) changed as ``policy`` says."""
    if policy.private or policy.no_store:
        control = [
            value.decode("latin-1") for name, value in headers if _is(name, b"cache-control")
        ]
        value = "no-store" if policy.no_store else private_cache_control(", ".join(control) or None)
        headers = [
            (name, b"no-store" if name.lower() in _CDN_NAMES else header)
            for name, header in headers
            if not _is(name, b"cache-control")
        ]
        headers.append((b"cache-control", value.encode("latin-1")))
    if policy.vary:
        headers = _add_vary(headers, policy.vary)
    for name, value in policy.headers.items():
        raw = name.lower().encode("latin-1")
        headers = [item for item in headers if item[0].lower() != raw]
        headers.append((raw, value.encode("latin-1")))
    return headers


def _is(name: bytes, lower: bytes) -> bool:
    return name.lower() == lower


def _add_vary(
    headers: list[tuple[bytes, bytes]], names: tuple[str, ...]
) -> list[tuple[bytes, bytes]]:
    present = [
        part.strip().lower()
        for name, value in headers
        if _is(name, b"vary")
        for part in value.decode("latin-1").split(",")
    ]
    if "*" in present:
        return headers
    missing = [name for name in names if name.lower() not in present]
    if not missing:
        return headers
    kept = [item for item in headers if not _is(item[0], b"vary")]
    old = [value.decode("latin-1") for name, value in headers if _is(name, b"vary")]
    return [*kept, (b"vary", ", ".join([*old, *missing]).encode("latin-1"))]
