"""The checks a ``TIKTOK_PIXEL_*`` value passes, and the screen its error goes through.

:mod:`.config` reads each setting through :class:`Settings`; every message quotes a value with
:func:`~pixel_embed.errors.safe_repr` and leaves :meth:`.config.PixelConfig.from_mapping`
through :func:`withhold_secrets`. Celery apps and rq queues are recognised by what pixel_embed
calls on them, so that neither package is imported to check a setting.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
import warnings
from collections.abc import Callable, Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

import phonenumbers

from ..errors import ConfigurationError, safe_repr
from ..matching import is_region_code
from ..screening import mask_personal_data

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_IP_TYPES = (
    ipaddress.IPv4Address,
    ipaddress.IPv6Address,
    ipaddress.IPv4Network,
    ipaddress.IPv6Network,
)

TOKEN_PROBLEM = (
    "TIKTOK_PIXEL_ACCESS_TOKEN must be a string of printable characters without spaces, "
    "as shown in TikTok Events Manager (the value is not repeated here)"
)
#: The longest a configuration error gets: a value is quoted in part (see :func:`safe_repr`).
MAX_MESSAGE = 1000
#: The largest number of seconds a delay or an age setting takes: beyond it, a clock or a
#: socket overflows (``threading`` waits at most ``TIMEOUT_MAX``; ``float(10**400)`` fails).
MAX_SECONDS = 366 * 24 * 3600.0
#: Waits for TikTok's answer, between attempts and at shutdown: an hour at most.
MAX_WAIT = 3600.0
#: The largest whole number a count or a size takes (a float still holds it exactly).
MAX_WHOLE = 2**53
# A run of letters and digits long enough to be a credential (TikTok's access tokens are 40
# hex digits; a pixel code is 20): withheld from messages when it holds both.
_TOKEN_RUN = re.compile(r"[A-Za-z0-9]{24,}")
# Common codes that are not ISO 3166 alpha-2, and the code they mean.
_REGION_ALIASES = {"UK": "GB", "EL": "GR"}


def withhold_secrets(error: ConfigurationError, token: object) -> None:
    """Make ``error``'s message fit to be shown: every message quotes a part of a value at
    most, masked; this also withholds the access token wherever it appears, and anything
    shaped like a credential (a secret pasted into the wrong key)."""
    error.args = (screened(str(error), token), *error.args[1:])


def screened(text: str, token: object = None) -> str:
    """A configuration message fit to be shown (what :func:`withhold_secrets` makes of one):
    at most :data:`MAX_MESSAGE` characters, e-mail addresses and phone numbers masked, the
    access token ``token`` and anything shaped like a credential withheld. For a message
    raised outside :meth:`.config.PixelConfig.from_mapping` (opening the outbox)."""
    if isinstance(token, str) and len(token) >= 4:
        text = text.replace(token, "[access token]")
    text = _TOKEN_RUN.sub(
        lambda m: (
            "[withheld: looks like a secret]"
            if re.search(r"[0-9]", m[0]) and re.search(r"[A-Za-z]", m[0])
            else m[0]
        ),
        text,
    )
    if len(text) <= MAX_MESSAGE:
        return mask_personal_data(text)
    # The key comes first and the problem last: keep both (masked before they are cut, so that
    # no address is cut in two).
    half = MAX_MESSAGE // 2
    head = mask_personal_data(text[: half + 100])[:half]
    tail = mask_personal_data(text[-half - 100 :])[-half:]
    return f"{head}…{tail}"


class Settings:
    """The mapping being read, with the defaults under it; each check names its key."""

    def __init__(self, mapping: Mapping[str, Any], defaults: Mapping[str, Any]) -> None:
        if not isinstance(mapping, Mapping):
            raise ConfigurationError(
                "pixel_embed's settings must be a mapping of TIKTOK_PIXEL_* names (Flask's "
                f"app.config, a dict), not {type(mapping).__name__}"
            )
        self._mapping = mapping
        self._defaults = defaults

    def __getitem__(self, key: str) -> Any:
        try:
            return self._mapping[key]
        except KeyError:
            return self._defaults[key]

    def flag(self, key: str) -> bool:
        value = self[key]
        if not isinstance(value, bool):
            raise ConfigurationError(f"{key} must be True or False, not {safe_repr(value)}")
        return value

    def checked(self, key: str, ok: Callable[[Any], bool], problem: str) -> Any:
        value = self[key]
        if not ok(value):
            raise ConfigurationError(f"{key} {safe_repr(value)} {problem}")
        return value

    def text(self, key: str, *, optional: bool = False) -> Any:
        """A string (or ``None`` where ``optional``), checked further by its user."""
        kind = "None or a string" if optional else "a string"
        return self.checked(
            key, lambda v: isinstance(v, str) or (optional and v is None), f"must be {kind}"
        )

    def seconds(self, key: str, *, zero: bool = False, maximum: float = MAX_SECONDS) -> Any:
        """A finite number of seconds above 0 (or 0 too, with ``zero``), at most ``maximum``."""
        floor = ", 0 or more" if zero else " above 0"
        return self.checked(
            key,
            lambda v: is_number(v) and (v >= 0 if zero else v > 0) and v <= maximum,
            f"must be a number of seconds{floor}, at most {maximum:.0f}",
        )

    def above_zero(self, key: str, *, whole: bool = False) -> Any:
        """A number above 0, or ``None`` (the default for its kind)."""
        if not whole:
            value = self[key]
            return None if value is None else self.seconds(key)
        return self.checked(
            key,
            lambda v: v is None or (is_number(v, whole=True) and 0 < v <= MAX_WHOLE),
            "must be a whole number above 0 (or None), at most 2**53",
        )

    def unknown_keys(self, own: Collection[str] = ()) -> None:
        """Warn about each ``TIKTOK_PIXEL_*`` key that is no setting (a typo is otherwise
        silently ignored, and its setting keeps its default); ``own``: the keys an integration
        reads itself."""
        known = [*self._defaults, *own]
        for key in list(self._mapping):
            if isinstance(key, str) and key.startswith("TIKTOK_PIXEL_") and key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f": did you mean {close[0]}?" if close else " (see DEFAULTS)"
                warnings.warn(
                    f"{safe_repr(key, 60)[1:-1]} is not a pixel_embed setting{hint}",
                    UserWarning,
                    stacklevel=4,
                )


def is_number(value: object, *, whole: bool = False) -> bool:
    kind = int if whole else int | float
    if isinstance(value, float):
        return math.isfinite(value) and not whole
    return isinstance(value, kind) and not isinstance(value, bool)


def is_whole_or_none(value: object) -> bool:
    return value is None or (is_number(value, whole=True) and 1 <= value <= MAX_WHOLE)  # type: ignore[operator]


def is_celery_app(value: object) -> bool:
    # Duck-typed, so that celery is not imported: what CelerySender and register() call.
    try:
        return callable(getattr(value, "send_task", None)) and callable(
            getattr(value, "task", None)
        )
    except Exception:  # a hostile __getattr__
        return False


def is_rq_queue(value: object) -> bool:
    # Duck-typed, so that rq is not imported: what RqSender reads to build its JSON queue.
    try:
        return (
            isinstance(getattr(value, "name", None), str)
            and getattr(value, "connection", None) is not None
            and callable(getattr(value, "enqueue", None))
        )
    except Exception:  # a hostile __getattr__
        return False


def pixel_codes(value: object) -> tuple[str, ...]:
    """``TIKTOK_PIXEL_CODE`` as a tuple of strings (their shape is checked by PixelSettings)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(code, str) for code in value):
        return tuple(value)
    raise ConfigurationError(
        f"TIKTOK_PIXEL_CODE must be a pixel code (a string) or a list of them, not "
        f"{safe_repr(value)}"
    )


def phone_region(value: object) -> str | None:
    if value is None:
        return None
    if not is_region_code(value):
        raise ConfigurationError(
            f"TIKTOK_PIXEL_DEFAULT_REGION {safe_repr(value)} is not an ISO 3166 alpha-2 code "
            "such as 'US'"
        )
    region = str(value).upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        meant = _REGION_ALIASES.get(region)
        hint = f": did you mean {meant!r}?" if meant else ""
        raise ConfigurationError(
            f"TIKTOK_PIXEL_DEFAULT_REGION {safe_repr(region)} is not a region with phone "
            f"numbers{hint}"
        )
    return region


def is_printable(value: object) -> bool:
    return isinstance(value, str) and bool(value) and value.isascii() and value.isprintable()


def is_endpoint(value: object) -> bool:
    # The token travels in a header: never over plain HTTP beyond this machine.
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    if parts.scheme == "http":
        return parts.hostname in ("127.0.0.1", "localhost", "::1")
    return parts.scheme == "https" and bool(parts.hostname)


def networks(value: object) -> tuple[IPNetwork, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple | set | frozenset):
        raise ConfigurationError(
            "TIKTOK_PIXEL_INTERNAL_IPS must be a list of addresses or networks, not "
            f"{safe_repr(value)}"
        )
    networks = []
    for item in value:
        try:
            if not isinstance(item, (str, *_IP_TYPES)):
                raise ValueError(item)  # str() of any object would be read as an address
            networks.append(ipaddress.ip_network(str(item), strict=False))
        except ValueError:
            raise ConfigurationError(
                f"TIKTOK_PIXEL_INTERNAL_IPS entry {safe_repr(item)} is not an IP address or "
                "network such as '10.0.0.0/8'"
            ) from None
    return tuple(networks)
