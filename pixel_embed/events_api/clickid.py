"""Keep the TikTok click id (``ttclid``) an ad click lands with, for later server events.

TikTok appends ``?ttclid=…`` to the landing URL of an ad click. The conversion usually comes
pages (or days) later, so the id is kept in a first-party cookie and sent with every server
event of that browser. Nothing is made up when there is none.

The cookie lasts 30 days, as in TikTok's own integrations (its Events API template for Google
Tag Manager and its WooCommerce plugin). TikTok's default click-through attribution window is
7 days, but an advertiser can set it to 14 or 28: a 7-day cookie would drop the click id of
conversions TikTok still attributes. The cookie holds only the id TikTok put in the URL, is
HttpOnly, and is not set where consent forbids the pixel.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Protocol

from ..screening import holds_personal_data


class ArgsAndCookies(Protocol):
    """What the click-id functions read of a request: its query and its cookies."""

    @property
    def args(self) -> Mapping[str, str]: ...

    @property
    def cookies(self) -> Mapping[str, str]: ...


#: The first-party cookie holding the click id.
TTCLID_COOKIE = "ttclid"
#: How long the click id is kept, in seconds (30 days, as TikTok's own integrations keep it).
TTCLID_MAX_AGE = 30 * 24 * 3600
# Click ids are URL-safe tokens; anything else (markup, a value 2 KB long) is not one.
_TTCLID = re.compile(r"[A-Za-z0-9._~+/=-]{1,500}")


def valid_ttclid(value: object) -> str | None:
    """``value`` if it has the shape of a TikTok click id, else ``None``: a URL-safe token of
    at most 500 characters that holds no e-mail address or phone number (a visitor chooses
    the URL: ``?ttclid=+31612345678`` would send a phone number to TikTok)."""
    if not isinstance(value, str) or not _TTCLID.fullmatch(value):
        return None
    return None if holds_personal_data(value) else value


def landing_ttclid(args: Mapping[str, str]) -> str | None:
    """The valid ``ttclid`` of a landing URL's query arguments, if any."""
    return valid_ttclid(args.get("ttclid"))


def request_ttclid(request: ArgsAndCookies) -> str | None:
    """The request's click id: from its URL when it just landed, else from the cookie.

    :param request: Flask's (Werkzeug's) request, or any object with ``args`` and ``cookies``
        mappings, such as a :class:`~pixel_embed.core.request.RequestFacts`.
    """
    return landing_ttclid(request.args) or valid_ttclid(request.cookies.get(TTCLID_COOKIE))


def ttclid_to_remember(request: ArgsAndCookies) -> str | None:
    """The click id to store in the :data:`TTCLID_COOKIE` cookie (for
    :data:`TTCLID_MAX_AGE` seconds, HttpOnly, SameSite Lax, and Secure over HTTPS): a landing
    URL's, when the cookie does not hold it already. Requests without one leave the cookie as
    it is (``None``)."""
    ttclid = landing_ttclid(request.args)
    if ttclid is None or request.cookies.get(TTCLID_COOKIE) == ttclid:
        return None
    return ttclid


#: The cookie TikTok's SDK keeps its browser id in.
TTP_COOKIE = "_ttp"
# What TikTok's SDK writes in _ttp ("01M90YT8ARXAH5PW6W18GFP0WH_.tt.3", about 32 characters):
# anything else (a 3.5 KB value another script or the visitor set) is not forwarded.
_TTP = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def ttp_cookie(value: object) -> str | None:
    """``value`` of a ``_ttp`` cookie if it has the shape TikTok's SDK gives it (and holds no
    e-mail address or phone number, which another script could have put there), else ``None``."""
    if not isinstance(value, str) or not _TTP.fullmatch(value):
        return None
    return None if holds_personal_data(value) else value
