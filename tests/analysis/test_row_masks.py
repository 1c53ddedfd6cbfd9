"""Head masks per row: copies of a batch, each with its own heads masked, equal one setting at a time."""

from __future__ import annotations

import pytest
import torch
from models.model_fixtures import padded_batch, tiny_model

from nmt.analysis.interventions import mask_heads
from nmt.analysis.row_masks import RowMaskedModel, keep_per_row, share_batches
from nmt.inference.decoding import greedy_search
from nmt.models.inspection import attention_modules, num_heads, weights_hooks
from nmt.tokens import BOS_ID, EOS_ID

SOURCES = [[5, 6, 7, 8, 9, 10, EOS_ID], [11, 12, EOS_ID], [4, 13, 6, 7, EOS_ID], [8, 8, 9, 10, 11, EOS_ID]]
TARGET_IN = torch.tensor([[BOS_ID, 5, 6, 7], [BOS_ID, 11, 12, 0], [BOS_ID, 4, 13, 6], [BOS_ID, 8, 9, 0]])
# Mixed on purpose: encoder and decoder heads, two heads of one module, heads of two modules, nothing masked.
TRANSFORMER_SETTINGS = [
    [("encoder.0.self", 1)], [("decoder.0.self", 0)], [("decoder.1.cross", 1)],
    [("decoder.0.cross", 0), ("decoder.0.cross", 1)], [("encoder.1.self", 0), ("decoder.1.self", 1)], [],
]
RNN_SETTINGS = [[("cross", 0)], []]


def heads_of(model) -> dict[str, int]:
    return {name: num_heads(module) for name, module in attention_modules(model).items()}


def one_setting_hooks(setting) -> dict:
    by_module: dict[str, list[int]] = {}
    for name, head in setting:
        by_module.setdefault(name, []).append(head)
    return {name: mask_heads(heads) for name, heads in by_module.items()}


def masked_copies(model, settings, src, src_mask) -> tuple[RowMaskedModel, torch.Tensor, torch.Tensor]:
    keep = keep_per_row(settings, heads_of(model), rows_per_copy=src.size(0))
    copies = len(settings)
    return RowMaskedModel(model, keep, copies=copies), src.repeat(copies, 1), src_mask.repeat(copies, 1)


@pytest.mark.parametrize(("preset", "settings"), [("transformer", TRANSFORMER_SETTINGS), ("rnn_bahdanau", RNN_SETTINGS),
                                                  ("rnn_luong", RNN_SETTINGS)])
def test_greedy_search_with_a_mask_per_row_equals_one_setting_at_a_time(preset: str, settings) -> None:
    model = tiny_model(preset, seed=3)
    src, src_mask = padded_batch(SOURCES)
    expected = []
    for setting in settings:
        with weights_hooks(model, one_setting_hooks(setting)):
            expected.append(greedy_search(model, src, src_mask, max_len_a=1.0, max_len_b=3))
    wrapped, copied_src, copied_mask = masked_copies(model, settings, src, src_mask)
    batched = greedy_search(wrapped, copied_src, copied_mask, max_len_a=1.0, max_len_b=3)
    for copy, hypotheses in enumerate(expected):
        for row, hypothesis in enumerate(hypotheses):
            got = batched[copy * len(SOURCES) + row]
            assert got.tokens == hypothesis.tokens
            assert got.score == pytest.approx(hypothesis.score, abs=1e-5)
    # Not a vacuous comparison: the masks change the scores, and rows finish at different steps.
    assert len({round(hypotheses[0].score, 4) for hypotheses in expected}) == len(settings)
    assert len({len(h.tokens) for h in batched}) > 1


@pytest.mark.parametrize(("preset", "settings"), [("transformer", TRANSFORMER_SETTINGS), ("rnn_luong", RNN_SETTINGS)])
def test_teacher_forcing_with_a_mask_per_row_equals_one_setting_at_a_time(preset: str, settings) -> None:
    model = tiny_model(preset, seed=3)
    src, src_mask = padded_batch(SOURCES)
    wrapped, copied_src, copied_mask = masked_copies(model, settings, src, src_mask)
    with torch.no_grad():
        batched = wrapped(copied_src, copied_mask, TARGET_IN.repeat(len(settings), 1))  # (C * n, T, V)
        for copy, setting in enumerate(settings):
            with weights_hooks(model, one_setting_hooks(setting)):
                expected = model(src, src_mask, TARGET_IN)
            torch.testing.assert_close(batched[copy * len(SOURCES): (copy + 1) * len(SOURCES)], expected,
                                       atol=1e-5, rtol=0)


def test_keep_rows_mask_each_copy_with_its_own_heads() -> None:
    keep = keep_per_row([[("a", 1)], [("b", 0), ("a", 0)], []], {"a": 2, "b": 3, "c": 2}, rows_per_copy=2)
    assert list(keep) == ["a", "b"]  # module order; nothing masks c, so it gets no hook
    assert keep["a"].tolist() == [[1, 0], [1, 0], [0, 1], [0, 1], [1, 1], [1, 1]]
    assert keep["b"].tolist() == [[1, 1, 1]] * 2 + [[0, 1, 1]] * 2 + [[1, 1, 1]] * 2
    with pytest.raises(ValueError, match="head 2 does not exist in a"):
        keep_per_row([[("a", 2)]], {"a": 2}, rows_per_copy=1)


def test_only_settings_that_hook_the_same_modules_share_a_batch() -> None:
    settings = [[("a", 0)], [("a", 1)], [("b", 0)], [("a", 0), ("b", 1)], [("a", 1)], [("b", 1), ("a", 1)]]
    assert list(share_batches(settings, max_copies=2)) == [[0, 1], [4], [2], [3, 5]]
