"""The screen measured on the corpora (tests/corpora/): what people really type must be found,
ordinary shop text must pass. The same figures are reported by ``make bench`` (part
``screen``) and in docs/safety.md."""

from __future__ import annotations

from benchmarks.screen import KNOWN_FALSE_POSITIVES, load_corpus, measure
from pixel_embed import find_personal_data


def test_the_variant_corpus_and_the_shop_corpus_are_big_enough() -> None:
    variants = load_corpus("pii_variants")
    assert len(variants) >= 300
    assert all(row["why"] for row in variants)
    assert len(load_corpus("shop_strings")) >= 300


def test_recall_is_at_least_95_percent_and_false_positives_at_most_1_percent() -> None:
    figures = measure()
    assert figures["screen_recall"] >= 0.95
    assert figures["screen_false_positive_rate"] <= 0.01


def test_every_example_of_the_review_is_caught() -> None:
    findings = [row for row in load_corpus("pii_variants") if "finding" in row["why"]]
    assert len(findings) >= 20
    assert [row["text"] for row in findings if not find_personal_data(row["text"])] == []


def test_the_known_false_positives_are_the_only_ones() -> None:
    flagged = [
        row["text"] for row in load_corpus("shop_strings") if find_personal_data(row["text"])
    ]
    assert flagged == list(KNOWN_FALSE_POSITIVES)
