"""Odd Python values (objects whose ``__str__``, ``__eq__``, ``__hash__``, ``__float__``,
``__iter__``… raise) never turn a page into an HTTP 500 in lenient mode, and never cost the
rest of the event: the review's finding 7 found 25 of 78 such values giving a 500."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import make_app, page
from flask import Flask

from pixel_embed import InvalidInput, TikTokPixel, validate_event

DUNDERS = (
    "__str__",
    "__repr__",
    "__format__",
    "__eq__",
    "__ne__",
    "__hash__",
    "__bool__",
    "__len__",
    "__iter__",
    "__getitem__",
    "__contains__",
    "__float__",
    "__int__",
    "__index__",
    "__lt__",
    "__gt__",
    "__round__",
    "strip",
    "items",
    "keys",
    "get",
    "lower",
    "encode",
)
BASES: tuple[type, ...] = (object, str, int, float, dict, list, tuple)


class Boom(Exception):
    pass


def _raise(*args: object, **kwargs: object) -> Any:
    raise Boom("kaboom-raised")


def odd_values() -> Iterator[tuple[str, object]]:
    """One object per base type and raising method, where the base has that method."""
    for base in BASES:
        for name in DUNDERS:
            if not hasattr(base, name) and name not in ("__len__", "__iter__", "__float__"):
                continue
            kind = type(
                f"Odd{base.__name__.title()}{name.strip('_').title()}", (base,), {name: _raise}
            )
            try:
                value = kind("jane@example.com") if base is str else kind()
            except Exception:
                continue
            yield f"{base.__name__}.{name}", value


ODD = list(odd_values())


def test_the_corpus_is_large() -> None:
    assert len(ODD) >= 78


def lenient_shop() -> tuple[Flask, TikTokPixel]:
    app = make_app(TIKTOK_PIXEL_STRICT=False)
    return app, TikTokPixel(app)


def tracked(html: str) -> list[Any]:
    return [json.loads(f"[{found}]") for found in re.findall(r"ttq\.track\((.*?)\);", html)]


def _keyed(odd: object) -> dict[Any, Any]:
    params: dict[Any, Any] = {"value": 1, "currency": "USD"}
    try:
        params[odd] = 1
    except Boom:
        pass  # an object that cannot be a key cannot reach track() as one
    except TypeError:
        pass  # unhashable
    return params


USES: dict[str, Callable[[TikTokPixel, object], object]] = {
    "query": lambda pixel, odd: pixel.track("Search", query=odd, value=1, currency="USD"),
    "custom": lambda pixel, odd: pixel.track("Search", {"x": odd, "value": 1, "currency": "USD"}),
    "key": lambda pixel, odd: pixel.track("Search", _keyed(odd)),
    "nested": lambda pixel, odd: pixel.track(
        "Search", {"x": {"y": odd}, "value": 1, "currency": "USD"}
    ),
    "list": lambda pixel, odd: pixel.track(
        "Search", {"x": [odd, "ok"], "value": 1, "currency": "USD"}
    ),
    "item": lambda pixel, odd: pixel.track(
        "ViewContent", contents=[{"content_id": odd}, {"content_id": "ok"}], value=1, currency="USD"
    ),
    "item field": lambda pixel, odd: pixel.track(
        "ViewContent", contents=[{"content_id": "a", "price": odd}], value=1, currency="USD"
    ),
    "params": lambda pixel, odd: pixel.track("Search", odd),  # type: ignore[arg-type]
    "value": lambda pixel, odd: pixel.track("Search", value=odd, currency="USD", query="q"),
    "identify": lambda pixel, odd: pixel.identify(email=odd, external_id="u-1"),  # type: ignore[arg-type]
    "identify city": lambda pixel, odd: pixel.identify(city=odd, external_id="u-1"),  # type: ignore[arg-type]
    "identify phone": lambda pixel, odd: pixel.identify(phone_number=odd, external_id="u-1"),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("use", list(USES))
def test_odd_values_never_give_a_500_in_lenient_mode(use: str) -> None:
    app, pixel = lenient_shop()
    failures = []
    for name, odd in ODD:

        @app.get(f"/{use}/{name}", endpoint=f"{use}-{name}")
        def view(odd: object = odd) -> str:
            USES[use](pixel, odd)
            return page()

    client = app.test_client()
    for name, _ in ODD:
        response = client.get(f"/{use}/{name}")
        if response.status_code != 200:
            failures.append(name)
            continue
        html = response.text
        if use.startswith("identify"):
            assert "ttq.identify(" in html, name  # the external id is kept
        elif use != "params":
            assert tracked(html), name
            assert tracked(html)[0][1].get("value") == 1 or use == "value", name
    assert failures == []


@pytest.mark.parametrize(("name", "odd"), ODD, ids=[name for name, _ in ODD])
def test_odd_values_are_refused_with_an_error_in_strict_mode(name: str, odd: object) -> None:
    errors: list[InvalidInput] = []
    event = validate_event("Search", {"x": odd, "query": "q"}, on_error=errors.append)
    assert event.params["query"] == "q"  # the rest of the event is kept
    for error in errors:
        assert error.field.startswith("x")
        assert "kaboom" not in str(error)
    if errors:  # strict mode raises the same error, never the object's own exception
        with pytest.raises(InvalidInput):
            validate_event("Search", {"x": odd, "query": "q"})


class NotStrButQuery:
    def __hash__(self) -> int:
        return hash("query")

    def __eq__(self, other: object) -> bool:
        return True


def test_a_key_equal_to_query_that_is_not_a_string_is_refused() -> None:
    app, pixel = lenient_shop()

    @app.get("/")
    def home() -> str:
        pixel.track("Search", {NotStrButQuery(): "jane@example.com", "content_id": "a"})  # type: ignore[dict-item]
        return page()

    response = app.test_client().get("/")
    assert response.status_code == 200
    assert "jane@example.com" not in response.text
    assert tracked(response.text)[0][1] == {"content_id": "a"}


def test_parameter_names_count_in_the_events_text_budget() -> None:
    # The review: a 491 KB body of nested mappings with long names gave a 483 KB page.
    body = {"x": [{f"{'k' * 95}{i:05d}": 1 for i in range(500)} for _ in range(10)]}
    errors: list[InvalidInput] = []
    event = validate_event("Search", {"query": "q", **body}, on_error=errors.append)
    assert len(json.dumps(event.params)) < 12_000
    assert event.params["query"] == "q"
    assert any("names count" in error.problem for error in errors)
