"""The shared measurements of an analysis: word spans of pieces, forced attention shapes, hooked decoding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_checkpoint import PAIRS, build_tiny_checkpoint

from nmt.analysis.core import AnalysisContext, make_examples, words_of_pieces
from nmt.inference.translation import load_for_translation


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> AnalysisContext:
    path = build_tiny_checkpoint(tmp_path_factory.mktemp("tiny"))
    _, model, tokenizer = load_for_translation(path, device=torch.device("cpu"))
    examples = make_examples(tokenizer, [s for s, _ in PAIRS], [t for _, t in PAIRS])
    return AnalysisContext(model=model, tokenizer=tokenizer, examples=examples, device=torch.device("cpu"),
                           batch_tokens=60)


def test_pieces_are_grouped_into_the_words_they_spell() -> None:
    assert words_of_pieces(["▁the", "▁lit", "tle", "▁girl", "▁", "."]) == [0, 1, 1, 2, 3, 3]
    assert words_of_pieces(["ab", "c", "▁d"]) == [0, 0, 1]


def test_every_word_of_an_example_owns_at_least_one_piece(context: AnalysisContext) -> None:
    for example in context.examples:
        assert sorted(set(example.src_word_of_piece[:-1])) == list(range(len(example.src.split())))
        assert sorted(set(example.tgt_word_of_piece[:-1])) == list(range(len(example.ref.split())))


def test_forced_attention_has_one_distribution_per_position_and_matches_across_batching(
        context: AnalysisContext) -> None:
    forced = context.forced_attention()
    assert set(forced) == {"encoder.0.self", "encoder.1.self", "decoder.0.self", "decoder.0.cross",
                           "decoder.1.self", "decoder.1.cross"}
    for index, example in enumerate(context.examples):
        s, t = len(example.src_ids) + 1, len(example.tgt_ids) + 1
        assert forced["encoder.0.self"][index].shape == (2, s, s)
        assert forced["decoder.1.cross"][index].shape == (2, t, s)
        assert forced["decoder.0.self"][index].shape == (2, t, t)
        np.testing.assert_allclose(forced["decoder.1.cross"][index].sum(-1), 1.0, rtol=1e-5)
    alone = AnalysisContext(model=context.model, tokenizer=context.tokenizer, examples=context.examples[3:4],
                            device=torch.device("cpu"))
    np.testing.assert_allclose(alone.forced_attention()["decoder.1.cross"][0], forced["decoder.1.cross"][3],
                               rtol=1e-5, atol=1e-6)


def test_hooks_change_measurements_without_touching_the_cached_ones(context: AnalysisContext) -> None:
    plain = context.reference_log_probs().copy()

    def uniform(weights: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        real = torch.ones_like(weights) if mask is None else mask.expand_as(weights).to(weights.dtype)
        return real / real.sum(-1, keepdim=True).clamp_min(1)

    hooked = context.reference_log_probs({"decoder.1.cross": uniform})
    assert not np.allclose(hooked, plain)
    np.testing.assert_array_equal(context.reference_log_probs(), plain)
    assert len(context.translate()) == len(context.examples)


def test_an_rnn_that_attends_once_per_step_records_every_step(tmp_path) -> None:
    from tiny_checkpoint import RNN_MODEL_CONFIG

    path = build_tiny_checkpoint(tmp_path, model_config=RNN_MODEL_CONFIG)
    _, model, tokenizer = load_for_translation(path, device=torch.device("cpu"))
    examples = make_examples(tokenizer, [s for s, _ in PAIRS[:3]], [t for _, t in PAIRS[:3]])
    forced = AnalysisContext(model=model, tokenizer=tokenizer, examples=examples,
                             device=torch.device("cpu")).forced_attention()
    for index, example in enumerate(examples):
        assert forced["cross"][index].shape == (1, len(example.tgt_ids) + 1, len(example.src_ids) + 1)


def test_pairs_longer_than_the_model_accepts_are_left_out(context: AnalysisContext) -> None:
    long_source = " ".join(["a man rides a bike ."] * 20)  # beyond the tiny model's 64 positions
    kept = make_examples(context.tokenizer, [long_source, PAIRS[0][0]], ["x", PAIRS[0][1]], model=context.model)
    assert [example.src for example in kept] == [PAIRS[0][0]]
