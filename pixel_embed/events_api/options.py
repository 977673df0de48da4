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
from typing import Any

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


def add_actions(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[Any]:
    """Add the ``events`` actions (``status``, ``retry``, ``purge``, ``deliver``, ``quality``)
    and their options to an argparse command line (Django's and Starlette's; Flask's are
    click's); the chosen one is ``args.action``. The caller may add its own actions to what
    this returns."""
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    status = actions.add_parser("status", help="counts by state, dead letters and why")
    status.add_argument("--json", action="store_true", help="print the counters as JSON")
    status.add_argument(
        "--dead", type=dead_shown, metavar="N", default=10, help="dead letters shown (10)"
    )
    retry = actions.add_parser("retry", help="put dead letters back in the outbox")
    retry.add_argument(
        "--id", dest="ids", type=dead_letter_id, metavar="N", action="append", help="a dead letter"
    )
    purge = actions.add_parser("purge", help="delete dead letters for good")
    purge.add_argument(
        "--older-than", type=age_hours, metavar="HOURS", help="only those older than these hours"
    )
    purge.add_argument("--yes", action="store_true", help="do not ask")
    deliver = actions.add_parser("deliver", help="deliver until SIGTERM or SIGINT")
    deliver.add_argument("--burst", action="store_true", help="stop once nothing is due")
    quality = actions.add_parser("quality", help="the share of events with each matching key")
    quality.add_argument(
        "--hours", type=period_hours, metavar="HOURS", default=24.0, help="the period (24 hours)"
    )
    quality.add_argument("--json", action="store_true", help="print the report as JSON")
    return actions
