"""Head statistics: entropy, confidence, sink mass and positional heads, by hand and on tiny checkpoints."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_checkpoint import MODEL_CONFIG, RNN_MODEL_CONFIG, tiny_analysis_context

from nmt.analysis.core import AnalysisContext
from nmt.analysis.heads import KINDS, head_statistics, heads_section, kind_of, neighbour_hits, row_entropy

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def transformer(tmp_path_factory: pytest.TempPathFactory) -> AnalysisContext:
    return tiny_analysis_context(tmp_path_factory.mktemp("transformer"), MODEL_CONFIG)


@pytest.fixture(scope="module")
def rnn(tmp_path_factory: pytest.TempPathFactory) -> AnalysisContext:
    return tiny_analysis_context(tmp_path_factory.mktemp("rnn"), RNN_MODEL_CONFIG)


def test_entropy_is_in_nats_and_zero_for_a_one_hot_row() -> None:
    rows = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.25, 0.25, 0.5]])
    np.testing.assert_allclose(row_entropy(rows), [math.log(2), 0.0, 1.5 * math.log(2)])


def test_neighbour_hits_count_queries_whose_argmax_is_adjacent() -> None:
    # one head, 4 queries: argmax keys 1, 0, 0, 2 -> offsets +1, -1, -2, -1
    weights = np.eye(4)[[1, 0, 0, 2]][None]  # (1, 4, 4)
    hits, eligible = neighbour_hits(weights, (-1, 1))
    assert (hits.tolist(), eligible) == ([3], 4)
    hits, eligible = neighbour_hits(weights, (-1,))  # query 0 has no previous key, so 3 queries count
    assert (hits.tolist(), eligible) == ([2], 3)


def test_encoder_statistics_of_a_positional_and_a_uniform_head() -> None:
    positional = np.eye(3)[[1, 2, 1]]  # rows attend the next key, the last one the previous key
    uniform = np.full((3, 3), 1 / 3)
    stats = head_statistics([np.stack([positional, uniform])], KINDS["encoder_self"])
    np.testing.assert_allclose(stats.entropy, [0.0, math.log(3)])
    np.testing.assert_allclose(stats.confidence, [1.0, 1 / 3])
    np.testing.assert_allclose(stats.sink_mass, [1 / 3, 1 / 3])  # the EOS column: row 1 of head 0; 1/3 everywhere
    np.testing.assert_allclose(stats.neighbour_share, [1.0, 1 / 3])  # uniform argmax = key 0: only query 1 hits
    assert stats.positional.tolist() == [True, False]
    assert stats.rows == 3 and stats.uniform_entropy == pytest.approx(math.log(3))


def test_decoder_self_attention_leaves_out_the_first_row_and_uses_bos_as_sink() -> None:
    causal = np.array([[1.0, 0.0, 0.0], [0.6, 0.4, 0.0], [0.0, 1.0, 0.0]])[None]  # (1, 3, 3)
    stats = head_statistics([causal], KINDS["decoder_self"])
    # rows 1 and 2 only: entropies H(0.6, 0.4) and 0, max weights 0.6 and 1, BOS weights 0.6 and 0
    h = -(0.6 * math.log(0.6) + 0.4 * math.log(0.4))
    np.testing.assert_allclose(stats.entropy, [h / 2])
    np.testing.assert_allclose(stats.confidence, [0.8])
    np.testing.assert_allclose(stats.sink_mass, [0.3])
    np.testing.assert_allclose(stats.neighbour_share, [1.0])  # both argmaxes sit at offset -1
    assert stats.uniform_entropy == pytest.approx((math.log(2) + math.log(3)) / 2)


def test_module_names_map_to_their_attention_kind() -> None:
    assert [kind_of(name).name for name in ("encoder.0.self", "decoder.1.self", "decoder.1.cross", "cross")] == [
        "encoder_self", "decoder_self", "cross", "cross"]


def test_transformer_section_reports_every_head_and_a_grid_per_attention_type(transformer: AnalysisContext) -> None:
    result = heads_section(transformer)
    assert result.name == "heads" and result.not_applicable is None
    json.dumps(result.numbers)
    modules = result.numbers["modules"]
    assert set(modules) == set(transformer.modules)
    for name, numbers in modules.items():
        assert len(numbers["entropy"]) == 2
        # a head can never be more spread out than uniform over the keys it may attend
        assert max(numbers["entropy"]) <= numbers["uniform_entropy"] + 1e-6
        assert all(0 < value <= 1 for value in numbers["confidence"])
        assert ("neighbour_share" in numbers) == name.endswith(".self")
    kinds = result.numbers["kinds"]
    assert {kind: counts["heads"] for kind, counts in kinds.items()} == {
        "encoder_self": 4, "decoder_self": 4, "cross": 4}
    assert set(result.figures) == {"heads_encoder_self", "heads_decoder_self", "heads_cross"}
    assert len(result.figures["heads_encoder_self"].axes) == 2 * 4  # 4 statistics, each with its colour bar
    assert len(result.figures["heads_cross"].axes) == 2 * 3  # no neighbour panel for cross-attention
    confidences = [row[2] for row in result.tables[0].rows]
    assert confidences == sorted(confidences, reverse=True) and len(confidences) == 10


def test_a_head_that_attends_the_next_piece_is_counted_positional(transformer: AnalysisContext,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    forced = dict(transformer.forced_attention())
    shifted = []
    for weights in forced["encoder.0.self"]:
        size = weights.shape[-1]
        weights = weights.copy()
        weights[1] = np.eye(size)[np.minimum(np.arange(size) + 1, size - 1)]  # head 1: next key; the last row itself
        shifted.append(weights)
    forced["encoder.0.self"] = shifted
    monkeypatch.setattr(transformer, "forced_attention", lambda: forced)
    result = heads_section(transformer)
    assert result.numbers["modules"]["encoder.0.self"]["positional"][1] is True
    assert result.numbers["kinds"]["encoder_self"]["positional_heads"] == 1
    assert result.numbers["kinds"]["encoder_self"]["positional_share"] == pytest.approx(0.25)
    assert result.tables[0].rows[0][:3] == ["encoder.0.self", 1, 1.0]  # one-hot rows: the most confident head


def test_rnn_section_reports_its_one_head_without_a_grid(rnn: AnalysisContext) -> None:
    result = heads_section(rnn)
    assert list(result.numbers["modules"]) == ["cross"]
    cross = result.numbers["modules"]["cross"]
    assert len(cross["entropy"]) == 1
    assert cross["rows"] == sum(len(example.tgt_ids) + 1 for example in rnn.examples)  # every target position
    assert result.figures == {}
    assert "one attention" in result.text and "one head" in result.text


def test_rnn_without_attention_is_not_applicable(tmp_path: Path) -> None:
    context = tiny_analysis_context(tmp_path, {**RNN_MODEL_CONFIG, "attention": "none"})
    result = heads_section(context)
    assert result.not_applicable is not None and "no attention" in result.not_applicable
    assert result.numbers == {} and result.figures == {}
