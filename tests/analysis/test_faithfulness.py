"""Faithfulness: uniform and permuted cross-attention, all layers and each alone; KL as worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from tiny_checkpoint import PAIRS, RNN_MODEL_CONFIG, build_tiny_checkpoint

from nmt.analysis.core import AnalysisContext, make_examples
from nmt.analysis.faithfulness import faithfulness_section, mean_kl_per_token
from nmt.analysis.interventions import uniform_weights
from nmt.inference.translation import load_for_translation


def tiny_context(directory, *, seed: int = 0, **model_config) -> AnalysisContext:
    path = build_tiny_checkpoint(directory, **model_config)
    _, model, tokenizer = load_for_translation(path, device=torch.device("cpu"))
    examples = make_examples(tokenizer, [s for s, _ in PAIRS[:6]], [t for _, t in PAIRS[:6]])
    return AnalysisContext(model=model, tokenizer=tokenizer, examples=examples, device=torch.device("cpu"), seed=seed)


@pytest.fixture(scope="module")
def transformer(tmp_path_factory: pytest.TempPathFactory) -> AnalysisContext:
    return tiny_context(tmp_path_factory.mktemp("transformer"))


def reference_tokens(context: AnalysisContext) -> int:
    return sum(len(example.tgt_ids) + 1 for example in context.examples)


def test_kl_is_averaged_over_every_target_position() -> None:
    original = [np.log(np.array([[0.5, 0.5], [0.9, 0.1]]))]
    altered = [np.log(np.array([[0.25, 0.75], [0.9, 0.1]]))]
    by_hand = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert mean_kl_per_token(original, altered) == pytest.approx(by_hand / 2)
    assert mean_kl_per_token(original, original) == 0.0


def test_all_layers_and_each_layer_alone_are_replaced_both_ways(transformer: AnalysisContext) -> None:
    result = faithfulness_section(transformer)
    rows = result.numbers["settings"]
    assert result.name == "faithfulness" and result.not_applicable is None
    assert [(row["layers"], row["alteration"]) for row in rows] == [
        (layers, alteration) for layers in ("all", "decoder.0.cross", "decoder.1.cross")
        for alteration in ("uniform", "permuted")]
    baseline = result.numbers["baseline"]
    assert baseline["log_prob_per_token"] == pytest.approx(transformer.reference_log_probs().sum()
                                                           / reference_tokens(transformer), rel=1e-5)
    uniform_all = rows[0]
    hooks = {"decoder.0.cross": uniform_weights, "decoder.1.cross": uniform_weights}
    assert uniform_all["log_prob_per_token"] == pytest.approx(
        transformer.reference_log_probs(hooks).sum() / reference_tokens(transformer), rel=1e-5)
    assert uniform_all["bleu"] == transformer.bleu(transformer.translate(hooks))
    assert all(row["kl_per_token"] > 0 for row in rows)
    assert len(result.tables[0].rows) == 7
    drops_bleu = min(rows[0]["delta_bleu"], rows[1]["delta_bleu"]) <= -1.0
    moves_output = max(rows[0]["kl_per_token"], rows[1]["kl_per_token"]) >= 0.1
    assert result.numbers["attends"] == ("bleu" if drops_bleu else "distribution" if moves_output else "no")
    assert result.summary[-1].startswith("faithfulness: ")


def test_permutations_follow_the_seed(transformer: AnalysisContext, tmp_path) -> None:
    first = faithfulness_section(transformer).numbers["settings"]
    again = faithfulness_section(transformer).numbers["settings"]
    assert first == again
    reseeded = AnalysisContext(model=transformer.model, tokenizer=transformer.tokenizer,
                               examples=transformer.examples, device=torch.device("cpu"), seed=7)
    other = faithfulness_section(reseeded).numbers["settings"]
    assert other[0] == pytest.approx(first[0])  # uniform weights draw nothing
    assert other[1]["log_prob_per_token"] != pytest.approx(first[1]["log_prob_per_token"])


def test_the_rnn_attention_is_its_one_cross_attention(tmp_path) -> None:
    context = tiny_context(tmp_path, model_config=RNN_MODEL_CONFIG)
    result = faithfulness_section(context)
    rows = result.numbers["settings"]
    assert [(row["layers"], row["alteration"]) for row in rows] == [("all", "uniform"), ("all", "permuted")]
    assert rows[0]["log_prob_per_token"] == pytest.approx(
        context.reference_log_probs({"cross": uniform_weights}).sum() / reference_tokens(context), rel=1e-5)
    assert rows[0]["kl_per_token"] > 0


def test_a_model_without_attention_is_not_applicable(tmp_path) -> None:
    context = tiny_context(tmp_path, model_config={**RNN_MODEL_CONFIG, "attention": "none"})
    assert "no attention" in faithfulness_section(context).not_applicable
