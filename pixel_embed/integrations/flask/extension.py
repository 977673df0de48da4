"""The Flask extension: the core's view API on Flask's request, session, config and Jinja."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, cast

from flask import Blueprint, Flask, Request, Response, current_app, has_request_context, request
from flask import session as flask_session
from flask.sessions import SecureCookieSessionInterface

from ...core.config import DEFAULTS, PixelConfig
from ...core.policy import NO_POLICY
from ...core.state import AppSetup, RequestState
from ...core.view import PixelCore
from ...events_api.delivery import Sender
from ...resources import TEMPLATES_DIR
from . import events_api, partial
from .adapters import FlaskRequest, FlaskResponse, apply_policy

# The request's state, on the request object: ``g`` can outlive a request (it belongs to the
# app context, which a test may hold open around several requests).
_STATE_KEY = "_tiktok_pixel"
# Set on the request once the after-request hook ran: a later render is a streamed page's.
_RESPONDED_KEY = "_tiktok_pixel_responded"


@dataclass(frozen=True)
class _Site:
    """One app, as the extension keeps it (a state's ``native``)."""

    app: Flask
    setup: AppSetup
    # The app's template globals (the dict itself: a CSP extension may register its nonce
    # function after us): ``app.jinja_env`` is a property, looked up on every page otherwise.
    template_globals: Mapping[str, Any]


class TikTokPixel(PixelCore):
    """Puts the TikTok Pixel on a Flask site's pages.

    ::

        pixel = TikTokPixel(app)          # or TikTokPixel() and pixel.init_app(app)

        @app.post("/checkout")
        def checkout():
            pixel.identify(email=user.email)
            pixel.track("CompletePayment", value=42.5, currency="USD", defer=True)
            return redirect("/thank-you")

    and once in the base layout: ``{{ tiktok_pixel() }}``.

    :param nonce: returns the request's CSP nonce. By default Flask-Talisman's ``csp_nonce``
        template global is used when it is registered.
    :param sender: delivers server-side Events API events (with ``TIKTOK_PIXEL_ACCESS_TOKEN``
        set); a background thread by default. See :mod:`pixel_embed.events_api`.
    """

    session_hint = "set app.secret_key (SECRET_KEY) to use it"

    def __init__(
        self,
        app: Flask | None = None,
        *,
        nonce: Callable[[], str | None] | None = None,
        sender: Sender | None = None,
    ) -> None:
        super().__init__(nonce=nonce, sender=sender)
        self._sites: weakref.WeakKeyDictionary[Flask, _Site] = weakref.WeakKeyDictionary()
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Read and check the ``TIKTOK_PIXEL_*`` config, and register the template global.

        :raises RuntimeError: the app already has a TikTokPixel.
        :raises ConfigurationError: a setting is invalid.
        """
        if "tiktok_pixel" in app.extensions:
            raise RuntimeError(
                "A 'TikTokPixel' instance has already been registered on this Flask app. "
                "Import and use that instance instead."
            )
        for key, default in DEFAULTS.items():
            app.config.setdefault(key, list(default) if isinstance(default, list) else default)
        config = PixelConfig.from_mapping(app.config)
        app.extensions["tiktok_pixel"] = self
        app.jinja_env.globals["tiktok_pixel"] = self.render
        app.jinja_env.globals["_pixel_embed_render"] = self.render
        app.register_blueprint(Blueprint("pixel_embed", __name__, template_folder=TEMPLATES_DIR))
        # First in the app's list, so it runs last (Flask runs them last registered first): an
        # app's own hook that marks pages public cannot undo Cache-Control: private.
        app.after_request_funcs.setdefault(None, []).insert(0, self._after_request)
        setup = self.setup(
            config,
            instance_path=app.instance_path,
            start_waiting=not events_api.in_flask_command(),
        )
        if setup.server_events is not None:
            events_api.register(app, self, setup.server_events, config)
        if setup.partial is not None:
            partial.register_script(app)
        app.jinja_env.globals["tiktok_pixel_calls"] = self.fragment
        self._sites[app] = _Site(app, setup, app.jinja_env.globals)
        self._forget_on_logout(app)

    def _forget_on_logout(self, app: Flask) -> None:
        """With Flask-Login installed, :meth:`forget` runs when ``logout_user()`` is called in
        one of ``app``'s requests (its ``user_logged_out`` signal); and ``login_user()`` drops
        what earlier requests carried for the next page (``user_logged_in``): a login without
        a logout before it (a shared computer) must not fire the last person's deferred
        purchase on the new one's page."""
        try:
            from flask_login import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
                user_logged_in,
                user_logged_out,
            )
        except ImportError:
            return

        def forget_on_logout(sender: Flask, **extra: object) -> None:
            if has_request_context():
                self.forget()

        def forget_carried_on_login(sender: Flask, **extra: object) -> None:
            if has_request_context():
                self.forget_carried(self.request_state("forget"))

        user_logged_out.connect(forget_on_logout, app, weak=False)
        user_logged_in.connect(forget_carried_on_login, app, weak=False)

    # -- the core's hooks ----------------------------------------------------------------------

    # Flask's proxies (``request``, ``session``…) cost about a microsecond per attribute; these
    # run on every track() and page, so each resolves the proxy to its object once.

    def request_state(self, caller: str) -> RequestState:
        """This request's state, kept on the request object."""
        try:
            current = request._get_current_object()  # type: ignore[attr-defined]
        except RuntimeError:
            raise self.no_request(caller) from None
        state: RequestState | None = getattr(current, _STATE_KEY, None)
        if state is None or state.owner is not self:
            return self._new_state(current)
        return state

    def _new_state(self, current: Request) -> RequestState:
        app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
        try:
            site = self._sites[app]
        except KeyError:
            raise RuntimeError(
                "This TikTokPixel is not registered on the current app: call "
                "pixel.init_app(app) in the app factory."
            ) from None
        setup = site.setup
        state = RequestState(self, setup, setup.config, FlaskRequest(current), site)
        state.responded = getattr(current, _RESPONDED_KEY, False)
        setattr(current, _STATE_KEY, state)
        return state

    def session(self, state: RequestState, *, write: bool) -> MutableMapping[str, Any] | None:
        """Flask's session; with ``write``, ``None`` without a secret key. Without, ``None``
        when Flask's own cookie session was not sent: looking at the session anyway would add
        ``Vary: Cookie`` to every page (~7 us)."""
        app: Flask = state.native.app
        if write:
            if not app.secret_key:
                return None
        else:
            interface = app.session_interface
            if type(interface) is SecureCookieSessionInterface:
                current: Request = state.request.request  # type: ignore[attr-defined]
                # No Cookie header at all (a first visit): no cookie to parse.
                if not current.environ.get("HTTP_COOKIE") or (
                    interface.get_cookie_name(app) not in current.cookies
                ):
                    return None
        saved: MutableMapping[str, Any] = flask_session._get_current_object()  # type: ignore[attr-defined]
        return saved

    def partial_script_url(self, state: RequestState) -> str:
        return partial.script_url()

    def current_nonce(self, state: RequestState) -> str | None:
        """The ``nonce`` function's, else Flask-Talisman's ``csp_nonce()``, else ``None``."""
        if self._nonce is not None:
            return self._nonce()
        talisman = state.native.template_globals.get("csp_nonce")
        return cast(str | None, talisman()) if callable(talisman) else None

    def _after_request(self, response: Response) -> Response:
        current = request._get_current_object()  # type: ignore[attr-defined]
        state: RequestState | None = getattr(current, _STATE_KEY, None)
        if state is None or state.owner is not self:
            setattr(current, _RESPONDED_KEY, True)
            return response
        policy = self.finish(state, FlaskResponse(response))
        if policy is not NO_POLICY:
            apply_policy(response, policy)
        return response
