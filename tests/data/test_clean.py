"""Normalisation everywhere, filters on train only, and a count for every rule."""

from __future__ import annotations

import datasets
import pytest

from nmt.data.clean import CleanConfig, clean_splits, normalize
from nmt.errors import NMTError


def split_of(pairs: list[tuple[str, str]]) -> datasets.Dataset:
    return datasets.Dataset.from_dict({"src": [src for src, _ in pairs], "tgt": [tgt for _, tgt in pairs]})


def test_normalize_composes_unicode_and_collapses_whitespace():
    decomposed = "Cafe\u0301  au\tlait\u00a0 noir\n"  # e + combining acute, tab, no-break space
    assert normalize(decomposed) == "Café au lait noir"
    assert normalize(None) == ""


def test_each_train_rule_removes_its_pair_and_counts_it():
    train = split_of([
        ("ein hund", "a dog"),
        ("  ", "empty source"),                       # empty after normalisation
        ("eins zwei drei vier fünf", "one two three four five"),  # 5 words > max_len 4
        ("ja", "yes yes yes yes"),                    # ratio 4 > 3
        ("ein  hund", "a dog"),                       # duplicate once whitespace is collapsed
        ("eine katze", "a cat"),
    ])
    cleaned, report = clean_splits(
        datasets.DatasetDict({"train": train}), config=CleanConfig(max_len=4, max_ratio=3.0, dedup=True)
    )
    assert report["train"].removed == {"empty": 1, "too_long": 1, "ratio": 1, "duplicate": 1}
    assert (report["train"].before, report["train"].after) == (6, 2)
    assert list(zip(cleaned["train"]["src"], cleaned["train"]["tgt"])) == [("ein hund", "a dog"), ("eine katze", "a cat")]


def test_validation_and_test_lose_only_empty_pairs():
    long_pair = ("eins zwei drei vier fünf sechs", "one")
    splits = datasets.DatasetDict({
        "train": split_of([long_pair, ("a", "b")]),
        "validation": split_of([long_pair, long_pair, ("", "x")]),
    })
    cleaned, report = clean_splits(splits, config=CleanConfig(max_len=3, max_ratio=2.0, dedup=True))
    assert len(cleaned["train"]) == 1
    assert len(cleaned["validation"]) == 2  # too long, lopsided and repeated, but kept
    assert report["validation"].removed == {"empty": 1}


def test_null_switches_rules_off_but_still_reports_zero_counts():
    train = split_of([("eins zwei drei vier fünf", "one"), ("eins zwei drei vier fünf", "one")])
    cleaned, report = clean_splits(
        datasets.DatasetDict({"train": train}), config=CleanConfig(max_len=None, max_ratio=None, dedup=False)
    )
    assert len(cleaned["train"]) == 2
    assert report["train"].removed == {"empty": 0, "too_long": 0, "ratio": 0, "duplicate": 0}


def test_contrast_column_is_normalised_with_the_pair():
    pronouns = datasets.Dataset.from_dict({"src": ["it  was"], "tgt": ["il  était"], "contrast": ["elle\u00a0était"]})
    cleaned, _ = clean_splits(datasets.DatasetDict({"pronoun_test": pronouns}), config=CleanConfig(max_len=1, max_ratio=None, dedup=False))
    assert cleaned["pronoun_test"][0] == {"src": "it was", "tgt": "il était", "contrast": "elle était"}


def test_clean_config_rejects_values_that_would_drop_everything():
    with pytest.raises(NMTError, match=r"data\.clean\.max_len=0 must be at least 1"):
        CleanConfig(max_len=0, max_ratio=None, dedup=False)
    with pytest.raises(NMTError, match=r"data\.clean\.max_ratio=0\.5 must be at least 1\.0"):
        CleanConfig(max_len=None, max_ratio=0.5, dedup=False)
    with pytest.raises(NMTError, match=r"data\.clean\.dedup='yes' has the wrong type; expected bool"):
        CleanConfig(max_len=None, max_ratio=None, dedup="yes")
