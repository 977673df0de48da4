"""The values the ``events`` commands take (``--id``, ``--dead``, ``--older-than``,
``--hours``), checked once for the three of them: Flask's (click), Django's and Starlette's
(argparse).

Each check takes the text as typed and returns the value, or raises
:class:`argparse.ArgumentTypeError` with what the value must be: argparse prints it as a usage
error naming the option, and the Flask commands' :class:`click.ParamType` as click's. A value
SQLite cannot hold, one below the least that means something, or one that is not finite (``nan``,
``inf``, ``1e400``) never reaches the outbox: a negative ``--older-than`` would delete the dead
letters that failed a moment ago.
"""

from __future__ import annotations

import argparse
import math

from ..errors import safe_repr

#: The largest dead letter number: SQLite's largest integer.
MAX_ID = 2**63 - 1
#: The most dead letters ``status --dead`` lists.
MAX_SHOWN = 10_000
#: The longest period, in hours: 100 years (the outbox keeps nothing that long).
MAX_HOURS = 100 * 365 * 24


def _whole(text: str, least: int, most: int, what: str) -> int:
    try:
        number = int(text)
    except ValueError:  # also a number too long to read (int's digit limit)
        number = None
    if number is None or not least <= number <= most:
        raise argparse.ArgumentTypeError(
            f"{safe_repr(text, 40)} is not {what}: a whole number from {least} to {most}"
        )
    return number


def _hours(text: str, *, zero: bool) -> float:
    try:
        hours = float(text)
    except ValueError:
        hours = math.nan
    least = hours >= 0 if zero else hours > 0
    if not (least and hours <= MAX_HOURS):  # nan compares false: refused too
        more = "0 or more" if zero else "more than 0"
        raise argparse.ArgumentTypeError(
            f"{safe_repr(text, 40)} is not a number of hours: {more}, at most {MAX_HOURS} "
            "(100 years)"
        )
    return hours


def dead_letter_id(text: str) -> int:
    """``retry --id``: a dead letter's number."""
    return _whole(text, 1, MAX_ID, "a dead letter's number")


def dead_shown(text: str) -> int:
    """``status --dead``: how many dead letters to list."""
    return _whole(text, 0, MAX_SHOWN, "a count of dead letters to list")


def age_hours(text: str) -> float:
    """``purge --older-than``: an age in hours (0: every dead letter)."""
    return _hours(text, zero=True)


def period_hours(text: str) -> float:
    """``quality --hours``: the period the report covers, in hours."""
    return _hours(text, zero=False)
