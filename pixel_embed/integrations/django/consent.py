"""``TIKTOK_PIXEL_CONSENT_STATE``: the visitor's consent choice from the site's own record.

By default the visitor's choice is the first-party cookie the pixel's consent API writes
(``TIKTOK_PIXEL_CONSENT_COOKIE``). A site whose consent platform keeps the choice elsewhere
names a function of the request instead::

    TIKTOK_PIXEL_CONSENT_STATE = "shop.consent.tiktok_choice"  # (request) -> "granted" | ...

Its answer decides what the page renders (held, granted, or nothing before a choice in
``strict`` mode) and whether server events go. A function that raises, or answers anything
but ``"granted"``, ``"denied"`` or ``None``, counts as no choice (logged): consent fails closed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from django.http import HttpRequest
from django.utils.module_loading import import_string

from ...errors import ConfigurationError, safe_repr

#: The setting's name.
CONSENT_STATE_SETTING = "TIKTOK_PIXEL_CONSENT_STATE"
ConsentFunction = Callable[[HttpRequest], object]


def consent_function(value: object) -> ConsentFunction | None:
    """``TIKTOK_PIXEL_CONSENT_STATE``: ``None``, a function, or its dotted path.

    :raises ConfigurationError: it is something else, or its path imports nothing.
    """
    if value is None or callable(value):
        return value
    if isinstance(value, str):
        try:
            found = import_string(value)
        except ImportError as exc:
            raise ConfigurationError(
                f"{CONSENT_STATE_SETTING} {value!r} cannot be imported: {exc}"
            ) from None
        if callable(found):
            return cast(ConsentFunction, found)
    raise ConfigurationError(
        f"{CONSENT_STATE_SETTING} must be None, a function (request) -> 'granted' | 'denied' "
        f"| None, or its dotted path, not {safe_repr(value, 60)}"
    )
