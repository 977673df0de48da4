"""``TikTokPixelMiddleware``: gives each request its pixel and applies what the pixel decides
to the response.

``MIDDLEWARE`` lists it below ``SessionMiddleware`` (and Django's cache middleware) and above
django-csp's ``CSPMiddleware``: :mod:`.placement` says why, and checks it when Django builds its
middleware, so a misplaced one fails start-up with
:class:`~django.core.exceptions.ImproperlyConfigured` instead of losing events quietly.
Sync and async: under ASGI the view runs without a thread hop; the after-view step, which may
read a database-backed session, runs in Django's sync thread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponseBase

from .pixel import pixel
from .placement import APP_PATH, placement_problems

GetResponse = Callable[[HttpRequest], HttpResponseBase]
AsyncGetResponse = Callable[[HttpRequest], Awaitable[HttpResponseBase]]


class TikTokPixelMiddleware:
    """Sets ``request.tiktok_pixel``, the view API (``track``, ``identify``, ``forget``…), and
    after the view: deferred events into the session, cache headers, the partial-page header,
    the server copies of events, the Content-Security-Policy check.

    :raises ImproperlyConfigured: the app is not in ``INSTALLED_APPS``, or the middleware is
        in the wrong place in ``MIDDLEWARE``.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse | AsyncGetResponse) -> None:
        if not apps.is_installed(APP_PATH):
            raise ImproperlyConfigured(
                f"TikTokPixelMiddleware needs its app: add {APP_PATH!r} to INSTALLED_APPS"
            )
        problems = placement_problems(settings.MIDDLEWARE)
        if problems:
            raise ImproperlyConfigured("; ".join(problems))
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self.__acall__(request)
        served = pixel.serve_script(request)
        if served is not None:
            return served
        token = pixel.start(request)
        try:
            response = self.get_response(request)
            assert isinstance(response, HttpResponseBase)
            return pixel.end(request, response)
        finally:
            pixel.reset(token)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        served = pixel.serve_script(request)
        if served is not None:
            return served
        token = pixel.start(request)
        try:
            response: HttpResponseBase = await self.get_response(request)  # type: ignore[misc]
            if pixel.idle(request):  # nothing tracked, no server events: no thread hop
                return response
            # The session may be database-backed: Django's sync access, in a thread.
            return await sync_to_async(pixel.end)(request, response)
        finally:
            pixel.reset(token)
