"""Where :class:`~.middleware.TikTokPixelMiddleware` must sit in ``MIDDLEWARE``, checked.

Django runs ``MIDDLEWARE`` top down on the way in and bottom up on the way out, so the order
decides what the pixel's middleware sees of the response and whose changes outlive whose:

- below ``SessionMiddleware``: that middleware saves the session after ours wrote the deferred
  events to it (above it, they would be written after the save, and lost);
- below ``UpdateCacheMiddleware``: that middleware stores the page after ours marked a personal
  page private (above it, it would store one visitor's hashes for the next);
- above django-csp's ``CSPMiddleware``: its header is on the response when ours checks that the
  policy lets TikTok through (below it, the check would see no policy and say nothing).

The check runs when Django builds its middleware (at start-up, in every server) and in
``manage.py check``; each problem says how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.module_loading import import_string

#: The dotted path of the pixel's middleware, as ``MIDDLEWARE`` lists it.
MIDDLEWARE_PATH = "pixel_embed.integrations.django.middleware.TikTokPixelMiddleware"
#: The app's dotted path, as ``INSTALLED_APPS`` lists it.
APP_PATH = "pixel_embed.integrations.django"

SESSION_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"
UPDATE_CACHE_MIDDLEWARE = "django.middleware.cache.UpdateCacheMiddleware"
CACHE_MIDDLEWARE = "django.middleware.cache.CacheMiddleware"
CSP_MIDDLEWARE = "csp.middleware.CSPMiddleware"


def _is(entry: str, path: str) -> bool:
    """Whether the ``MIDDLEWARE`` entry is the class at ``path`` or a subclass of it (a site's
    own ``SessionMiddleware`` subclass counts as one)."""
    if entry == path:
        return True
    try:
        found = import_string(entry)
    except ImportError:  # a typo, which Django itself reports
        return False
    # By name along the class's bases: the other class's package (django-csp) may not be
    # installed, and is not imported to find out.
    return isinstance(found, type) and any(
        f"{base.__module__}.{base.__qualname__}" == path for base in found.__mro__
    )


def placement_problems(middleware: Sequence[str]) -> list[str]:
    """What is wrong with the pixel middleware's place in ``middleware`` (``MIDDLEWARE``);
    an empty list when nothing is, or when the pixel middleware is not listed."""
    entries = list(middleware)
    ours = [index for index, entry in enumerate(entries) if _is(entry, MIDDLEWARE_PATH)]
    if not ours:
        return []
    if len(ours) > 1:
        return [
            f"MIDDLEWARE lists {MIDDLEWARE_PATH} {len(ours)} times: list it once (each would "
            "render and send the same events again)"
        ]
    (place,) = ours
    problems = []
    for index, entry in enumerate(entries):
        if index < place and _is(entry, CSP_MIDDLEWARE):
            problems.append(
                f"MIDDLEWARE lists {entry} above {MIDDLEWARE_PATH}: move it below, so that "
                "its Content-Security-Policy header is on the response when the pixel checks "
                "that the policy lets TikTok through"
            )
        if index > place and _is(entry, SESSION_MIDDLEWARE):
            problems.append(
                f"MIDDLEWARE lists {entry} below {MIDDLEWARE_PATH}: move it above, so that "
                "the session is there for the pixel's deferred events and saved after they "
                "are written to it"
            )
        if index > place and (_is(entry, UPDATE_CACHE_MIDDLEWARE) or _is(entry, CACHE_MIDDLEWARE)):
            problems.append(
                f"MIDDLEWARE lists {entry} below {MIDDLEWARE_PATH}: move it above (Django's "
                "cache middleware comes first), so that a page with a visitor's identity or "
                "purchase is marked private before the cache could store it for others"
            )
    return problems
