"""Attention as word alignment: Pharaoh files, piece -> word attention, AER by hand, and the section end to end
(argmax offsets from gold by hand: test_alignment_shift.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_checkpoint import MODEL_CONFIG, PAIRS, RNN_MODEL_CONFIG, tiny_analysis_context

from nmt.analysis.alignment import (
    AlignmentCounts,
    alignment_section,
    argmax_links,
    count_links,
    diagonal_links,
    parse_pharaoh,
    read_pharaoh,
    threshold_links,
)
from nmt.analysis.core import Alignment, AnalysisContext, make_examples
from nmt.analysis.words import word_attention
from nmt.errors import NMTError
from nmt.tokens import BOS_ID, EOS_ID, PAD_ID

CPU = torch.device("cpu")
# Gold links of the first four PAIRS, one sure link per target word; "du" (target 3 of pair 0) comes from
# "rides" (sure) and possibly from the second "a".
GOLD = ["0-0 1-1 2-2 2-3 3?3 4-4 5-5", "0-0 1-1 2-2 3-3 4-4", "0-0 1-1 2-2 3-3 4-4 5-5 6-6", "0-0 1-1 2-2 3-3 4-4"]


def gold_alignments(directory: Path) -> list[Alignment | None]:
    """GOLD read back from a Pharaoh file, and no alignment for the other pairs."""
    path = directory / "gold.align"
    path.write_text("\n".join(GOLD) + "\n", encoding="utf-8")
    return [*read_pharaoh(path, expected_lines=len(GOLD)), *[None] * (len(PAIRS) - len(GOLD))]


@pytest.fixture(scope="module")
def transformer(tmp_path_factory: pytest.TempPathFactory) -> AnalysisContext:
    directory = tmp_path_factory.mktemp("transformer")
    return tiny_analysis_context(directory, MODEL_CONFIG, gold_alignments(directory))


def test_pharaoh_lines_give_sure_links_that_are_also_possible() -> None:
    alignment = parse_pharaoh("0-0 1?2  3-1")
    assert alignment.sure == {(0, 0), (3, 1)}
    assert alignment.possible == {(0, 0), (1, 2), (3, 1)}
    assert parse_pharaoh("   ") == Alignment(sure=frozenset(), possible=frozenset())


def test_a_malformed_link_names_the_file_line_and_token(tmp_path: Path) -> None:
    path = tmp_path / "bad.align"
    path.write_text("0-0 1-1\n0-0 1:2\n", encoding="utf-8")
    with pytest.raises(NMTError, match=r"bad\.align:2: malformed alignment link '1:2'"):
        read_pharaoh(path, expected_lines=2)


def test_a_line_count_that_differs_from_the_pairs_names_both_counts(tmp_path: Path) -> None:
    path = tmp_path / "short.align"
    path.write_text("0-0\n\n1-1\n", encoding="utf-8")  # three lines, the second blank (a pair without links)
    assert [len(a.possible) for a in read_pharaoh(path, expected_lines=3)] == [1, 0, 1]
    with pytest.raises(NMTError, match="has 3 alignment lines but there are 4 sentence pairs"):
        read_pharaoh(path, expected_lines=4)


def test_aer_precision_and_recall_are_pooled_over_the_corpus() -> None:
    # Sentence 1: S = {0-0, 1-1}, P = S + {2-1}, A = {0-0, 2-1, 2-2}:
    #   |A| = 3, |S| = 2, |A∩S| = 1 (0-0), |A∩P| = 2 (0-0, 2-1) -> AER = 1 - 3/5 = 0.4, P = 2/3, R = 1/2.
    first = count_links(frozenset({(0, 0), (2, 1), (2, 2)}),
                        Alignment(sure=frozenset({(0, 0), (1, 1)}), possible=frozenset({(0, 0), (1, 1), (2, 1)})))
    assert first == AlignmentCounts(predicted=3, sure=2, predicted_sure=1, predicted_possible=2)
    assert (first.aer, first.precision, first.recall) == pytest.approx((0.4, 2 / 3, 0.5))
    # Sentence 2: S = P = {0-0}, A = {1-0}: nothing right. Pooled: |A| = 4, |S| = 3, |A∩S| = 1, |A∩P| = 2
    #   -> AER = 1 - 3/7 = 4/7 (not the mean of 0.4 and 1), precision 2/4, recall 1/3.
    second = count_links(frozenset({(1, 0)}), Alignment(sure=frozenset({(0, 0)}), possible=frozenset({(0, 0)})))
    pooled = first + second
    assert (pooled.aer, pooled.precision, pooled.recall) == pytest.approx((4 / 7, 0.5, 1 / 3))
    assert AlignmentCounts().aer is None and AlignmentCounts().precision is None


def test_word_attention_sums_source_pieces_and_averages_target_pieces() -> None:
    # source pieces -> words [0, 0, 1, EOS]; target pieces -> words [0, 1, 1, EOS]
    pieces = np.array([[[0.1, 0.2, 0.3, 0.4],
                        [0.5, 0.0, 0.5, 0.0],
                        [0.1, 0.1, 0.6, 0.2],
                        [0.25, 0.25, 0.25, 0.25]]])  # (1, T + 1, S + 1)
    # columns summed: rows [0.3, 0.3], [0.5, 0.5], [0.2, 0.6] (EOS column and row dropped);
    # target word 1 is the mean of rows 1 and 2: [0.35, 0.55]
    words = word_attention(pieces, src_word_of_piece=[0, 0, 1, -1], tgt_word_of_piece=[0, 1, 1, -1])
    np.testing.assert_allclose(words, [[[0.3, 0.3], [0.35, 0.55]]])


def test_links_from_argmax_threshold_and_the_diagonal() -> None:
    weights = np.array([[0.7, 0.2, 0.1], [0.35, 0.25, 0.4]])  # (target words, source words)
    assert argmax_links(weights) == {(0, 0), (2, 1)}
    assert threshold_links(weights, 0.3) == {(0, 0), (0, 1), (2, 1)}
    assert diagonal_links(3, 3) == {(0, 0), (1, 1), (2, 2)}
    assert diagonal_links(3, 6) == {(0, 0), (0, 1), (1, 2), (1, 3), (2, 4), (2, 5)}
    assert diagonal_links(4, 2) == {(1, 0), (3, 1)}


def test_transformer_section_scores_heads_layers_their_average_and_the_diagonal(
        transformer: AnalysisContext) -> None:
    result = alignment_section(transformer)
    assert result.name == "alignment" and result.not_applicable is None
    json.dumps(result.numbers)
    numbers = result.numbers
    assert (numbers["examples"], numbers["examples_without_alignment"]) == (4, 8)
    assert numbers["gold_links"] == {"sure": 6 + 5 + 7 + 5, "possible": 7 + 5 + 7 + 5}
    # diagonal: identical to the gold except pair 0's target 3, linked to source 3 (possible, not sure):
    # |A| = |S| = 23, |A∩S| = 22, |A∩P| = 23 -> AER = 1 - 45/46
    assert numbers["diagonal"]["aer"] == pytest.approx(1 / 46)
    assert numbers["diagonal"]["recall"] == pytest.approx(22 / 23)
    assert set(numbers["heads"]) == set(numbers["layers"]) == {"decoder.0.cross", "decoder.1.cross"}
    every = [head[m]["aer"] for heads in numbers["heads"].values() for head in heads for m in ("argmax", "threshold")]
    every += [layer[m]["aer"] for layer in numbers["layers"].values() for m in ("argmax", "threshold")]
    every += [numbers["average"][m]["aer"] for m in ("argmax", "threshold")]
    assert numbers["best"]["aer"] == pytest.approx(min(every))
    assert set(result.figures) == {"alignment_aer", "alignment_example"}
    assert any("diagonal baseline" in line for line in result.summary)


def test_a_head_that_follows_the_gold_links_scores_zero_and_is_best(transformer: AnalysisContext,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    forced = dict(transformer.forced_attention())
    maps = list(forced["decoder.1.cross"])
    for index, example in enumerate(transformer.examples[:len(GOLD)]):
        source_of = {tgt: src for src, tgt in example.alignment.sure}  # one sure link per target word
        weights = maps[index].copy()
        for row, tgt_word in enumerate(example.tgt_word_of_piece[:-1]):
            weights[0, row] = 0.0
            weights[0, row, example.src_word_of_piece.index(source_of[tgt_word])] = 1.0  # first piece of the word
        maps[index] = weights
    forced["decoder.1.cross"] = maps
    monkeypatch.setattr(transformer, "forced_attention", lambda: forced)
    numbers = alignment_section(transformer).numbers
    assert numbers["heads"]["decoder.1.cross"][0]["argmax"] == {"aer": 0.0, "precision": 1.0, "recall": 1.0,
                                                               "links": 23}
    assert numbers["heads"]["decoder.1.cross"][0]["threshold"]["aer"] == 0.0
    assert (numbers["best"]["setting"], numbers["best"]["aer"]) == ("decoder.1.cross head 0", 0.0)


def test_section_reports_argmax_offsets_from_gold_per_layer_and_for_the_average(
        transformer: AnalysisContext) -> None:
    result = alignment_section(transformer)
    shift = result.numbers["shift"]
    assert set(shift["layers"]) == {"decoder.0.cross", "decoder.1.cross"}
    layers = shift["layers"]
    assert shift["best_layer"] == min(layers, key=lambda name: result.numbers["layers"][name]["argmax"]["aer"])
    for counts in [*layers.values(), shift["average"]]:
        assert counts["words"] == 23  # every target word of the four aligned pairs has one sure link
        assert counts["left"] + counts["on_gold"] + counts["right"] + counts["other"] == pytest.approx(1.0)
    # the diagonal differs from the gold only at pair 0's target 3, linked to source 3 where the sure gold is 2
    assert shift["diagonal"] == {"left": 0.0, "on_gold": 22 / 23, "right": 1 / 23, "other": 0.0, "words": 23,
                                 "direction": None}
    table = result.tables[1]
    assert [row[0] for row in table.rows] == ["decoder.0.cross (heads averaged)", "decoder.1.cross (heads averaged)",
                                              "average of all heads and layers", "diagonal baseline"]
    assert [row[-1] for row in table.rows] == [23, 23, 23, 23]
    assert sum("argmax links land" in line for line in result.summary) == 2  # the best layer and the average


def test_attention_one_source_word_right_of_gold_is_reported_as_a_shift_to_the_right(
        transformer: AnalysisContext, monkeypatch: pytest.MonkeyPatch) -> None:
    forced = dict(transformer.forced_attention())
    for name in ("decoder.0.cross", "decoder.1.cross"):
        maps = list(forced[name])
        for index, example in enumerate(transformer.examples[:len(GOLD)]):
            source_of = {tgt: src for src, tgt in example.alignment.sure}  # one sure link per target word
            last_word = example.src_word_of_piece[-2]
            weights = np.zeros_like(maps[index])
            for row, tgt_word in enumerate(example.tgt_word_of_piece[:-1]):  # every head, every piece of the word
                weights[:, row, example.src_word_of_piece.index(min(source_of[tgt_word] + 1, last_word))] = 1.0
            weights[:, -1, -1] = 1.0  # the row that predicts EOS, read by no word
            maps[index] = weights
        forced[name] = maps
    monkeypatch.setattr(transformer, "forced_attention", lambda: forced)
    result = alignment_section(transformer)
    # Of the 23 target words, 4 have their gold on the last source word (the final "."): there the link stays on
    # gold; the other 19 land one source word to the right.
    expected = {"left": 0.0, "on_gold": 4 / 23, "right": 19 / 23, "other": 0.0, "words": 23, "direction": "right"}
    shift = result.numbers["shift"]
    assert shift["layers"]["decoder.0.cross"] == shift["layers"]["decoder.1.cross"] == shift["average"] == expected
    assert any(line.startswith("average of all heads and layers: argmax links land one source word to the right "
                               "of gold for 83% of 23 target words") for line in result.summary)


def test_forced_cross_attention_row_t_is_the_step_that_produces_target_piece_t(
        transformer: AnalysisContext, tmp_path: Path) -> None:
    # The row read for target piece t must be the decoding step whose input is piece t - 1 (BOS for t = 0):
    # stepping the decoder over BOS + the reference gives the same rows in the same order.
    rnn = tiny_analysis_context(tmp_path, RNN_MODEL_CONFIG)
    for context in (transformer, rnn):
        names = [name for name in context.modules if name.endswith("cross")]
        forced = context.forced_attention()
        for index, example in enumerate(context.examples[:4]):
            src = torch.tensor([[*example.src_ids, EOS_ID]])
            state = context.model.encode(src, src != PAD_ID)
            steps = []
            with torch.no_grad():
                for token in [BOS_ID, *example.tgt_ids]:
                    _, state, attention = context.model.decode_step(torch.tensor([token]), state)  # (1, L, H, S)
                    steps.append(attention[0])
            stepped = torch.stack(steps, dim=2).numpy()  # (L, H, T + 1, S + 1)
            for layer, name in enumerate(names):
                np.testing.assert_allclose(forced[name][index], stepped[layer], atol=1e-5)


def test_a_gold_link_beyond_the_sentence_names_the_example_and_its_lengths(transformer: AnalysisContext) -> None:
    broken = Alignment(sure=frozenset({(9, 0)}), possible=frozenset({(9, 0)}))
    examples = [transformer.examples[0], make_examples(transformer.tokenizer, [PAIRS[1][0]], [PAIRS[1][1]],
                                                       [broken])[0]]
    context = AnalysisContext(model=transformer.model, tokenizer=transformer.tokenizer, examples=examples, device=CPU)
    with pytest.raises(NMTError, match="example 1 has the gold link 9-0 but its source has 5 words and its "
                                       "reference 5"):
        alignment_section(context)


def test_without_gold_alignments_the_section_says_how_to_get_some(transformer: AnalysisContext) -> None:
    examples = make_examples(transformer.tokenizer, [s for s, _ in PAIRS], [t for _, t in PAIRS])
    context = AnalysisContext(model=transformer.model, tokenizer=transformer.tokenizer, examples=examples,
                              device=CPU)
    result = alignment_section(context)
    assert "alignments=FILE" in result.not_applicable and "data=sample" in result.not_applicable


def test_rnn_section_scores_its_one_attention(tmp_path: Path) -> None:
    context = tiny_analysis_context(tmp_path, RNN_MODEL_CONFIG, gold_alignments(tmp_path))
    result = alignment_section(context)
    assert result.not_applicable is None
    assert len(result.numbers["heads"]["cross"]) == 1
    assert result.numbers["diagonal"]["aer"] == pytest.approx(1 / 46)
    assert set(result.figures) == {"alignment_example"}  # no layer x head grid for one head


def test_rnn_without_attention_is_not_applicable(tmp_path: Path) -> None:
    context = tiny_analysis_context(tmp_path, {**RNN_MODEL_CONFIG, "attention": "none"}, gold_alignments(tmp_path))
    result = alignment_section(context)
    assert result.not_applicable is not None and "no attention" in result.not_applicable


def test_the_gold_alignment_against_itself_has_aer_zero() -> None:
    gold = parse_pharaoh("0-0 1-2 2-1 3?3 4-4")
    counts = count_links(gold.sure, gold)
    assert (counts.aer, counts.precision, counts.recall) == (0.0, 1.0, 1.0)
