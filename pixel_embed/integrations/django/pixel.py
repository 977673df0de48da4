"""The Django pixel: the core's view API, its state kept on Django's ``HttpRequest``.

Views reach it as ``request.tiktok_pixel`` (set by :class:`~.middleware.TikTokPixelMiddleware`),
the way Django hands a view everything else that belongs to the request (``request.user``,
``request.session``, django-htmx's ``request.htmx``, django-csp's ``request.csp_nonce``): no
import, no thread-local for the view to think about, and a view that only sees ``request``
(a helper, a signal receiver) has it too.

Behind the attribute is one pixel for the process (:data:`pixel`), as in Flask: it holds the
settings, the Events API sender and the warnings shown once per view. The request being
handled is known through a context variable the middleware sets (threads and asyncio tasks
each see their own), and its state lives on the request itself.
"""

from __future__ import annotations

import contextvars
import logging
import os
from collections.abc import Mapping, MutableMapping
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.cache import patch_vary_headers
from markupsafe import Markup

from ...core.config import PixelConfig
from ...core.deferred import SESSION_KEY
from ...core.policy import CDN_CACHE_HEADERS, ResponsePolicy, private_cache_control
from ...core.state import AppSetup, RequestState
from ...core.view import PixelCore
from ...errors import StreamingError, safe_repr
from ...events_api.clickid import TTCLID_COOKIE, TTCLID_MAX_AGE
from ...partial import SCRIPT, SCRIPT_NAME, SCRIPT_VERSION, script_cache_control
from ...render import ConsentState
from .conf import SettingsMapping
from .consent import CONSENT_STATE_SETTING, ConsentFunction, consent_function
from .placement import MIDDLEWARE_PATH
from .request import DjangoRequestFacts, DjangoResponseFacts

log = logging.getLogger("pixel_embed")

#: Where the partial-pages client script is served (below the site's ``SCRIPT_NAME``).
SCRIPT_PATH = f"/_pixel_embed/{SCRIPT_NAME}"
# This request's state, on the HttpRequest.
_STATE_ATTR = "_tiktok_pixel_state"
# The consent choice TIKTOK_PIXEL_CONSENT_STATE gave for the request (asked once).
_CONSENT_ATTR = "_tiktok_pixel_consent"
# The request being handled, set by the middleware for the view and the templates.
_current: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar(
    "pixel_embed_django_request", default=None
)


class DjangoPixel(PixelCore):
    """The TikTok Pixel for Django: ``request.tiktok_pixel`` (see the module's docstring).

    ``track``, ``identify``, ``forget``, ``consent``, ``page_calls``, ``csp_sources``,
    ``render``, ``fragment`` and ``segment`` are the core's
    (:class:`~pixel_embed.core.view.PixelCore`), as in Flask.
    """

    session_hint = (
        "add 'django.contrib.sessions' to INSTALLED_APPS and its SessionMiddleware above "
        "TikTokPixelMiddleware in MIDDLEWARE"
    )
    template_hint = "{% tiktok_pixel %}"
    logout_hint = "Django's logout() forgets the visitor (or call request.tiktok_pixel.forget())"

    def __init__(self) -> None:
        super().__init__()
        self._setup: AppSetup | None = None
        self._consent_state: ConsentFunction | None = None

    # -- configuration -----------------------------------------------------------------------

    def configure(self) -> None:
        """Read and check the ``TIKTOK_PIXEL_*`` settings (at start-up, and again when
        ``override_settings`` changes one).

        :raises ConfigurationError: a setting is invalid.
        """
        previous, self._setup = self._setup, None
        if previous is not None and previous.server_events is not None:
            close = getattr(previous.server_events.sender, "close", None)
            if close is not None:
                close()
        config = PixelConfig.from_mapping(
            SettingsMapping(), integration_keys=[CONSENT_STATE_SETTING]
        )
        self._consent_state = consent_function(getattr(settings, CONSENT_STATE_SETTING, None))
        # A relative outbox path (sqlite:///events.sqlite3) is in the project's folder, as
        # Django's own SQLite path usually is: BASE_DIR, else the working directory.
        base = getattr(settings, "BASE_DIR", None) or os.getcwd()
        # The outbox is opened now (a file that cannot be written fails start-up), and
        # delivers from the first request on (end() starts it): a process that serves
        # requests delivers, a management command (migrate, tiktok_pixel events status) not.
        self._setup = self.setup(config, instance_path=str(base), start_waiting=False)

    @property
    def app_setup(self) -> AppSetup:
        if self._setup is None:
            raise ImproperlyConfigured(
                "The TikTok pixel is not set up: add 'pixel_embed.integrations.django' to "
                "INSTALLED_APPS"
            )
        return self._setup

    # -- the core's hooks ----------------------------------------------------------------------

    def request_state(self, caller: str) -> RequestState:
        request = _current.get()
        if request is None:
            raise self.no_request(caller)
        state: RequestState | None = getattr(request, _STATE_ATTR, None)
        if state is None:
            state = self.new_state(self.app_setup, DjangoRequestFacts(request), request)
            setattr(request, _STATE_ATTR, state)
        return state

    @staticmethod
    def no_request(caller: str) -> RuntimeError:
        return RuntimeError(
            f"request.tiktok_pixel.{caller}() needs the request being handled: call it from a "
            f"view, a template or a middleware below {MIDDLEWARE_PATH}, not at import time or "
            "in a background job"
        )

    def session(self, state: RequestState, *, write: bool) -> MutableMapping[str, Any] | None:
        request = cast(HttpRequest, state.native)
        session = getattr(request, "session", None)
        if session is None:
            return None
        # No session cookie (a first visit): nothing waits, and looking would make the page
        # depend on the cookie (SessionMiddleware adds Vary: Cookie to a session accessed).
        if not write and settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return None
        return cast(MutableMapping[str, Any], session)

    def partial_script_url(self, state: RequestState) -> str:
        request = cast(HttpRequest, state.native)
        prefix = str(request.META.get("SCRIPT_NAME", "")).rstrip("/")
        return f"{prefix}{SCRIPT_PATH}?v={SCRIPT_VERSION}"

    def current_nonce(self, state: RequestState) -> str | None:
        """django-csp's ``request.csp_nonce`` (or any middleware's that sets it); reading it
        is what makes django-csp put the nonce in its header."""
        nonce = getattr(state.native, "csp_nonce", None)
        return str(nonce) if nonce is not None else None

    def consent_of(  # type: ignore[override]
        self, config: PixelConfig, cookies: Mapping[str, str]
    ) -> ConsentState | None:
        """The visitor's consent choice: ``TIKTOK_PIXEL_CONSENT_STATE``'s answer for the
        request when the site has one (a consent platform's own record), else the cookie."""
        request = _current.get()
        function = self._consent_state
        if function is None or request is None:
            return PixelCore.consent_of(config, cookies)
        cached: ConsentState | str | None = getattr(request, _CONSENT_ATTR, "")
        if cached != "":
            return cast(ConsentState | None, cached)
        try:
            answer = function(request)
        except Exception as exc:  # the site's function must not turn a page into an error
            log.error(
                "TikTok pixel: %s raised %s; the visitor's consent is taken as not given",
                CONSENT_STATE_SETTING,
                type(exc).__name__,
            )
            answer = None
        if answer not in ("granted", "denied", None):
            log.error(
                "TikTok pixel: %s returned %s, not 'granted', 'denied' or None; the "
                "visitor's consent is taken as not given",
                CONSENT_STATE_SETTING,
                safe_repr(answer, 60),
            )
            answer = None
        setattr(request, _CONSENT_ATTR, answer)
        return answer

    # -- the middleware's steps ----------------------------------------------------------------

    def serves(self, request: HttpRequest) -> bool:
        """Whether the middleware handles ``request`` (it is the one being handled)."""
        return _current.get() is request

    def start(self, request: HttpRequest) -> contextvars.Token[HttpRequest | None]:
        """Give ``request`` its pixel; the token is for :meth:`reset`, after the response."""
        request.tiktok_pixel = self  # type: ignore[attr-defined]
        return _current.set(request)

    @staticmethod
    def reset(token: contextvars.Token[HttpRequest | None]) -> None:
        """Forget the request being handled (the view raised past Django's handler)."""
        _current.reset(token)

    def idle(self, request: HttpRequest) -> bool:
        """Whether :meth:`end` has nothing to do for ``request``: the pixel was not used on it
        and server events are off."""
        return getattr(request, _STATE_ATTR, None) is None and self.app_setup.server_events is None

    def end(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        """After the view: what the core decides, applied to ``response``."""
        setup = self.app_setup
        if setup.server_events is not None:
            setup.server_events.start()
        state: RequestState | None = getattr(request, _STATE_ATTR, None)
        if state is not None:
            self._after_logout(state)
            self.apply(response, self.finish(state, DjangoResponseFacts(response)))
        if setup.server_events is not None:
            self._remember_click(request, response, setup)
        return response

    def _after_logout(self, state: RequestState) -> None:
        """``django.contrib.auth.logout()`` empties the session after its signal, and so the
        mark that ``forget()`` left for the next partial page: put it back."""
        if not state.forgotten:
            return
        store = self.store(state)
        saved = store.session.get(SESSION_KEY) if store is not None else None
        if store is not None and not (isinstance(saved, dict) and saved.get("forget")):
            store.forget()

    @staticmethod
    def apply(response: HttpResponseBase, policy: ResponsePolicy) -> None:
        """Apply the core's :class:`~pixel_embed.core.policy.ResponsePolicy` to ``response``."""
        if not policy:
            return
        if policy.private:
            response["Cache-Control"] = private_cache_control(response.get("Cache-Control"))
            for name in CDN_CACHE_HEADERS:
                if name in response:
                    response[name] = "no-store"
        if policy.no_store:
            response["Cache-Control"] = "no-store"
        if policy.vary:
            patch_vary_headers(response, policy.vary)
        for name, value in policy.headers.items():
            response[name] = value

    def _remember_click(
        self, request: HttpRequest, response: HttpResponseBase, setup: AppSetup
    ) -> None:
        """Keep a landing URL's TikTok click id for later server events (where the consent
        mode lets the pixel fire: a click id is marketing data)."""
        server_events = setup.server_events
        assert server_events is not None
        ttclid = self.click_id_to_keep(server_events, setup.config, DjangoRequestFacts(request))
        if ttclid is not None:
            response.set_cookie(
                TTCLID_COOKIE,
                ttclid,
                max_age=TTCLID_MAX_AGE,
                httponly=True,
                samesite="Lax",
                secure=request.is_secure(),
            )

    @staticmethod
    def serve_script(request: HttpRequest) -> HttpResponse | None:
        """The partial-pages client script, when ``request`` asks for it (cached a year under
        its versioned URL); else ``None``."""
        if request.path_info != SCRIPT_PATH or request.method not in ("GET", "HEAD"):
            return None
        response = HttpResponse(SCRIPT, content_type="text/javascript; charset=utf-8")
        response["Cache-Control"] = script_cache_control(request.GET.get("v"))
        return response

    # -- Django's signals ----------------------------------------------------------------------

    def forget_request(self, request: HttpRequest) -> None:
        """:meth:`forget` for ``request`` (``user_logged_out``)."""
        if self.serves(request):
            self.forget()

    def forget_carried_of(self, request: HttpRequest) -> None:
        """Drop what earlier requests carried for the next page (``user_logged_in``)."""
        if self.serves(request):
            self.forget_carried(self.request_state("forget"))


class TikTokPixelRequest(HttpRequest):
    """A request that went through :class:`~.middleware.TikTokPixelMiddleware`, for type
    checkers (as django-htmx's ``HtmxHttpRequest``): ``def view(request: TikTokPixelRequest)``."""

    tiktok_pixel: DjangoPixel


def pixel_for(request: HttpRequest | None, caller: str) -> DjangoPixel:
    """The pixel of ``request`` for a template tag, or an error that says what is missing."""
    if request is None:
        raise ImproperlyConfigured(
            f"{caller} needs the request: render the template with render(request, ...) (or "
            "TemplateResponse), or pass request= to render_to_string()"
        )
    found = getattr(request, "tiktok_pixel", None)
    if not isinstance(found, DjangoPixel):
        raise ImproperlyConfigured(
            f"{caller} needs request.tiktok_pixel: add {MIDDLEWARE_PATH} to MIDDLEWARE"
        )
    return found


def render_for(request: HttpRequest | None, caller: str, *, fragment: bool = False) -> Markup:
    """What a template tag renders for ``request``: the pixel (or, with ``fragment``, the
    pending calls). A template rendered while a ``StreamingHttpResponse`` is being sent is
    after the middleware: its request is made current here, so that the error says what
    happened rather than that there is no request.

    :raises StreamingError: the response's headers are already sent.
    """
    found = pixel_for(request, caller)
    token = _current.set(request) if _current.get() is not request else None
    try:
        return found.fragment() if fragment else found.render()
    except StreamingError:
        raise StreamingError(
            f"{caller} was rendered while a StreamingHttpResponse was being sent: its headers "
            "and session cookie are gone, so the page could be cached with the visitor's data "
            "and deferred events would fire again. Call request.tiktok_pixel.render() in the "
            "view, before the response, and pass the HTML to the template."
        ) from None
    finally:
        if token is not None:
            _current.reset(token)


#: The pixel of every request this process serves (``request.tiktok_pixel``).
pixel = DjangoPixel()
