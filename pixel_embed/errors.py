"""The exceptions pixel_embed raises.

Every error that comes from bad input names the field and says what is wrong with its value,
so a traceback is never needed to find the mistake.
"""

from __future__ import annotations

import reprlib

from .screening import holds_personal_data, mask_personal_data

#: The longest a value is quoted in an error message: a 500 kB value is not repeated whole.
MAX_QUOTED = 80


def _bounded_repr(limit: int) -> reprlib.Repr:
    # reprlib looks at a few items of a container and a few levels only: the repr of a
    # 500 kB list costs what the repr of a short one does.
    bounded = reprlib.Repr()
    bounded.maxstring = bounded.maxother = bounded.maxlong = limit
    bounded.maxlist = bounded.maxtuple = bounded.maxdict = bounded.maxset = 6
    bounded.maxlevel = 3
    return bounded


_REPRS = {MAX_QUOTED: _bounded_repr(MAX_QUOTED), 200: _bounded_repr(200)}


def safe_repr(value: object, limit: int = MAX_QUOTED) -> str:
    """``repr(value)`` for a message or a log line: never raises (an object whose ``__repr__``
    fails is described by its type), at most ``limit`` characters (then ``…``), and with
    control characters escaped, so request-derived text cannot forge a log line or move a
    terminal's cursor; an e-mail address or phone number in it is masked (``[email]``)."""
    bounded = _REPRS.get(limit) or _bounded_repr(limit)
    try:
        # A string is masked before repr() escapes it ("\n0501 234 56 78" would read as a
        # word, then digits); a little more than is shown, so no address is cut in two.
        text = (
            bounded.repr(value)
            if type(value) is not str
            else repr(mask_personal_data(value[: limit * 4])[:limit])
        )
    except Exception:  # a hostile or broken __repr__, a too-long int, a too-deep list
        return f"<{type(value).__name__} object (repr failed)>"
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    if not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    try:
        return mask_personal_data(text)
    except Exception:  # a flaw in the screen must not turn an error message into a crash
        return f"<{type(value).__name__} object (not shown)>"


def _shown(field: str) -> str:
    """A field's name (its path, with keys from the input) as a message may show it."""
    if (
        type(field) is str
        and field.isascii()
        and field.isprintable()
        and len(field) <= 200
        and not holds_personal_data(field)
    ):
        return field
    return safe_repr(str(field), 200)[1:-1]


class PixelError(Exception):
    """Base class of every error raised by pixel_embed."""


class ConfigurationError(PixelError):
    """A ``TIKTOK_PIXEL_*`` setting (or a constructor argument) is wrong.

    Raised at ``init_app`` time, so a misconfigured site fails at start-up, not on a page view.
    """


class InvalidInput(PixelError, ValueError):
    """A value handed to ``track`` or ``identify`` cannot be sent to TikTok.

    :param field: the parameter's name, with its path for nested values (``contents[1].price``).
    :param value: the offending value.
    :param problem: what is wrong with it, phrased to follow the value
        (``"is not a valid number for region US"``).
    :param sensitive: the value is personal data: :meth:`redacted` leaves it out.
    """

    def __init__(self, field: str, value: object, problem: str, *, sensitive: bool = False) -> None:
        self.field = field
        self.value = value
        self.problem = problem
        self.sensitive = sensitive
        # The message is written when it is read: a hostile event can make hundreds of errors,
        # and most are never shown (see event_params.MAX_REPORTED).
        super().__init__(field, problem)

    def __str__(self) -> str:
        return f"{_shown(self.field)} {safe_repr(self.value)} {self.problem}"

    def __repr__(self) -> str:  # the message, not the raw args: it may end up in a log
        return f"{type(self).__name__}({str(self)!r})"

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.__dict__))

    def redacted(self) -> str:
        """The message without the value when it is personal data, for logs."""
        if self.sensitive:
            return f"{_shown(self.field)} (value withheld) {self.problem}"
        return str(self)


def _rebuild(kind: type[InvalidInput], state: dict[str, object]) -> InvalidInput:
    """Unpickle an :class:`InvalidInput` (its subclasses' constructors differ)."""
    error = kind.__new__(kind)
    error.__dict__.update(state)
    error.args = (state["field"], state["problem"])
    return error


class InvalidEvent(InvalidInput):
    """An event name or one of its parameters is invalid."""


class PersonalDataInText(InvalidEvent):
    """A free-text parameter holds something that looks like an e-mail address or a phone
    number (see :mod:`pixel_embed.screening`).

    The message never repeats the value (``.value`` holds it): in lenient mode the text is
    sent as ``.masked``, each match replaced by a marker; in strict mode this is raised.

    :param masked: the text with each e-mail address and phone number replaced by a marker.
    """

    def __init__(self, field: str, value: object, problem: str, masked: str = "") -> None:
        super().__init__(field, value, problem, sensitive=True)
        self.masked = masked

    def __str__(self) -> str:
        return self.redacted()


class IdentityInEvent(InvalidEvent):
    """An advanced-matching field (``external_id``, ``email``, ``phone_number``… any field of
    ``identify``) was given as an event parameter: it would be rendered in the page unhashed.
    Pass it to ``identify`` instead. The message never repeats the value (``.value`` holds it).
    """

    def __init__(self, field: str, value: object, problem: str) -> None:
        super().__init__(field, value, problem, sensitive=True)

    def __str__(self) -> str:
        return self.redacted()


class PersonalDataInUrl(InvalidInput):
    """The page's URL holds something that looks like an e-mail address or a phone number
    (``/search?q=jane%40example.com``): TikTok's SDK sends the page's URL with every event
    (``context.page.url``), and the next page's ``referrer`` carries it too.

    Reported, never raised: a visitor chooses the URL, and a raise would let anyone turn a
    page into an HTTP 500. Lenient mode logs it as a warning and renders the pixel; strict mode
    logs it as an error and leaves the pixel out of the page. :attr:`field` is the query
    parameter's name, or ``"path"``; the URL is never repeated.
    """

    def __init__(self, field: str, value: object, problem: str) -> None:
        super().__init__(field, value, problem, sensitive=True)

    def __str__(self) -> str:
        return self.redacted()


class StreamingError(PixelError, RuntimeError):
    """``tiktok_pixel()`` was called while a streamed response was being sent.

    The response's headers and session cookie are gone by then: the page could neither be
    marked ``Cache-Control: private`` nor its deferred events be taken out of the session.
    """


class InvalidIdentity(InvalidInput):
    """An advanced-matching field given to ``identify`` is invalid.

    The message never repeats a text value (``.value`` holds it): a mistyped address
    (``jane.doe@gmail``) is still personal data, and strict mode's exception ends up in logs
    and error trackers. A value of the wrong type is described by its type.
    """

    def __init__(self, field: str, value: object, problem: str) -> None:
        super().__init__(field, value, problem, sensitive=True)

    def __str__(self) -> str:
        if isinstance(self.value, str):
            return self.redacted()
        return super().__str__()


class InvalidEmail(InvalidIdentity):
    """An e-mail address is not of the form ``local@domain.tld``."""


class InvalidPhoneNumber(InvalidIdentity):
    """A phone number cannot be parsed, or is not a valid number for its region."""
