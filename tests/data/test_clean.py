"""Normalisation everywhere, filters on train only, and a count for every rule."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

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
    assert report["train"].removed == {"empty": 1, "too_long": 1, "too_many_chars": 0, "ratio": 1, "duplicate": 1}
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
    assert report["train"].removed == {"empty": 0, "too_long": 0, "too_many_chars": 0, "ratio": 0, "duplicate": 0}


def test_contrast_column_is_normalised_with_the_pair():
    pronouns = datasets.Dataset.from_dict({"src": ["it  was"], "tgt": ["il  était"], "contrast": ["elle\u00a0était"]})
    cleaned, _ = clean_splits(datasets.DatasetDict({"pronoun_test": pronouns}), config=CleanConfig(max_len=1, max_ratio=None, dedup=False))
    assert cleaned["pronoun_test"][0] == {"src": "it was", "tgt": "il était", "contrast": "elle était"}


def test_clean_config_rejects_values_that_would_drop_everything():
    with pytest.raises(NMTError, match=r"data\.clean\.max_len=0 must be at least 1"):
        CleanConfig(max_len=0, max_ratio=None, dedup=False)
    with pytest.raises(NMTError, match=r"data\.clean\.max_chars=0 must be at least 1"):
        CleanConfig(max_len=None, max_ratio=None, dedup=False, max_chars=0)
    with pytest.raises(NMTError, match=r"data\.clean\.max_ratio=0\.5 must be at least 1\.0"):
        CleanConfig(max_len=None, max_ratio=0.5, dedup=False)
    with pytest.raises(NMTError, match=r"data\.clean\.dedup='yes' has the wrong type; expected bool"):
        CleanConfig(max_len=None, max_ratio=None, dedup="yes")


def test_a_line_without_spaces_is_stopped_by_max_chars_not_by_the_word_count():
    glued = "x" * 1001  # one word of 1,001 characters
    train = split_of([("ein hund", "a dog"), (glued, "a dog"), ("ein hund", glued), ("eins " * 200, "one")])
    splits = datasets.DatasetDict({"train": train, "test": split_of([(glued, "a dog")])})
    cleaned, report = clean_splits(splits, config=CleanConfig(max_len=100, max_ratio=None, dedup=False, max_chars=1000))
    assert report["train"].removed == {"empty": 0, "too_long": 1, "too_many_chars": 2, "ratio": 0, "duplicate": 0}
    assert cleaned["train"]["src"] == ["ein hund"]
    assert cleaned["test"]["src"] == [glued]  # validation and test keep every non-empty pair


def test_max_chars_counts_characters_of_the_normalised_text():
    decomposed = "e\u0301" * 10  # 20 code points, 10 characters once composed (NFC)
    spaced = "é" * 9 + " \t x"  # 13 characters, 11 once the whitespace collapses
    train = split_of([(decomposed, "ten"), (spaced, "eleven"), ("é" * 12, "twelve")])
    cleaned, report = clean_splits(datasets.DatasetDict({"train": train}),
                                   config=CleanConfig(max_len=None, max_ratio=None, dedup=False, max_chars=11))
    assert cleaned["train"]["tgt"] == ["ten", "eleven"]
    assert report["train"].removed["too_many_chars"] == 1


def test_a_config_without_max_chars_keeps_every_length():
    stored = {"max_len": 80, "max_ratio": 3.0, "dedup": False}  # as checkpoints and caches stored it before the key
    assert CleanConfig(**stored).max_chars is None and CleanConfig(**stored).to_dict() == stored
    assert CleanConfig(**stored, max_chars=1000).to_dict() == {**stored, "max_chars": 1000}
    train = split_of([("x" * 5000, "y")])
    cleaned, _ = clean_splits(datasets.DatasetDict({"train": train}), config=CleanConfig(max_len=1, max_ratio=None, dedup=False))
    assert len(cleaned["train"]) == 1


def test_worker_processes_and_small_batches_clean_exactly_as_one_pass(tmp_path):
    pairs = [(f"satz {i % 7}", f"sentence {i % 7}") for i in range(20)]  # a repeat in every batch and across them
    pairs[4], pairs[9], pairs[13] = ("", "x"), ("a b c d e f", "a"), ("zu lang " * 4, "too long")
    splits = datasets.DatasetDict({"train": split_of(pairs), "validation": split_of(pairs)})
    config = CleanConfig(max_len=6, max_ratio=3.0, dedup=True, max_chars=100)
    alone, alone_report = clean_splits(splits, config=config)
    with multiprocessing.Pool(2) as pool:  # batches of 3 pairs, handed out in order
        parallel, parallel_report = clean_splits(splits, config=config, work_dir=tmp_path, map_batches=pool.imap,
                                                 batch_size=3)
    assert parallel_report == alone_report
    assert alone_report["train"].removed == {"empty": 1, "too_long": 1, "too_many_chars": 0, "ratio": 1, "duplicate": 10}
    expected = list(dict.fromkeys(pair for index, pair in enumerate(pairs) if index not in (4, 9, 13)))
    for cleaned in (alone, parallel):
        assert list(zip(cleaned["train"]["src"], cleaned["train"]["tgt"])) == expected  # first occurrences, in order
        assert len(cleaned["validation"]) == 19
    assert [Path(f["filename"]) for f in parallel["train"].cache_files] == [tmp_path / "train.arrow"]


def test_dedup_keeps_pairs_that_differ_only_in_where_the_sides_split():
    train = split_of([("ab", "c"), ("a", "bc"), ("ab", "c")])
    cleaned, report = clean_splits(datasets.DatasetDict({"train": train}),
                                   config=CleanConfig(max_len=None, max_ratio=None, dedup=True))
    assert list(zip(cleaned["train"]["src"], cleaned["train"]["tgt"])) == [("ab", "c"), ("a", "bc")]
    assert report["train"].removed["duplicate"] == 1


def test_columns_besides_the_text_pass_through_with_their_types():
    features = datasets.Features({"src": datasets.Value("string"), "tgt": datasets.Value("string"),
                                  "pronoun": datasets.Value("int32")})
    split = datasets.Dataset.from_dict({"src": ["a  b", "", "c"], "tgt": ["x", "y", "z"], "pronoun": [3, 4, 5]},
                                       features=features)
    cleaned, _ = clean_splits(datasets.DatasetDict({"test": split}), config=CleanConfig(max_len=1, max_ratio=None, dedup=False))
    assert cleaned["test"].features == features
    assert cleaned["test"].to_dict() == {"src": ["a b", "c"], "tgt": ["x", "z"], "pronoun": [3, 5]}


def test_a_split_left_empty_is_an_empty_dataset_with_the_same_columns(tmp_path):
    splits = datasets.DatasetDict({"train": split_of([("", "x"), ("y", " ")])})
    for work_dir in (None, tmp_path):
        cleaned, report = clean_splits(splits, config=CleanConfig(max_len=None, max_ratio=None, dedup=False),
                                       work_dir=work_dir)
        assert len(cleaned["train"]) == 0 and cleaned["train"].column_names == ["src", "tgt"]
        assert report["train"].removed["empty"] == 2
