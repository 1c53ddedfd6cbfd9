"""Source coverage under greedy translation: the measures by hand, the decoding it reads, the section end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_checkpoint import MODEL_CONFIG, PAIRS, RNN_MODEL_CONFIG, tiny_analysis_context

from nmt.analysis import coverage as coverage_module
from nmt.analysis.alignment import parse_pharaoh
from nmt.analysis.core import AnalysisContext, make_examples
from nmt.analysis.coverage import (
    coverage_section,
    dropped_source_words,
    greedy_attention,
    immediate_repetitions,
    point_biserial,
    source_coverage,
    surplus_repetitions,
)
from nmt.analysis.words import word_count
from nmt.models.inspection import weights_hooks

CPU = torch.device("cpu")
# Gold links of the first four PAIRS; source word 3 of pair 0 (the second "a") has none.
GOLD = ["0-0 1-1 2-2 2-3 4-4 5-5", "0-0 1-1 2-2 3-3 4-4", "0-0 1-1 2-2 3-3 4-4 5-5 6-6", "0-0 1-1 2-2 3-3 4-4"]


def with_gold(context: AnalysisContext) -> AnalysisContext:
    alignments = [parse_pharaoh(line) for line in GOLD] + [None] * (len(PAIRS) - len(GOLD))
    examples = make_examples(context.tokenizer, [s for s, _ in PAIRS], [t for _, t in PAIRS], alignments)
    return AnalysisContext(model=context.model, tokenizer=context.tokenizer, examples=examples, device=CPU,
                           batch_tokens=60)


@pytest.fixture(scope="module")
def transformer(tmp_path_factory: pytest.TempPathFactory) -> AnalysisContext:
    return tiny_analysis_context(tmp_path_factory.mktemp("transformer"), MODEL_CONFIG)


def test_coverage_sums_hypothesis_rows_and_word_pieces_without_eos() -> None:
    attention = np.array([[0.1, 0.2, 0.3, 0.4],
                          [0.6, 0.0, 0.4, 0.0],
                          [1.0, 0.0, 0.0, 0.0]])  # (T' + 1, S + 1); the last row emits EOS and is left out
    # column sums of rows 0-1: [0.7, 0.2, 0.7, 0.4]; word 0 = pieces 0 and 1, word 1 = piece 2, EOS dropped
    np.testing.assert_allclose(source_coverage(attention, [0, 0, 1, -1]), [0.9, 0.7])


def test_repetitions_count_words_beyond_the_reference_and_immediate_repeats() -> None:
    # the: 3 in the hypothesis, 2 in the reference -> 1 surplus; dog: 2 vs 1 -> 1; cat: once
    assert surplus_repetitions(["the", "dog", "the", "dog", "the", "cat"], ["the", "dog", "and", "the", "cat"]) == 2
    assert surplus_repetitions(["a", "a"], ["b"]) == 1  # a word absent from the reference counts once
    assert surplus_repetitions(["du", "pain", "et", "du", "fromage"], ["du", "pain", "et", "du", "fromage"]) == 0
    assert immediate_repetitions(["the", "the", "dog", "dog", "dog", "."]) == 3
    assert immediate_repetitions([]) == 0


def test_a_source_word_is_dropped_when_none_of_its_aligned_words_is_translated() -> None:
    alignment = parse_pharaoh("0-0 1-1 2-2 2?3 4-4")  # source word 3 has no link
    dropped, aligned = dropped_source_words(alignment, num_src_words=5,
                                            reference_words=["un", "homme", "fait", "du", "vélo"],
                                            hypothesis_words=["un", "chien", "fait"])
    assert dropped.tolist() == [False, True, False, False, True]  # homme and vélo missing; fait covers word 2
    assert aligned.tolist() == [True, True, True, False, True]


def test_point_biserial_is_pearson_with_a_binary_variable() -> None:
    flags, values = np.array([True, True, False, False]), np.array([3.0, 1.0, 2.0, 0.0])
    # M1 = 2, M0 = 1, population sd = sqrt(1.25), p = 1/2: r = (1 / sqrt(1.25)) * 1/2 = 1 / sqrt(5)
    assert point_biserial(flags, values) == pytest.approx(1 / math.sqrt(5))
    assert point_biserial(flags, values) == pytest.approx(np.corrcoef(flags, values)[0, 1])
    assert point_biserial(np.ones(4, bool), values) is None
    assert point_biserial(flags, np.ones(4)) is None


def test_greedy_attention_is_the_context_translation_and_uniform_attention_covers_by_piece_count(
        transformer: AnalysisContext) -> None:
    context = AnalysisContext(model=transformer.model, tokenizer=transformer.tokenizer,
                              examples=transformer.examples[:4], device=CPU, batch_tokens=30)  # several batches
    decoded = greedy_attention(context)
    assert [hypothesis for hypothesis, _ in decoded] == context.translate()

    def uniform(weights: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        real = torch.ones_like(weights) if mask is None else mask.expand_as(weights).to(weights.dtype)
        return real / real.sum(-1, keepdim=True)

    cross = {name: uniform for name in context.modules if name.endswith(".cross")}
    with weights_hooks(context.model, cross):
        decoded = greedy_attention(context)
    for example, (_, attention) in zip(context.examples, decoded):
        assert attention.shape[1] == len(example.src_ids) + 1
        pieces_per_word = np.bincount(example.src_word_of_piece[:-1])  # (Ws,)
        hypothesis_pieces = attention.shape[0] - 1
        np.testing.assert_allclose(source_coverage(attention, example.src_word_of_piece),
                                   hypothesis_pieces * pieces_per_word / attention.shape[1], rtol=1e-5)


def test_transformer_section_without_alignments_reports_coverage_and_repetition(
        transformer: AnalysisContext) -> None:
    result = coverage_section(transformer)
    assert result.name == "coverage" and result.not_applicable is None
    json.dumps(result.numbers)
    numbers = result.numbers
    words = sum(word_count(example.src_word_of_piece) for example in transformer.examples)
    assert numbers["source_words"] == sum(numbers["histogram"]["counts"]) == words
    assert 0 <= numbers["under_covered_share"] + numbers["over_covered_share"] <= 1
    assert numbers["dropped"] is None
    assert any("need gold alignments" in line for line in result.summary)
    assert set(result.figures) == {"coverage_histogram"}


def test_section_relates_coverage_to_dropped_and_repeated_words(transformer: AnalysisContext,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Hypotheses = references except pair 0 without "homme" and pair 5 saying "femme" twice; attention gives
    each source word coverage 1, except "man" of pair 0 (0, dropped) and every word of pair 5 (2)."""
    context = with_gold(transformer)

    def scripted(context: AnalysisContext) -> list[tuple[str, np.ndarray]]:
        results = []
        for index, example in enumerate(context.examples):
            num_pieces, num_words = len(example.src_word_of_piece), word_count(example.src_word_of_piece)
            attention = np.zeros((num_words * (2 if index == 5 else 1) + 1, num_pieces))  # + the EOS row
            for row in range(attention.shape[0] - 1):
                word = row % num_words
                column = num_pieces - 1 if (index, word) == (0, 1) else example.src_word_of_piece.index(word)
                attention[row, column] = 1.0
            hypothesis = {0: "un fait du vélo .", 5: "une femme femme chante ."}.get(index, example.ref)
            results.append((hypothesis, attention))
        return results

    monkeypatch.setattr(coverage_module, "greedy_attention", scripted)
    numbers = coverage_section(context).numbers
    words = numbers["source_words"]
    assert words == 75
    assert numbers["under_covered_share"] == pytest.approx(1 / words)
    assert numbers["over_covered_share"] == pytest.approx(4 / words)  # "a woman sings ."
    # coverage of the 4 words in the repeating sentence: 2; of the other 71: seventy 1s and one 0
    mean, second_moment = (4 * 2 + 70) / words, (4 * 4 + 70) / words
    expected_r = (2 - 70 / 71) / math.sqrt(second_moment - mean**2) * math.sqrt(4 / words * 71 / words)
    assert numbers["repetition"] == {
        "sentences_with_repetition": 1, "surplus_words": 1, "immediate_repetitions": 1,
        "over_covered_share_with_repetition": 1.0, "over_covered_share_without_repetition": 0.0,
        "point_biserial": pytest.approx(expected_r)}
    assert numbers["dropped"] == {"examples": 4, "aligned_source_words": 22, "unaligned_source_words": 1,
                                  "dropped_words": 1, "dropped_rate_under_covered": 1.0, "dropped_rate_other": 0.0,
                                  "point_biserial": pytest.approx(-1.0)}


def test_rnn_section_reports_coverage(tmp_path: Path) -> None:
    context = with_gold(tiny_analysis_context(tmp_path, RNN_MODEL_CONFIG))
    result = coverage_section(context)
    assert result.not_applicable is None
    assert result.numbers["source_words"] == sum(word_count(e.src_word_of_piece) for e in context.examples)
    assert result.numbers["dropped"]["aligned_source_words"] == 22


def test_rnn_without_attention_is_not_applicable(tmp_path: Path) -> None:
    result = coverage_section(tiny_analysis_context(tmp_path, {**RNN_MODEL_CONFIG, "attention": "none"}))
    assert result.not_applicable is not None and "no attention" in result.not_applicable
