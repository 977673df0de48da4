"""Timing helpers shared by the benchmarks: side-by-side samples and their medians.

The machines these run on are small and shared, so no figure is a single stopwatch reading:
variants are timed in turns, many times, and compared by their medians.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Mapping, Sequence

from playwright.sync_api import CDPSession


def median(samples: Sequence[float]) -> float:
    """The median of ``samples`` (``nan`` when there are none)."""
    return statistics.median(samples) if samples else float("nan")


def quantile(samples: Sequence[float], q: float) -> float:
    """The ``q`` quantile of ``samples`` (0.25: the 25th percentile), interpolated linearly;
    ``nan`` when there are none."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def sample_side_by_side(
    variants: Mapping[str, Callable[[], object]],
    repeats: int,
    *,
    prepare: Callable[[str], object] | None = None,
) -> dict[str, list[float]]:
    """Time one call of each variant in turn, ``repeats`` times: seconds per call.

    The order of the variants rotates from one turn to the next, so none always runs right
    after another (warm caches, a waking CPU) and load from other processes falls on all alike.

    :param prepare: called with a variant's name before each timed call, outside the timing.
    """
    names = list(variants)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for turn in range(repeats):
        shift = turn % len(names)
        for name in names[shift:] + names[:shift]:
            if prepare is not None:
                prepare(name)
            call = variants[name]
            start = time.perf_counter()
            call()
            samples[name].append(time.perf_counter() - start)
    return samples


def per_call_us(
    call: Callable[[], object], repeats: int, *, prepare: Callable[[], object] | None = None
) -> list[float]:
    """Microseconds taken by each of ``repeats`` calls of ``call``.

    :param prepare: called before each call, outside the timing.
    """
    before = (lambda _name: prepare()) if prepare is not None else None
    return [s * 1e6 for s in sample_side_by_side({"": call}, repeats, prepare=before)[""]]


def median_interval(samples: Sequence[float], *, rounds: int = 2000) -> tuple[float, float]:
    """A 95 % interval of the median of ``samples`` (bootstrap, a fixed seed): how far the
    median of one run could move, read from that run alone."""
    if not samples:
        return float("nan"), float("nan")
    draw = random.Random(0).choices
    medians = [median(draw(samples, k=len(samples))) for _ in range(rounds)]
    return quantile(medians, 0.025), quantile(medians, 0.975)


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, ``nan`` when the denominator is not positive."""
    return numerator / denominator if denominator > 0 else float("nan")


def script_ms(devtools: CDPSession) -> float:
    """The milliseconds the page's main thread has spent running scripts so far: Chromium's
    ``ScriptDuration`` (``Performance.enable`` must have been sent on ``devtools``)."""
    metrics = devtools.send("Performance.getMetrics")["metrics"]
    return 1000 * float(next(m["value"] for m in metrics if m["name"] == "ScriptDuration"))
