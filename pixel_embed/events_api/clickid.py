"""Keep the TikTok click id (``ttclid``) an ad click lands with, for later server events.

TikTok appends ``?ttclid=…`` to the landing URL of an ad click. The conversion usually comes
pages later, so the id is kept in a first-party cookie for 7 days (TikTok's click attribution
window) and sent with every server event of that browser. Nothing is made up when there is none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from werkzeug.wrappers import Request, Response

#: The first-party cookie holding the click id.
TTCLID_COOKIE = "ttclid"
#: How long the click id is kept, in seconds (7 days).
TTCLID_MAX_AGE = 7 * 24 * 3600
# Click ids are URL-safe tokens; anything else (markup, a value 2 KB long) is not one.
_TTCLID = re.compile(r"[A-Za-z0-9._~+/=-]{1,500}")


def _valid(value: str | None) -> str | None:
    return value if value is not None and _TTCLID.fullmatch(value) else None


def landing_ttclid(args: Mapping[str, str]) -> str | None:
    """The valid ``ttclid`` of a landing URL's query arguments, if any."""
    return _valid(args.get("ttclid"))


def request_ttclid(request: Request) -> str | None:
    """The request's click id: from its URL when it just landed, else from the cookie."""
    return landing_ttclid(request.args) or _valid(request.cookies.get(TTCLID_COOKIE))


def remember_ttclid(request: Request, response: Response) -> None:
    """Store a landing URL's click id in the ``ttclid`` cookie (7 days, HttpOnly, Lax, and
    Secure over HTTPS). Requests without one leave the cookie as it is."""
    ttclid = landing_ttclid(request.args)
    if ttclid is None or request.cookies.get(TTCLID_COOKIE) == ttclid:
        return
    response.set_cookie(
        TTCLID_COOKIE,
        ttclid,
        max_age=TTCLID_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure,
    )
