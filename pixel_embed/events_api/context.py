"""The visitor's matching context: what a server event sent later (a payment provider's webhook,
a background job, a CRM sync) needs from the visit that led to it, captured in the request and
stored by the site with its order or lead.

``pixel.matching_context()`` returns it as a small JSON-safe dict (:func:`capture`);
``send_event(..., context=stored)`` reads it back (:func:`read`), checking every field, since
it comes back from the site's database, a queue or a form field: a value that was tampered
with, cut or made by another version of this library is refused field by field with an error
naming it, and the rest of the event is sent.

What it holds (:data:`MAX_CONTEXT_BYTES` as JSON at most)::

    {"v": 1, "at": 1767225600,                     # this layout; when it was captured
     "email": "<sha256>", "phone": "<sha256>", "external_id": "<sha256>",  # hashes only
     "ttclid": "E.C.P.…", "ttp": "01J…_.tt.1",      # the click id and TikTok's browser id
     "url": "https://shop.example/checkout",        # scrubbed, as every page URL sent
     "ip": "203.0.113.9", "user_agent": "Mozilla/5.0 …",
     "consent": "granted", "ldu": false}            # as they were at the visit

The IP address and the user agent are personal data: TikTok asks for them because they match
events to its users, so they are kept, but keep the context no longer than you may send the
event (28 days for CRM and offline events, 48 hours for web ones by default) and delete it
with the order's other personal data.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import orjson

from ..errors import InvalidEvent
from ..matching import NO_IDENTITY, Identity, is_sha256
from ..render import ConsentState
from .clickid import ttp_cookie, valid_ttclid
from .payload import RequestContext

if TYPE_CHECKING:
    from ..core.state import RequestState

#: The layout :func:`capture` writes (``"v"``); :func:`read` refuses others.
CONTEXT_VERSION = 1
#: Bytes of a context as JSON at most: three hashes (64 each), a click id (500), ``_ttp``
#: (128), a URL (2,048), an IP address (45), a user agent (512) and the rest fit in it.
MAX_CONTEXT_BYTES = 4096
#: Characters kept of each field at most (longer values are left out when captured, and
#: refused when read).
MAX_URL = 2048
MAX_USER_AGENT = 512
#: Seconds a captured click id and ``_ttp`` stay usable: the life of the click-id cookie
#: (30 days; TikTok's longest click-through attribution window is 28 days).
MAX_CLICK_AGE = 30 * 24 * 3600
#: Seconds a context may claim to be from the future (clocks of two machines disagree).
CLOCK_SKEW = 300

_HASHES = {"email": "email", "phone": "phone_number", "external_id": "external_id"}


def _text(value: str | None, limit: int) -> str | None:
    if not isinstance(value, str) or not value or len(value) > limit or not value.isprintable():
        return None
    return value


def _ip(value: str | None) -> str | None:
    if not isinstance(value, str) or len(value) > 45:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _page_url(value: object) -> str | None:
    # As capture() wrote it: an http(s) URL that scrubbing leaves as it is.
    from ..screening import scrub_url

    text = _text(value if isinstance(value, str) else None, MAX_URL)
    if text is None or not text.lower().startswith(("http://", "https://")):
        return None
    return text if scrub_url(text) == text else None


def _user_agent(value: object) -> str | None:
    from ..screening import holds_personal_data

    text = _text(value if isinstance(value, str) else None, MAX_USER_AGENT)
    if text is None or "<" in text or ">" in text:  # markup is no browser's user agent
        return None
    return None if holds_personal_data(text) else text


def capture(
    request: RequestContext,
    identity: Identity,
    *,
    consent: ConsentState | None,
    ldu: bool,
    now: float | None = None,
) -> dict[str, Any]:
    """The context of one request, as :mod:`this module <.context>` describes it: only values
    that :func:`read` accepts (a value too long or of the wrong shape is left out).

    :param request: what the Events API is told of the request (``hooks.request_context``;
        its URL is scrubbed here as every page URL sent is).
    :param identity: the visitor's hashed identity (only e-mail, phone and external id kept).
    """
    from ..screening import scrub_url

    context: dict[str, Any] = {"v": CONTEXT_VERSION, "at": int(time.time() if now is None else now)}
    for key, field in _HASHES.items():
        value = getattr(identity, field)
        if value and is_sha256(value):
            context[key] = value
    values = {
        "ttclid": valid_ttclid(request.ttclid),
        "ttp": ttp_cookie(request.ttp),
        "url": _page_url(scrub_url(request.url)),
        "ip": _ip(request.ip),
        "user_agent": _user_agent(request.user_agent),
    }
    context.update({key: value for key, value in values.items() if value is not None})
    context["consent"] = consent
    context["ldu"] = bool(ldu)
    return context


def of_request(state: RequestState, consent: ConsentState | None) -> dict[str, Any]:
    """The context of the request whose state is ``state`` (``pixel.matching_context()``): its
    hashed identity so far, what :func:`~.hooks.request_context` reads of the request, the
    visitor's consent choice and the pixel's Limited Data Use."""
    from .hooks import request_context

    pixel = state.config.pixel
    return capture(
        request_context(state.request),
        state.identity,
        consent=consent,
        ldu=pixel is not None and pixel.ldu,
    )


@dataclass(frozen=True)
class StoredContext:
    """A context read back by :func:`read`.

    :param request: the browser's side (IP, user agent, URL, ``ttclid``, ``_ttp``).
    :param identity: the hashed e-mail, phone and external id.
    :param consent: the visitor's consent choice at the time (``None``: none recorded).
    :param ldu: Limited Data Use as it was.
    :param at: when it was captured (Unix seconds).
    """

    request: RequestContext
    identity: Identity
    consent: ConsentState | None
    ldu: bool
    at: float


def _refuse(field: str, value: object, problem: str) -> InvalidEvent:
    shown = value if isinstance(value, int | float | bool | None) else "(withheld)"
    return InvalidEvent(f"context.{field}" if field else "context", shown, problem)


def read(
    value: object,
    *,
    on_error: Callable[[InvalidEvent], None],
    now: float | None = None,
) -> StoredContext:
    """A stored context, checked field by field: a field that is not what :func:`capture`
    writes is reported to ``on_error`` (strict: it raises; lenient: it logs) and left out;
    the others are kept.

    :param value: the dict :func:`capture` returned, or its JSON (``str`` or ``bytes``).
    :raises InvalidEvent: through ``on_error``; the whole context is refused (nothing of it
        kept) when it is not one: not a JSON object, over :data:`MAX_CONTEXT_BYTES`, or of
        another layout (``"v"``).
    """
    now = time.time() if now is None else now
    empty = StoredContext(RequestContext(), NO_IDENTITY, None, False, now)
    if isinstance(value, str | bytes | bytearray):
        if len(value) > MAX_CONTEXT_BYTES:
            on_error(_refuse("", len(value), f"is longer than {MAX_CONTEXT_BYTES} bytes"))
            return empty
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            on_error(_refuse("", None, "is not JSON: store what pixel.matching_context() gave"))
            return empty
    if not isinstance(value, Mapping):
        on_error(
            InvalidEvent(
                "context",
                type(value).__name__,
                "is not a matching context (the dict pixel.matching_context() returns)",
            )
        )
        return empty
    try:
        size = len(orjson.dumps(dict(value)))
    except (TypeError, orjson.JSONEncodeError):
        size = MAX_CONTEXT_BYTES + 1
    if size > MAX_CONTEXT_BYTES:
        on_error(_refuse("", size, f"is over {MAX_CONTEXT_BYTES} bytes as JSON, or not JSON"))
        return empty
    version = value.get("v")
    if version != CONTEXT_VERSION or isinstance(version, bool):
        newer = isinstance(version, int) and not isinstance(version, bool) and version > 1
        on_error(
            _refuse(
                "v",
                version if isinstance(version, int | None) else "(withheld)",
                "is from a newer pixel_embed: upgrade this process"
                if newer
                else f"is not a matching context layout this release reads ({CONTEXT_VERSION})",
            )
        )
        return empty

    def field(name: str, check: Callable[[Any], Any], problem: str) -> Any:
        raw = value.get(name)
        if raw is None:
            return None
        checked = check(raw)
        if checked is None:
            on_error(_refuse(name, raw, problem))
        return checked

    at = value.get("at")
    if isinstance(at, bool) or not isinstance(at, int | float) or not 0 < at <= now + CLOCK_SKEW:
        on_error(_refuse("at", at, "is not a time the context could have been captured"))
        at = None
    hashes = {
        _HASHES[key]: field(
            key, lambda v: v if isinstance(v, str) and is_sha256(v) else None, "is not a SHA-256"
        )
        for key in _HASHES
    }
    ttclid = field("ttclid", valid_ttclid, "is not a TikTok click id")
    ttp = field("ttp", ttp_cookie, "is not the value TikTok's SDK keeps in _ttp")
    if at is not None and now - at > MAX_CLICK_AGE and (ttclid or ttp):
        # An old click attributes to no ad: the rest (IP, user agent, hashes) still matches.
        ttclid = ttp = None
    url = field(
        "url",
        _page_url,
        f"is not an http(s) URL of at most {MAX_URL} characters without personal data",
    )
    ip = field("ip", _ip, "is not an IP address")
    user_agent = field(
        "user_agent",
        _user_agent,
        f"is not a user agent of at most {MAX_USER_AGENT} printable characters, without "
        "personal data",
    )
    consent = field(
        "consent",
        lambda v: v if v in ("granted", "denied") else None,
        "is not granted or denied; consent is taken as denied",
    )
    if consent is None and value.get("consent") is not None:
        consent = "denied"  # a choice we cannot read is not a yes
    ldu = value.get("ldu", False)
    if not isinstance(ldu, bool):
        on_error(_refuse("ldu", ldu, "is not true or false; Limited Data Use is assumed"))
        ldu = True
    return StoredContext(
        request=RequestContext(ip=ip, user_agent=user_agent, url=url, ttp=ttp, ttclid=ttclid),
        identity=Identity(**{name: h for name, h in hashes.items() if h}),
        consent=cast(ConsentState | None, consent),
        ldu=ldu,
        at=float(at) if at is not None else now,
    )
