"""What hostile input costs: the worst call over a corpus, and memory after many identities.

- ``hostile_worst_call_ms``: every input of the corpus (each at most 500 kB: long numbers, long
  text, worst cases for the e-mail and phone patterns, wide and deep nesting, lone surrogates)
  goes through ``track`` (as a text, number, nested and ``contents`` parameter), ``identify``
  (each field) and Segment's ``track``/``identify``, in lenient mode, each in a request
  context; a call's time is the best of five (the machine is shared: what other processes
  take is not the call's cost); the figure is the slowest call.
- ``hostile_identities_mb``: the process's resident memory grown by 10,000 distinct hostile
  identities (values at their length caps, refused 480 kB e-mails, unusual phone numbers).
"""

from __future__ import annotations

import gc
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from flask import Flask

from pixel_embed import TikTokPixel

from .size import CODE

KB = 1000


def corpus() -> dict[str, Any]:
    """The inputs, each at most 500 kB."""
    deep: list[Any] = []
    for _ in range(50 * KB):
        deep = [deep]
    return {
        "long number": "9" * 499 * KB,
        "number at the int limit": "9" * 4301,
        "sNaN": "sNaN",
        "huge int": 10**4000,
        "long text": "x" * 500 * KB,
        "many @": "a@" * 250 * KB,
        "local parts": ("a" * 63 + "@") * 7800,
        "phone-ish": "+1 " * 166 * KB,
        "trunk-0-ish": "0 12 " * 100 * KB,
        "dashed digits": "415-555-" * 62 * KB,
        "1000 chars of @": ("ab@" * 400)[:1000],
        "1000 chars of digits": ("+1 213 373 42 " * 80)[:1000],
        "lone surrogates": "\ud800" * 250 * KB,
        "wide list": ["a"] * 250 * KB,
        "wide mapping": {f"k{n}": n for n in range(40 * KB)},
        "deep list": deep,
        "list of worst strings": [("1 213 373 42 " * 80)[:1000]] * 500,
        "items": [{"content_id": f"{n}", "content_name": "+1 2 " * 200} for n in range(500)],
    }


def _calls(pixel: TikTokPixel, value: Any) -> dict[str, Callable[[], object]]:
    text = value if isinstance(value, str) else "text"
    return {
        "track text": lambda: pixel.track("Search", query=value, description=value),
        "track number": lambda: pixel.track("AddToCart", value=value, currency="USD"),
        "track nested": lambda: pixel.track("Search", custom=value, content_ids=value),
        "track contents": lambda: pixel.track("ViewContent", contents=value),
        "identify": lambda: pixel.identify(
            email=text, phone_number=text, external_id=text, first_name=text, city=text
        ),
        "segment track": lambda: pixel.segment.track(
            "Order Completed", {"revenue": value, "products": value, "query": value}
        ),
        "segment identify": lambda: pixel.segment.identify(text, {"email": value, "name": value}),
    }


def _app() -> tuple[Flask, TikTokPixel]:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="bench", TIKTOK_PIXEL_CODE=CODE, TIKTOK_PIXEL_STRICT=False)
    return app, TikTokPixel(app)


def worst_call(repeats: int = 5) -> tuple[float, str]:
    """The slowest call over the corpus (ms, best of ``repeats``) and what it was."""
    app, pixel = _app()
    inputs = corpus()
    # The corpus is large (a 250,000-item list, 50,000 levels of nesting): kept out of the
    # garbage collector's sweeps, or every collection would walk it and the figures would time
    # the corpus.
    gc.collect()
    gc.freeze()
    try:
        return _worst(app, pixel, inputs, repeats)
    finally:
        del inputs
        gc.unfreeze()


def _worst(
    app: Flask, pixel: TikTokPixel, inputs: dict[str, Any], repeats: int
) -> tuple[float, str]:
    worst = (0.0, "")
    for name, value in inputs.items():
        for kind in _calls(pixel, value):
            samples = []
            for _ in range(repeats):
                with app.test_request_context("/"):
                    call = _calls(pixel, value)[kind]
                    start = time.perf_counter()
                    call()
                    samples.append(time.perf_counter() - start)
            ms = min(samples) * 1e3
            if ms > worst[0]:
                worst = (ms, f"{kind} with {name}")
    return worst


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _hostile_identity(number: int) -> dict[str, Any]:
    """A distinct identity whose values sit at their caps (and within what is cached)."""
    kind = number % 4
    if kind == 0:  # the largest a cached identity can be: 512 characters of raw values
        return {
            "email": f"{number:08d}{'a' * 40}@{'b' * 140}.example",
            "external_id": f"{number}-" + "\u00e9" * 200,
            "first_name": "\U0001f600" * 100,
        }
    if kind == 1:  # refused: a 480 kB e-mail, a 100 kB id
        return {"email": "a" * 480 * KB + f"{number}@example.com", "external_id": "u" * 100 * KB}
    if kind == 2:  # phone numbers: each parsed, the valid ones remembered
        return {"phone_number": f"+1 213 {200 + number % 700:03d} {number % 10000:04d}"}
    return {"external_id": f"{number}" + "\ud800", "zip_code": "9" * 128, "city": "x" * 128}


def identities_growth_mb(count: int = 10_000) -> float:
    """How much resident memory ``count`` hostile identities add (MB)."""
    app, pixel = _app()
    gc.collect()
    before = _rss_mb()
    for number in range(count):
        with app.test_request_context("/"):
            pixel.identify(**_hostile_identity(number))
    gc.collect()
    return _rss_mb() - before


def run(*, quick: bool = False) -> dict[str, float]:
    """The worst call over the corpus, and memory after 10,000 hostile identities."""
    logging.getLogger("pixel_embed").setLevel(logging.CRITICAL)
    # Memory first: the corpus, freed, would leave the allocator room to grow into unseen.
    growth = identities_growth_mb(2000 if quick else 10_000)
    ms, what = worst_call(repeats=1 if quick else 5)
    print(f"hostile: the slowest call was {what} ({ms:.2f} ms)", file=sys.stderr, flush=True)
    return {"hostile_worst_call_ms": ms, "hostile_identities_mb": growth}


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:32} {value:10.2f}")
