"""Argmax links against the nearest gold link: offsets worked out by hand, their shares, the table and the sentence."""

from __future__ import annotations

import numpy as np
import pytest

from nmt.analysis.alignment_shift import (
    ShiftCounts,
    argmax_offsets,
    link_offsets,
    nearest_gold_offset,
    shift_sentence,
    shift_table,
)

DIAGONAL_GOLD = frozenset({(0, 0), (1, 1), (2, 2), (3, 3)})  # (source word, target word)


def test_a_link_right_of_its_gold_word_is_plus_one_and_left_of_it_minus_one() -> None:
    assert nearest_gold_offset(source=3, gold_sources=[2]) == 1
    assert nearest_gold_offset(source=3, gold_sources=[4]) == -1
    assert nearest_gold_offset(source=3, gold_sources=[3]) == 0
    assert nearest_gold_offset(source=0, gold_sources=[4]) == -4


def test_the_gold_word_nearest_to_the_link_is_compared_and_a_tie_goes_to_the_left_one() -> None:
    assert nearest_gold_offset(source=3, gold_sources=[0, 4]) == -1  # 4 is nearer than the first-listed 0
    assert nearest_gold_offset(source=3, gold_sources=[5, 3, 0]) == 0
    assert nearest_gold_offset(source=3, gold_sources=[4, 2]) == 1  # 2 and 4 are as near: the left one, 2
    assert nearest_gold_offset(source=3, gold_sources=[5, 1]) == 2


def test_argmax_one_source_word_after_the_gold_one_counts_plus_one_for_every_target_word() -> None:
    weights = np.array([[0.1, 0.7, 0.1, 0.1, 0.0],
                        [0.0, 0.2, 0.6, 0.1, 0.1],
                        [0.0, 0.1, 0.2, 0.6, 0.1],
                        [0.0, 0.0, 0.1, 0.3, 0.6]])  # (target words, source words): peaks at t + 1
    assert argmax_offsets(weights, DIAGONAL_GOLD) == [1, 1, 1, 1]
    assert ShiftCounts.of(argmax_offsets(weights, DIAGONAL_GOLD)).direction == "right"


def test_argmax_one_source_word_before_the_gold_one_counts_minus_one() -> None:
    weights = np.array([[0.9, 0.1, 0.0, 0.0],
                        [0.6, 0.3, 0.1, 0.0],
                        [0.1, 0.5, 0.4, 0.0],
                        [0.0, 0.1, 0.5, 0.4]])  # target 0 on gold, the others at t - 1
    counts = ShiftCounts.of(argmax_offsets(weights, DIAGONAL_GOLD))
    assert counts == ShiftCounts(left=3, on_gold=1, right=0, other=0)
    assert counts.direction == "left"


def test_only_target_words_with_a_sure_link_are_measured_in_target_order() -> None:
    # target 0: gold 0, linked to 1 (+1); target 1: no sure link; target 2: gold 1 and 4 (a two-word
    # translation), linked to 3: the nearer gold word 4 gives -1, not +2 from 1
    sure = frozenset({(4, 2), (0, 0), (1, 2)})
    assert link_offsets([1, 0, 3], sure) == [1, -1]
    assert link_offsets([0, 2, 2], frozenset()) == []


def test_counts_pool_offsets_into_left_on_gold_right_and_farther() -> None:
    counts = ShiftCounts.of([-2, -1, 0, 0, 1, 5]) + ShiftCounts.of([1, 0])
    assert counts == ShiftCounts(left=1, on_gold=3, right=2, other=2)
    assert counts.words == 8
    # right: 2/8, at least a tenth of the words and twice left's 1/8
    assert counts.to_dict() == {"left": 1 / 8, "on_gold": 3 / 8, "right": 2 / 8, "other": 2 / 8, "words": 8,
                                "direction": "right"}
    empty = ShiftCounts().to_dict()
    assert (empty["words"], empty["left"], empty["direction"]) == (0, None, None)


@pytest.mark.parametrize(("counts", "direction"), [
    (ShiftCounts(left=4, on_gold=52, right=31, other=13), "right"),
    (ShiftCounts(left=31, on_gold=52, right=4, other=13), "left"),
    (ShiftCounts(left=3, on_gold=87, right=6, other=4), None),  # twice as many right, but only 6% of the words
    (ShiftCounts(left=15, on_gold=55, right=20, other=10), None),  # 20% right, yet hardly more than left
    (ShiftCounts(left=0, on_gold=0, right=10, other=0), "right"),
])
def test_a_side_is_a_shift_when_it_holds_a_tenth_of_the_words_and_twice_the_other_side(
        counts: ShiftCounts, direction: str | None) -> None:
    assert counts.direction == direction


def test_the_sentence_names_the_side_and_its_share() -> None:
    shifted = shift_sentence("cross", ShiftCounts(left=4, on_gold=52, right=31, other=13).to_dict())
    assert shifted == ("cross: argmax links land one source word to the right of gold for 31% of 100 target words "
                       "(left 4%, on gold 52%, farther 13%): shifted right")
    left = shift_sentence("cross", ShiftCounts(left=31, on_gold=52, right=4, other=13).to_dict())
    assert "one source word to the left of gold for 31%" in left and left.endswith("shifted left")
    steady = shift_sentence("cross", ShiftCounts(left=3, on_gold=87, right=6, other=4).to_dict())
    assert "on gold for 87% of 100 target words" in steady and steady.endswith("no shift to one side")
    assert "no target word" in shift_sentence("cross", ShiftCounts().to_dict())


def test_the_table_has_one_row_per_setting_with_shares_and_the_word_count() -> None:
    table = shift_table([("layer", ShiftCounts(left=1, on_gold=2, right=1, other=0)), ("none", ShiftCounts())])
    assert table.header == ["attention", "share -1 (left)", "share 0 (on gold)", "share +1 (right)", "share other",
                            "target words"]
    assert table.rows == [["layer", 0.25, 0.5, 0.25, 0.0, 4], ["none", "-", "-", "-", "-", 0]]
