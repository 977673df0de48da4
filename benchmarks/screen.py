"""The screen (:mod:`pixel_embed.screening`) measured on the corpora of tests/corpora/.

- ``screen_recall``: the share of the variant corpus (e-mail addresses and phone numbers as
  people type them, each with its source) in which the screen finds something;
- ``screen_false_positive_rate``: the share of the ordinary shop strings in which it finds
  something (:data:`KNOWN_FALSE_POSITIVES` lists them);
- ``screen_us_per_string``: the mean cost of :func:`~pixel_embed.mask_personal_data` over both
  corpora, cold (the clean-text memo and the national-number cache emptied before each pass);
- ``screen_worst_ms``: the slowest of :func:`~pixel_embed.mask_personal_data` and
  :func:`~pixel_embed.scrub_url` over the worst inputs for each pattern (10,000 characters, a
  free-text budget of a whole event), best of five.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from pixel_embed import screening
from pixel_embed.screening import find_personal_data, mask_personal_data, scrub_url

CORPORA = Path(__file__).resolve().parent.parent / "tests" / "corpora"

#: Ordinary strings the screen takes for personal data, knowingly: an SSH remote has the
#: shape of an address, and a lot number that is a valid Spanish number is one.
KNOWN_FALSE_POSITIVES = ("git@github.com:org/repo.git", "lot# 12-3456-789")

Figures = dict[str, float]


def load_corpus(name: str) -> list[dict[str, str]]:
    """The rows of ``tests/corpora/<name>.jsonl``."""
    with open(CORPORA / f"{name}.jsonl", encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]


def measure() -> Figures:
    """Recall and false-positive rate on the corpora."""
    variants = load_corpus("pii_variants")
    shop = load_corpus("shop_strings")
    found = sum(1 for row in variants if find_personal_data(row["text"]))
    flagged = sum(1 for row in shop if find_personal_data(row["text"]))
    return {
        "screen_recall": found / len(variants),
        "screen_false_positive_rate": flagged / len(shop),
        "screen_variants": len(variants),
        "screen_shop_strings": len(shop),
    }


def worst_inputs() -> dict[str, str]:
    """Inputs built to make each pattern work hardest, 10,000 characters each."""
    size = 10_000

    def fill(unit: str) -> str:
        return (unit * (size // len(unit) + 1))[:size]

    return {
        "word run without @": fill("a"),
        "local-part characters": fill("a.b-c+"),
        "many @": fill("a@"),
        "domains without a TLD": fill("a@b.c1."),
        "phone-ish": fill("+1 "),
        "digits and separators": fill("1-2 3/4."),
        "trunk-0-ish": fill("0 12 "),
        "percent escapes": fill("%40"),
        "spelled at": fill(" (at) "),
        "full-width digits": fill("\uff11 "),
        "zero-width between digits": fill("1\u200b"),
        "dates": fill("2024-01-15 "),
        "national candidates": fill("12-3456-78 x"),
    }


def _best_ms(call: Callable[[], object], rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def run(*, quick: bool = False) -> Figures:
    figures = measure()
    texts = [row["text"] for name in ("pii_variants", "shop_strings") for row in load_corpus(name)]
    passes = 1 if quick else 5
    best = float("inf")
    for _ in range(passes):
        screening.KNOWN_CLEAN.clear()
        screening.is_national_number.cache_clear()
        start = time.perf_counter()
        for text in texts:
            mask_personal_data(text)
        best = min(best, time.perf_counter() - start)
    figures["screen_us_per_string"] = best / len(texts) * 1e6
    worst = 0.0
    for text in worst_inputs().values():
        worst = max(worst, _best_ms(lambda t=text: mask_personal_data(t)))  # type: ignore[misc]
        url = "https://shop.example/p/" + text[:4000] + "?q=" + text[:4000]
        worst = max(worst, _best_ms(lambda u=url: scrub_url(u)))  # type: ignore[misc]
    figures["screen_worst_ms"] = worst
    return figures
