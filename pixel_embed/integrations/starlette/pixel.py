"""``TikTokPixel`` for Starlette and FastAPI: the core's view API, with its state in a context
variable that :class:`~.middleware.PixelMiddleware` sets for each request.

Why a context variable: a view calls ``pixel.track()`` with no request in hand, in an
``async def`` endpoint (in the event loop) or a ``def`` one (in the threadpool, which runs it
in a copy of the request's context: anyio's ``to_thread.run_sync``, as Starlette's
``run_in_threadpool`` and FastAPI's dependencies use it, copies the context into the worker
thread). The variable holds a mutable slot, set once by the middleware before the app runs;
every copy of the context sees the same slot, so state made in a thread is seen by the
middleware when the response starts. Two requests in one event loop run in two tasks, each
with its own context: neither sees the other's slot.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jinja2 import ChoiceLoader, FileSystemLoader

from ...core.config import PixelConfig
from ...core.state import AppSetup, RequestState
from ...core.view import PixelCore
from ...errors import ConfigurationError, StreamingError
from ...events_api.delivery import Sender
from ...partial import SCRIPT_NAME, SCRIPT_VERSION
from ...resources import TEMPLATES_DIR
from .request import ScopeRequest

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.templating import Jinja2Templates
    from starlette.types import Scope

#: Where the middleware serves the partial-pages client script, below the app's root path.
SCRIPT_PATH = f"/_pixel_embed/{SCRIPT_NAME}"
#: How to add the session, for the errors of ``defer`` and ``once`` without one.
SESSION_HINT = (
    "add Starlette's SessionMiddleware outside PixelMiddleware: "
    "app.add_middleware(SessionMiddleware, secret_key=...) after "
    "app.add_middleware(PixelMiddleware, pixel=pixel) (each one added wraps those before it), "
    "or before it in Starlette(middleware=[...])"
)
#: The error when the session is there, but inside the pixel's middleware.
MISPLACED_SESSION = (
    "SessionMiddleware runs inside PixelMiddleware, so the deferred events the pixel saves "
    "when the response starts would never reach the session cookie: "
    + SESSION_HINT.removeprefix("add Starlette's SessionMiddleware outside PixelMiddleware: ")
)
# The view API's methods that change what the response carries: after it started they would
# be lost, so they raise instead.
_CHANGES_RESPONSE = frozenset({"track", "identify", "forget", "tiktok_pixel_calls"})


@dataclass(slots=True)
class RequestSlot:
    """One request, as the middleware hands it to the view API (through :data:`CURRENT`).

    :param session_outside: the session was in the scope when the pixel's middleware was
        called: ``SessionMiddleware`` is outside it, as it must be.
    """

    pixel: TikTokPixel
    scope: Scope
    session_outside: bool
    state: RequestState | None = None
    #: ``http.response.start`` went out: headers and session cookie are sent.
    responded: bool = False


#: The request the current task (or the thread running a ``def`` endpoint for it) serves.
CURRENT: ContextVar[RequestSlot | None] = ContextVar("pixel_embed_starlette_request", default=None)


class TikTokPixel(PixelCore):
    """Puts the TikTok Pixel on a Starlette or FastAPI site's pages.

    ::

        pixel = TikTokPixel({"TIKTOK_PIXEL_CODE": "CABCDE1234567890ABCD"})
        pixel.install(templates)                       # a Jinja2Templates
        app.add_middleware(PixelMiddleware, pixel=pixel)
        app.add_middleware(SessionMiddleware, secret_key=...)  # outside: for defer=True

    and once in the base layout: ``{{ tiktok_pixel() }}``.

    :param config: the ``TIKTOK_PIXEL_*`` settings (any mapping; absent keys take their
        defaults, see :data:`pixel_embed.core.config.DEFAULTS`).
    :param nonce: returns the request's CSP nonce, given the Starlette ``Request``; by default
        ``request.state.csp_nonce`` when a middleware set it.
    :param sender: delivers server-side Events API events (with ``TIKTOK_PIXEL_ACCESS_TOKEN``
        set); by default the queue ``TIKTOK_PIXEL_EVENTS_QUEUE`` names.
    :param instance_path: the folder a relative ``sqlite:///`` outbox path is in (default:
        the working directory).
    :raises ConfigurationError: a setting is invalid.
    """

    session_hint = SESSION_HINT
    logout_hint = "call pixel.forget() in the logout view"

    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        nonce: Callable[[Request], str | None] | None = None,
        sender: Sender | None = None,
        instance_path: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(sender=sender)
        self._request_nonce = nonce
        self._own_sender = sender is None
        self._instance_path = os.fspath(instance_path or os.getcwd())
        self._delivery_closed = False
        # Delivery starts when a server serves the app (its lifespan, or its first request),
        # not when a command imports it to look at the outbox.
        self.app_setup: AppSetup = self.setup(
            PixelConfig.from_mapping(config or {}),
            instance_path=self._instance_path,
            start_waiting=False,
        )

    @property
    def config(self) -> PixelConfig:
        """The settings, checked."""
        return self.app_setup.config

    # -- delivery, for the lifespan ----------------------------------------------------------------

    def start_delivery(self) -> None:
        """Deliver server events from this process (the app's lifespan startup). After a
        shutdown closed the sender this pixel made, a new one takes over: a test suite serves
        one app many times in one process."""
        if self._delivery_closed:
            self.app_setup = self.setup(
                self.config, instance_path=self._instance_path, start_waiting=False
            )
            self._delivery_closed = False
        if self.app_setup.server_events is not None:
            self.app_setup.server_events.start()

    def stop_delivery(self) -> None:
        """Deliver what waits, for at most ``TIKTOK_PIXEL_EVENTS_SHUTDOWN_TIMEOUT`` seconds, and
        stop (the app's lifespan shutdown): the outbox keeps what is left for the next start.
        A sender the site gave is the site's to close."""
        server_events = self.app_setup.server_events
        if server_events is not None and self._own_sender:
            server_events.sender.close()
            self._delivery_closed = True

    # -- the core's hooks ------------------------------------------------------------------------

    def request_state(self, caller: str) -> RequestState:
        slot = CURRENT.get()
        if slot is None:
            raise self.no_request(caller)
        if slot.pixel is not self:
            raise RuntimeError(
                f"pixel.{caller}(): this TikTokPixel is not the one PixelMiddleware serves "
                "on this app; use that one (in FastAPI, Depends(current_pixel) gives it)"
            )
        if slot.responded and caller in _CHANGES_RESPONSE:
            raise StreamingError(
                f"pixel.{caller}() was called after the response started (in a streamed body "
                "or a background task): its headers and session cookie are sent, so the call "
                "would be lost. Call it in the endpoint, before it returns the response."
            )
        state = slot.state
        if state is None:
            state = slot.state = self.new_state(self.app_setup, ScopeRequest(slot.scope), slot)
        return state

    @staticmethod
    def no_request(caller: str) -> RuntimeError:
        return RuntimeError(
            f"pixel.{caller}() needs a request served through PixelMiddleware: call it from "
            "an endpoint or a dependency (app.add_middleware(PixelMiddleware, pixel=pixel)), "
            "not at import time or in a background job."
        )

    def session(self, state: RequestState, *, write: bool) -> MutableMapping[str, Any] | None:
        slot: RequestSlot = state.native
        session: MutableMapping[str, Any] | None = slot.scope.get("session")
        if session is None:
            return None
        if not slot.session_outside:
            raise ConfigurationError(MISPLACED_SESSION)
        # An empty session holds nothing to take out; leaving it untouched keeps a first
        # visit's page free of a session cookie.
        if not write and not session:
            return None
        return session

    def partial_script_url(self, state: RequestState) -> str:
        slot: RequestSlot = state.native
        root = str(slot.scope.get("root_path", "")).rstrip("/")
        return f"{root}{SCRIPT_PATH}?v={SCRIPT_VERSION}"

    def current_nonce(self, state: RequestState) -> str | None:
        slot: RequestSlot = state.native
        if self._request_nonce is not None:
            from starlette.requests import Request

            return self._request_nonce(Request(slot.scope))
        nonce = slot.scope.get("state", {}).get("csp_nonce")
        return nonce if isinstance(nonce, str) and nonce else None

    # -- Starlette -------------------------------------------------------------------------------

    def install(self, templates: Jinja2Templates) -> None:
        """Give ``templates`` (Starlette's or FastAPI's ``Jinja2Templates``) the template
        globals Flask's pixel gives its app: ``tiktok_pixel()`` and ``tiktok_pixel_calls()``,
        and ``{% from "pixel_embed/macros.html" import tiktok_pixel %}``.

        :raises RuntimeError: another ``TikTokPixel`` is installed on these templates.
        """
        env = templates.env
        installed = env.globals.get("tiktok_pixel")
        if installed is not None and installed != self.render:
            raise RuntimeError(
                "Another TikTokPixel is installed on these templates: use that instance, or "
                "give each app its own Jinja2Templates."
            )
        env.globals["tiktok_pixel"] = self.render
        env.globals["_pixel_embed_render"] = self.render
        env.globals["tiktok_pixel_calls"] = self.fragment
        ours = FileSystemLoader(str(TEMPLATES_DIR))
        loader = env.loader
        if loader is None:
            env.loader = ours
        elif not (isinstance(loader, ChoiceLoader) and ours.searchpath[0] in _paths(loader)):
            env.loader = ChoiceLoader([loader, ours])


def _paths(loader: ChoiceLoader) -> list[str]:
    return [path for each in loader.loaders for path in getattr(each, "searchpath", [])]


async def current_pixel() -> TikTokPixel:
    """The pixel that serves this request (the one :class:`~.middleware.PixelMiddleware` was
    given): a FastAPI dependency, ``pixel: Annotated[TikTokPixel, Depends(current_pixel)]``,
    which tests can replace through ``app.dependency_overrides``.

    :raises RuntimeError: the request does not pass through ``PixelMiddleware``.
    """
    slot = CURRENT.get()
    if slot is None:
        raise RuntimeError(
            "current_pixel: this request does not pass through PixelMiddleware: "
            "app.add_middleware(PixelMiddleware, pixel=pixel)"
        )
    return slot.pixel
