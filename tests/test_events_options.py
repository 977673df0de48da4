"""The values the ``events`` commands take, checked once for Flask's, Django's and Starlette's:
any text gives a value in range or one usage error, never another exception."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pixel_embed.events_api.options import (
    MAX_HOURS,
    MAX_ID,
    MAX_SHOWN,
    age_hours,
    dead_letter_id,
    dead_shown,
    period_hours,
)

NUMBERS = st.one_of(
    st.text(),
    st.integers().map(str),
    st.floats().map(str),
    st.from_regex(r"\A[ +-]?[0-9_]{0,30}(\.[0-9]*)?([eE][+-]?[0-9]{1,4})?\s*\Z"),
)


def outcome(check: Callable[[str], float], text: str) -> tuple[float | None, str]:
    """The value ``check`` gives ``text``, or ``None`` and the usage error's text."""
    try:
        return check(text), ""
    except argparse.ArgumentTypeError as exc:
        return None, str(exc)


@given(NUMBERS)
@example("99999999999999999999999999")
@example("9" * 5000)  # beyond int()'s digit limit
@example("nan")
@example("-0")
def test_a_count_is_whole_and_in_range_or_refused(text: str) -> None:
    for check, least, most in ((dead_letter_id, 1, MAX_ID), (dead_shown, 0, MAX_SHOWN)):
        number, refused = outcome(check, text)
        if number is None:
            assert "is not" in refused
            assert len(refused) < 200
        else:
            assert least <= number <= most


@given(NUMBERS)
@example("1e308")
@example("1e400")
@example("-inf")
@example("-5")
def test_hours_are_finite_and_in_range_or_refused(text: str) -> None:
    for check, least_open in ((age_hours, False), (period_hours, True)):
        hours, refused = outcome(check, text)
        if hours is None:
            assert "is not a number of hours" in refused
        else:
            assert math.isfinite(hours)
            assert hours <= MAX_HOURS
            assert hours > 0 if least_open else hours >= 0


@pytest.mark.parametrize(
    ("check", "text", "value"),
    [
        (dead_letter_id, str(MAX_ID), MAX_ID),
        (dead_shown, "0", 0),
        (age_hours, "0", 0.0),
        (age_hours, "1.5", 1.5),
        (period_hours, str(MAX_HOURS), float(MAX_HOURS)),
    ],
)
def test_the_edges_are_accepted(check: Callable[[str], float], text: str, value: float) -> None:
    assert check(text) == value
