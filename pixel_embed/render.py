"""Turn a page's identity and events into the pixel's HTML (framework-free).

The HTML is one inline ``<script>``: TikTok's official ``ttq`` stub, ``ttq.load``, then the
page's calls. Every value is written with Jinja's ``|tojson`` (HTML-safe JSON: ``<``, ``>``,
``&`` and ``'`` are escaped, non-ASCII such as U+2028 too), so no string can end the script.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import orjson
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from .errors import ConfigurationError
from .events import Event
from .matching import Identity
from .resources import TEMPLATES_DIR

ConsentMode = Literal["none", "hold", "strict"]
ConsentState = Literal["granted", "denied"]
CONSENT_MODES: tuple[ConsentMode, ...] = ("none", "hold", "strict")
LoadStrategy = Literal["async", "idle"]
#: How the page asks for TikTok's SDK: ``async`` as TikTok's snippet does (at once), ``idle``
#: once the page has loaded and the main thread is idle (see docs/load-strategy.md).
LOAD_STRATEGIES: tuple[LoadStrategy, ...] = ("async", "idle")

#: The first-party cookie that remembers a visitor's consent choice.
CONSENT_COOKIE = "pixel_embed_consent"
# Pixel codes in TikTok Events Manager are 20 upper-case letters and digits ("C4A…"); a little
# slack either way, but nothing that needs escaping.
_PIXEL_CODE = re.compile(r"[A-Z0-9]{16,24}")
_COOKIE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")

_env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(default=True),
    keep_trailing_newline=False,
)
# Compact JSON in the order the view gave the parameters; ensure_ascii also escapes U+2028/9.
_JSON: dict[str, Any] = {"separators": (",", ":"), "ensure_ascii": True}
_env.policies["json.dumps_kwargs"] = _JSON
_encode = json.JSONEncoder(**_JSON).encode


def to_js(value: Any) -> str:
    """``value`` as JSON that is safe inside an HTML ``<script>``: the output of Jinja's
    ``|tojson`` (``<``, ``>``, ``&`` and ``'`` escaped, non-ASCII written as ``\\u`` escapes).
    """
    return _html_safe(_ascii_json(value))


def _ascii_json(value: Any) -> str:
    """``value`` as compact JSON, ASCII only (see :func:`to_js`, which makes it HTML-safe).

    This runs for every call on every page, so orjson writes it; the json module takes over
    for what orjson writes differently (non-ASCII text, which it leaves as UTF-8) or refuses
    (integers beyond 64 bits, keys that are not strings).
    """
    try:
        data = orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is one
        return _encode(value)
    return data.decode("ascii") if data.isascii() else _encode(value)


def _html_safe(text: str) -> str:
    """JSON ``text`` with the characters that could end a ``<script>`` (or its attribute)
    written as ``\\u`` escapes: they can only be inside its strings."""
    if "<" not in text and ">" not in text and "&" not in text and "'" not in text:
        return text  # the usual case: four searches cost a quarter of four replacements
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("'", "\\u0027")
    )


_template = _env.get_template("pixel_embed/pixel.html")


class PixelCall(NamedTuple):
    """One call the page makes on ``ttq`` (or on each ``ttq.instance(code)``).

    A named tuple rather than a dataclass: a page makes several, and tuples are built fastest.
    """

    method: str
    args: tuple[Any, ...] = ()

    @property
    def js_args(self) -> str:
        """The arguments as HTML-safe JSON, comma-separated, for the call in the script."""
        return to_js(self.args)[1:-1] if self.args else ""

    @property
    def as_list(self) -> list[Any]:
        """``[method, [args…]]``, the form the debug console output uses."""
        return [self.method, list(self.args)]


@dataclass(frozen=True)
class PixelSettings:
    """How the pixel is rendered: the Segment destination's settings, and ours.

    :param codes: one or more pixel codes; with several, every call goes to each through
        ``ttq.instance(code)``.
    :param ldu: TikTok's Limited Data Use: ``ttq.load(code, {limited_data_use: true})``.
    :param use_existing: the page already has TikTok's snippet (a tag manager put it there):
        render no stub, no ``ttq.load`` and no ``ttq.page()`` (that snippet loads the SDK and
        counts the page view), and send the calls through ``ttq.instance(code)``, so they reach
        this pixel only, not every pixel the tag manager loaded. As Segment's destination does.
    :param auto_page: call ``ttq.page()`` on every page (not with ``use_existing``).
    :param consent: ``none``; ``hold`` (the SDK loads, ``ttq.holdConsent()`` until granted);
        ``strict`` (the SDK is not even requested before consent).
    :param debug: also print each call to the browser console.
    :param consent_cookie: the name of the first-party consent cookie.
    :param load: when the SDK is requested: ``async`` (TikTok's snippet as it is) or ``idle``
        (after the page's ``load`` event, when the main thread is idle; calls queue meanwhile).
    :raises ConfigurationError: a setting is invalid.
    """

    codes: tuple[str, ...]
    ldu: bool = False
    use_existing: bool = False
    auto_page: bool = True
    consent: ConsentMode = "none"
    debug: bool = False
    consent_cookie: str = CONSENT_COOKIE
    load: LoadStrategy = "async"
    _load_options: dict[str, Any] = field(init=False, repr=False, compare=False)
    # What each call is made on: ``ttq`` itself, or ``q``, each pixel's instance in turn.
    _target: str = field(init=False, repr=False, compare=False)
    # The rendered script around the calls, per consent choice and nonce or not: see _frame.
    _frames: dict[tuple[ConsentState | None, bool], tuple[str, str]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        codes = (self.codes,) if isinstance(self.codes, str) else tuple(self.codes)
        if not codes:
            raise ConfigurationError(
                "TIKTOK_PIXEL_CODE is not set: copy the pixel code from TikTok Events Manager"
            )
        for code in codes:
            if not isinstance(code, str) or not _PIXEL_CODE.fullmatch(code):
                raise ConfigurationError(
                    f"TIKTOK_PIXEL_CODE {code!r} is not a pixel code: it is 20 upper-case "
                    "letters and digits, as shown in TikTok Events Manager"
                )
        if len(set(codes)) != len(codes):
            raise ConfigurationError(f"TIKTOK_PIXEL_CODE lists a code twice: {list(codes)!r}")
        if self.consent not in CONSENT_MODES:
            raise ConfigurationError(
                f"TIKTOK_PIXEL_CONSENT {self.consent!r} is not one of 'none', 'hold', 'strict'"
            )
        if not isinstance(self.consent_cookie, str) or not _COOKIE_NAME.fullmatch(
            self.consent_cookie
        ):
            raise ConfigurationError(
                f"TIKTOK_PIXEL_CONSENT_COOKIE {self.consent_cookie!r} is not a cookie name "
                "(letters, digits, _ and -)"
            )
        if self.load not in LOAD_STRATEGIES:
            raise ConfigurationError(
                f"TIKTOK_PIXEL_LOAD {self.load!r} is not one of 'async', 'idle'"
            )
        if self.load != "async" and self.use_existing:
            raise ConfigurationError(
                f"TIKTOK_PIXEL_LOAD {self.load!r} needs the pixel's own snippet: with "
                "TIKTOK_PIXEL_USE_EXISTING the page's snippet loads the SDK (use 'async')"
            )
        object.__setattr__(self, "codes", codes)
        object.__setattr__(self, "_load_options", {"limited_data_use": True} if self.ldu else {})
        object.__setattr__(self, "_frames", {})
        object.__setattr__(
            self, "_target", "\n  q." if len(codes) > 1 or self.use_existing else "\n  ttq."
        )


_PAGE_CALL = PixelCall("page")
# PixelCall((method, args)) without the Python-level __new__ of a named tuple: the same tuple.
_new_call = functools.partial(tuple.__new__, PixelCall)


def page_calls(
    settings: PixelSettings, identity: Identity | None = None, events: Iterable[Event] = ()
) -> list[PixelCall]:
    """The calls a page makes after ``ttq.load``: page, identify, then each track in order.

    A track call's parameters are its event's own (not a copy: they are only read, to write
    the page); hand out :func:`copy.deepcopy` of the calls where they could be changed.
    """
    calls: list[PixelCall] = []
    if settings.auto_page and not settings.use_existing:
        calls.append(_PAGE_CALL)
    if identity:
        calls.append(_new_call(("identify", (identity.as_params(),))))
    calls += [
        _new_call(
            (
                "track",
                (
                    event.name,
                    event.params if type(event.params) is dict else dict(event.params),
                    {"event_id": event.event_id},
                ),
            )
        )
        for event in events
    ]
    return calls


def render_pixel(
    settings: PixelSettings,
    *,
    identity: Identity | None = None,
    events: Sequence[Event] = (),
    nonce: str | None = None,
    consent_state: ConsentState | None = None,
) -> Markup:
    """The pixel's HTML for one page.

    :param nonce: the page's CSP nonce, put on the ``<script>`` so strict CSP allows it.
    :param consent_state: the visitor's recorded choice (from the consent cookie), if any.
    """
    calls = page_calls(settings, identity, events)
    return render_calls(settings, calls, nonce=nonce, consent_state=consent_state)


def render_calls(
    settings: PixelSettings,
    calls: Sequence[PixelCall],
    *,
    nonce: str | None = None,
    consent_state: ConsentState | None = None,
) -> Markup:
    """The pixel's HTML for a page making ``calls`` (from :func:`page_calls`); see
    :func:`render_pixel`."""
    target = settings._target
    # The calls' JSON made HTML-safe in one pass rather than call by call: the text around
    # it (the target, the library's method names, brackets) has nothing to escape.
    statements = _html_safe(
        "".join(
            [
                f"{target}{method}({_ascii_json(args)[1:-1] if args else ''});"
                for method, args in calls
            ]
        )
    )
    if settings.debug:  # the console lines list the calls: nothing to reuse
        return Markup(
            _render_template(settings, consent_state, nonce, Markup(statements), list(calls))
        )
    head, tail = _frame(settings, consent_state, bool(nonce))
    if nonce:
        head = head.replace(_NONCE_SLOT, str(escape(nonce)), 1)
    return Markup(f"{head}{statements}{tail}")


def _render_template(
    settings: PixelSettings,
    consent_state: ConsentState | None,
    nonce: str | None,
    statements: Markup,
    calls: list[PixelCall],
) -> str:
    return _template.render(
        use_existing=settings.use_existing,
        codes=settings.codes,
        load_options=settings._load_options,
        consent=settings.consent,
        consent_state=consent_state,
        consent_cookie=settings.consent_cookie,
        load=settings.load,
        statements=statements,
        calls=calls,
        debug=settings.debug,
        nonce=nonce,
    )


# Every page of a site shares all of the script but its calls and its nonce: the template is
# rendered once per settings and consent choice (with these slots, which escaping leaves as
# they are, for the page's calls and nonce) instead of on every page.
_CALLS_SLOT = "\x00pixel-embed-calls\x00"
_NONCE_SLOT = "\x00pixel-embed-nonce\x00"


def _frame(
    settings: PixelSettings, consent_state: ConsentState | None, has_nonce: bool
) -> tuple[str, str]:
    """The script before and after the page's calls (the nonce, if any, still a slot), kept
    on the settings: at most six forms, each rendered once."""
    key = (consent_state, has_nonce)
    frame = settings._frames.get(key)
    if frame is None:
        html = _render_template(
            settings, consent_state, _NONCE_SLOT if has_nonce else None, Markup(_CALLS_SLOT), []
        )
        head, tail = html.split(_CALLS_SLOT)
        frame = settings._frames[key] = (head, tail)
    return frame


def render_disabled(reason: str) -> Markup:
    """An HTML comment in place of the pixel, saying why it is off."""
    text = str(escape(reason)).replace("--", "- -")
    return Markup(f"<!-- TikTok Pixel off: {text} -->")
