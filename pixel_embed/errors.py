"""The exceptions pixel_embed raises.

Every error that comes from bad input names the field and says what is wrong with its value,
so a traceback is never needed to find the mistake.
"""

from __future__ import annotations


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
        super().__init__(f"{field} {value!r} {problem}")

    def redacted(self) -> str:
        """The message without the value when it is personal data, for logs."""
        if self.sensitive:
            return f"{self.field} (value withheld) {self.problem}"
        return str(self)


class InvalidEvent(InvalidInput):
    """An event name or one of its parameters is invalid."""


class InvalidIdentity(InvalidInput):
    """An advanced-matching field given to ``identify`` is invalid."""

    def __init__(self, field: str, value: object, problem: str) -> None:
        super().__init__(field, value, problem, sensitive=True)


class InvalidEmail(InvalidIdentity):
    """An e-mail address is not of the form ``local@domain.tld``."""


class InvalidPhoneNumber(InvalidIdentity):
    """A phone number cannot be parsed, or is not a valid number for its region."""
