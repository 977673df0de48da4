"""The TikTok Pixel on server-rendered Python sites, with PII hashed on the server.

``TikTokPixel``, the Flask extension, is imported when it is first asked for: ``import
pixel_embed`` imports no web framework (a Celery worker, a Django site need none of Flask).
"""

import sys
from importlib.metadata import PackageNotFoundError, version
from types import FrameType
from typing import TYPE_CHECKING, Any

from .csp import CspBlocksPixel as CspBlocksPixel
from .csp import merge_csp as merge_csp
from .errors import ConfigurationError as ConfigurationError
from .errors import IdentityInEvent as IdentityInEvent
from .errors import InvalidEmail as InvalidEmail
from .errors import InvalidEvent as InvalidEvent
from .errors import InvalidIdentity as InvalidIdentity
from .errors import InvalidInput as InvalidInput
from .errors import InvalidPhoneNumber as InvalidPhoneNumber
from .errors import PersonalDataInText as PersonalDataInText
from .errors import PersonalDataInUrl as PersonalDataInUrl
from .errors import PixelError as PixelError
from .errors import StreamingError as StreamingError
from .events import PURCHASE_EVENTS as PURCHASE_EVENTS
from .events import STANDARD_EVENTS as STANDARD_EVENTS
from .events import Event as Event
from .events import order_event_id as order_event_id
from .events import validate_event as validate_event
from .matching import Identity as Identity
from .matching import hash_email as hash_email
from .matching import hash_external_id as hash_external_id
from .matching import hash_phone as hash_phone
from .matching import normalize_email as normalize_email
from .matching import normalize_phone as normalize_phone
from .render import PixelCall as PixelCall
from .render import PixelSettings as PixelSettings
from .render import render_pixel as render_pixel
from .screening import find_personal_data as find_personal_data
from .screening import mask_personal_data as mask_personal_data
from .screening import scrub_url as scrub_url

if TYPE_CHECKING:
    from .events_api.send import send_event as send_event
    from .integrations.flask import TikTokPixel as TikTokPixel

try:
    __version__ = version("pixel-embed")
except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0+unknown"

# ``__all__`` is computed when it is first asked for (see __getattr__): TikTokPixel is in it
# where Flask is installed, so that ``from pixel_embed import *`` works without Flask.
_EXPORTS = [
    "PURCHASE_EVENTS",
    "STANDARD_EVENTS",
    "ConfigurationError",
    "CspBlocksPixel",
    "Event",
    "Identity",
    "InvalidEmail",
    "InvalidEvent",
    "InvalidIdentity",
    "InvalidInput",
    "InvalidPhoneNumber",
    "PersonalDataInText",
    "IdentityInEvent",
    "PersonalDataInUrl",
    "PixelCall",
    "PixelError",
    "PixelSettings",
    "StreamingError",
    "TikTokPixel",
    "__version__",
    "find_personal_data",
    "hash_email",
    "hash_external_id",
    "hash_phone",
    "mask_personal_data",
    "merge_csp",
    "normalize_email",
    "normalize_phone",
    "order_event_id",
    "render_pixel",
    "scrub_url",
    "send_event",
]
_NEEDS_FLASK = (
    "pixel_embed.TikTokPixel is the Flask extension, and Flask is not installed: "
    "pip install 'pixel-embed[flask]'"
)


def _importing(frame: FrameType | None) -> bool:
    """Whether ``frame`` is the import system's ``from pixel_embed import NAME``, which asks
    ``hasattr(pixel_embed, NAME)`` first (an AttributeError there becomes Python's bare "cannot
    import name", and the advice to install Flask is lost)."""
    return (
        frame is not None
        and frame.f_code.co_name == "_handle_fromlist"
        and frame.f_globals.get("__name__") in ("importlib._bootstrap", "_frozen_importlib")
    )


def __getattr__(name: str) -> Any:
    if name == "TikTokPixel":
        try:
            from .integrations.flask import TikTokPixel
        except ModuleNotFoundError as missing:
            if missing.name is None or missing.name.partition(".")[0] not in ("flask", "werkzeug"):
                raise
            if _importing(sys._getframe(1)):
                raise ModuleNotFoundError(_NEEDS_FLASK, name=missing.name) from missing
            # hasattr() and getattr(..., None) say "absent", as for any name the module lacks.
            raise AttributeError(_NEEDS_FLASK, name=name, obj=sys.modules[__name__]) from missing
        return TikTokPixel
    if name == "send_event":  # the Events API's modules load when it is first asked for
        from .events_api.send import send_event

        return send_event
    if name == "__all__":
        try:
            __getattr__("TikTokPixel")
        except AttributeError:
            exports = [export for export in _EXPORTS if export != "TikTokPixel"]
        else:
            exports = list(_EXPORTS)
        globals()["__all__"] = exports
        return exports
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
