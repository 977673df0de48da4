"""How the QA kit compares what a page did with what a test expects, and how it says so.

Values match by value and as subsets (:func:`same_value`); a failed assertion shows the closest
candidate (:func:`closest`) and what differs (:func:`diff`, :func:`identity_diff`).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from ..browser.calls import compact_json
from ..browser.wire import page_path
from ..matching import CLEAR_FIELDS, Identity, is_region_code, is_sha256, normalize_field


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _same_number(actual: Any, expected: Any) -> bool:
    # A page holds JavaScript numbers (doubles): a float on either side compares as the double
    # nearest the other (Decimal("34.76") is the 34.76 the browser has); else exactly.
    try:
        if isinstance(actual, float) or isinstance(expected, float):
            return float(actual) == float(expected)
        return Decimal(actual) == Decimal(expected)
    except (InvalidOperation, OverflowError, ValueError):
        return False


def same_value(actual: Any, expected: Any) -> bool:
    """Whether ``actual`` matches ``expected``: numbers by value (``Decimal("34.76")`` matches
    the float ``34.76``), a dict when the keys of ``expected`` match, a list item by item (as
    many items), anything else by ``==``."""
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            key in actual and same_value(actual[key], value) for key, value in expected.items()
        )
    if isinstance(expected, list | tuple):
        return (
            isinstance(actual, list | tuple)
            and len(actual) == len(expected)
            and all(same_value(a, e) for a, e in zip(actual, expected, strict=True))
        )
    if _is_number(expected) and _is_number(actual):
        return _same_number(actual, expected)
    if isinstance(actual, bool) != isinstance(expected, bool):
        return False  # True is not 1: a flag is not a number
    return bool(actual == expected)


def _plain(value: Any) -> Any:
    # Decimals as numbers, so the diff compares like with like.
    return json.loads(
        json.dumps(value, default=lambda v: float(v) if isinstance(v, Decimal) else str(v))
    )


def diff(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> str:
    """Expected versus actual, in full: each given key that differs, then a line diff of the
    two values as indented JSON."""
    lines = []
    for key, value in expected.items():
        if key not in actual:
            lines.append(f"  {key}: expected {compact_json(_plain(value), 10**6)}, missing")
        elif not same_value(actual[key], value):
            lines.append(
                f"  {key}: expected {compact_json(_plain(value), 10**6)}, "
                f"got {compact_json(_plain(actual[key]), 10**6)}"
            )
    shown = {key: actual[key] for key in expected if key in actual}
    left = json.dumps(_plain(dict(expected)), indent=2, sort_keys=True).splitlines()
    right = json.dumps(_plain(shown), indent=2, sort_keys=True).splitlines()
    lines += [
        "  " + line.rstrip()
        for line in difflib.unified_diff(left, right, "expected", "actual", lineterm="", n=2)
    ]
    return "\n".join(lines)


def closest(
    candidates: Sequence[Mapping[str, Any]], expected: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    def score(actual: Mapping[str, Any]) -> int:
        return sum(1 for k, v in expected.items() if k in actual and same_value(actual[k], v))

    return max(candidates, key=score, default=None)


#: The methods of TikTok's ttq stub, and ``load``.
TTQ_METHODS = frozenset(
    {
        "load",
        "page",
        "track",
        "identify",
        "instances",
        "debug",
        "on",
        "off",
        "once",
        "ready",
        "alias",
        "group",
        "enableCookie",
        "disableCookie",
        "holdConsent",
        "revokeConsent",
        "grantConsent",
    }
)


def as_step(step: tuple[Any, ...] | str) -> tuple[Any, ...]:
    if isinstance(step, str):
        return (step,) if step in TTQ_METHODS else ("track", step)
    return tuple(step)


def step_text(step: tuple[Any, ...]) -> str:
    method, *args = step
    return f"ttq.{method}({', '.join(map(repr, args))})"


def describe_call(method: str, expected: Mapping[str, Any], first: str | None = None) -> str:
    args = [repr(first)] if first is not None else []
    args += [f"{key}={value!r}" for key, value in expected.items()]
    return f"{method}({', '.join(args)})"


def expected_identity(fields: Mapping[str, Any], region: str | None) -> dict[str, tuple[str, str]]:
    """For each raw value given: ``(its normalised form, the value expected on the page)``.

    :raises InvalidIdentity: a raw value cannot be normalised (it names the field).
    """
    expected = Identity.from_raw(region=region, **fields).as_params()
    country = fields.get("country")
    if isinstance(country, str) and is_region_code(country.strip()):
        region = country.strip()  # as Identity.from_raw reads a phone number
    shown = {}
    for name, value in expected.items():
        raw = str(fields[name])
        if name in CLEAR_FIELDS:
            shown[name] = (value, value)
        elif is_sha256(raw.strip()):
            shown[name] = (raw.strip().lower(), value)  # a digest goes out as it is
        else:
            shown[name] = (normalize_field(name, raw, region), value)
    return shown


def identity_diff(
    fields: Mapping[str, Any], expected: Mapping[str, tuple[str, str]], actual: Mapping[str, Any]
) -> str:
    """One line per identity field that differs: the field, the raw value given, the normalised
    value the expected hash came from, the expected and the actual value."""
    lines = []
    for name, (normalised, value) in expected.items():
        got = actual.get(name)
        if got == value:
            continue
        source = f"{fields[name]!r}"
        if normalised != str(fields[name]) and name not in CLEAR_FIELDS:
            source += f" (normalised {normalised!r})"
        what = "its value" if name in CLEAR_FIELDS else "sha256"
        lines.append(
            f"  {name}: expected {what} of {source} = {value}, "
            f"got {got if got is not None else 'nothing'}"
        )
    return "\n".join(lines)


def same_page(actual: str, expected: str) -> bool:
    """Whether the page URL a beacon reports is ``expected``: a whole URL, or from its path on."""
    if expected.startswith("/"):
        return page_path(actual) == expected
    return actual == expected
