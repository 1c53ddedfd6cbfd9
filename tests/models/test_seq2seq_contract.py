"""The Seq2Seq contract, checked on every preset and the main variants (see conftest.VARIANTS)."""

from __future__ import annotations

import pytest
import torch
from model_fixtures import padded_batch, tiny_model
from torch import Tensor

from nmt.data.batching import Batch, collate
from nmt.models import Seq2Seq
from nmt.tokens import BOS_ID, PAD_ID
from nmt.training.loss import label_smoothed_loss

SOURCES = [[5, 6, 7, 8, 9, 10, 3], [11, 12, 3], [4, 3]]
TARGETS = [[BOS_ID, 9, 8, 7, 6], [BOS_ID, 12, 11], [BOS_ID, 13, 4, 4, 4]]


def batch():
    src, src_mask = padded_batch(SOURCES)
    tgt_in, _ = padded_batch(TARGETS)
    return src, src_mask, tgt_in


def step_through(model: Seq2Seq, src, src_mask, tgt_in):
    """logits (B, T, V) and attn_weights (B, T, L, H, S) from decode_step, one position at a time."""
    state = model.encode(src, src_mask)
    logits, weights = [], []
    for position in range(tgt_in.size(1)):
        step_logits, state, attn_weights = model.decode_step(tgt_in[:, position], state)
        logits.append(step_logits)
        weights.append(attn_weights)
    return torch.stack(logits, dim=1), torch.stack(weights, dim=1)


def test_decode_step_reproduces_forward(variant_model):
    src, src_mask, tgt_in = batch()
    with torch.no_grad():
        expected = variant_model(src, src_mask, tgt_in)  # (B, T, V)
        stepped, _ = step_through(variant_model, src, src_mask, tgt_in)
    assert stepped.dtype == expected.dtype == torch.float32
    torch.testing.assert_close(stepped, expected, atol=1e-5, rtol=0)


def test_decode_step_without_weights_gives_the_same_logits(variant_model):
    src, src_mask, tgt_in = batch()
    with torch.no_grad():
        stepped, _ = step_through(variant_model, src, src_mask, tgt_in)
        state, logits = variant_model.encode(src, src_mask), []
        for position in range(tgt_in.size(1)):
            step_logits, state, attn_weights = variant_model.decode_step(tgt_in[:, position], state,
                                                                         need_weights=False)
            assert attn_weights is None
            logits.append(step_logits)
    torch.testing.assert_close(torch.stack(logits, dim=1), stepped, atol=1e-6, rtol=0)


def test_sentence_alone_equals_sentence_in_padded_batch(variant_model):
    src, src_mask, tgt_in = batch()
    with torch.no_grad():
        batched = variant_model(src, src_mask, tgt_in)  # (B, T, V)
        for row, (source, target) in enumerate(zip(SOURCES, TARGETS)):
            alone_src, alone_mask = padded_batch([source])
            alone_tgt, _ = padded_batch([target])
            alone = variant_model(alone_src, alone_mask, alone_tgt)  # (1, T_i, V)
            torch.testing.assert_close(batched[row, : len(target)], alone[0], atol=1e-5, rtol=0)


def test_padded_source_positions_may_hold_anything(variant_model):
    src, src_mask, tgt_in = batch()
    noisy_src = src.masked_fill(~src_mask, 7)
    with torch.no_grad():
        torch.testing.assert_close(variant_model(noisy_src, src_mask, tgt_in), variant_model(src, src_mask, tgt_in),
                                   atol=1e-6, rtol=0)


def training_step(model: Seq2Seq, batch: Batch, precision: str) -> tuple[Tensor, dict[str, Tensor]]:
    """Loss and parameter gradients of one training step, under bf16 autocast for precision "bf16"."""
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        logits = model(batch.src, batch.src_mask, batch.tgt_in)  # (B, T, V)
    loss, _ = label_smoothed_loss(logits, batch.tgt_out, smoothing=0.1)
    loss.backward()
    return loss.detach(), {name: parameter.grad for name, parameter in model.named_parameters()}


@pytest.mark.parametrize("precision", ["32", "bf16"])
@pytest.mark.parametrize("preset", ["transformer", "rnn_bahdanau", "rnn_luong"])
def test_one_width_padding_of_either_side_leaves_a_training_steps_loss_and_gradients_unchanged(preset, precision):
    """What bf16 training on a CPU runs: train mode (dropout 0, so neither batch draws masks), autocast, the loss."""
    no_dropout = dict(dropout=0.0) | (dict(attention_dropout=0.0, activation_dropout=0.0) if preset == "transformer"
                                      else {})
    model = tiny_model(preset, **no_dropout).train()
    tolerance = dict(atol=1e-5, rtol=1e-5) if precision == "32" else dict(atol=1e-2, rtol=2e-2)
    longer_source = ([[5, 6, 7, 8, 9, 10], [11, 12]], [[9, 8], [12, 11, 4]])
    longer_target = ([[5, 6], [11]], [[9, 8, 7, 6, 5], [12, 11]])
    for sources, targets in (longer_source, longer_target):
        tight = collate(sources, targets, [0, 1])
        wide = collate(sources, targets, [0, 1], one_width=True)
        assert wide.src.shape == wide.tgt_in.shape and (tight.src.shape, tight.tgt_in.shape) != (wide.src.shape,) * 2
        expected_loss, expected_gradients = training_step(model, tight, precision)
        loss, gradients = training_step(model, wide, precision)
        torch.testing.assert_close(loss, expected_loss, **tolerance)
        for name, gradient in expected_gradients.items():
            torch.testing.assert_close(gradients[name], gradient, **tolerance, msg=name)


def test_every_parameter_gets_a_gradient(variant_model):
    src, src_mask, tgt_in = batch()
    variant_model.train()
    variant_model(src, src_mask, tgt_in).logsumexp(dim=-1).sum().backward()
    missing = [name for name, parameter in variant_model.named_parameters()
               if parameter.grad is None or not parameter.grad.abs().sum() > 0]
    assert missing == []


def test_attention_weights_cover_real_source_positions_only(variant_model):
    src, src_mask, tgt_in = batch()
    with torch.no_grad():
        _, weights = step_through(variant_model, src, src_mask, tgt_in)  # (B, T, L, H, S)
    assert weights.dim() == 5 and weights.shape[0] == src.size(0) and weights.shape[-1] == src.size(1)
    assert torch.all(weights[~src_mask[:, None, None, None, :].expand_as(weights)] == 0)
    totals = weights.sum(dim=-1)
    # Models with attention give distributions; the attention-free baseline reports zeros.
    assert torch.allclose(totals, torch.ones_like(totals)) or torch.all(totals == 0)


def test_selected_state_continues_like_the_selected_rows(variant_model):
    src, src_mask, tgt_in = batch()
    indices = torch.tensor([2, 0, 0, 1])  # reorder and expand, as beam search does
    with torch.no_grad():
        state = variant_model.encode(src, src_mask)
        _, state, _ = variant_model.decode_step(tgt_in[:, 0], state)
        logits, _, weights = variant_model.decode_step(tgt_in[:, 1], state)
        _, state_again, _ = variant_model.decode_step(tgt_in[:, 0], variant_model.encode(src, src_mask))
        selected_logits, _, selected_weights = variant_model.decode_step(
            tgt_in[indices, 1], state_again.select(indices)
        )
    torch.testing.assert_close(selected_logits, logits[indices], atol=1e-6, rtol=0)
    torch.testing.assert_close(selected_weights, weights[indices], atol=1e-6, rtol=0)


def test_same_sources_selection_reorders_beams_without_copying_the_source(variant_model):
    src, src_mask, tgt_in = batch()
    expand = torch.tensor([0, 0, 1, 1])  # two beams per sentence
    swap = torch.tensor([1, 0, 3, 2])  # beams reordered within their sentences
    with torch.no_grad():
        state = variant_model.encode(src, src_mask).select(expand)
        _, state, _ = variant_model.decode_step(tgt_in[expand, 0] + torch.tensor([0, 1, 0, 1]), state)
        logits, _, weights = variant_model.decode_step(tgt_in[expand, 1], state)
        kept = state.select(swap, same_sources=True)
        swapped_logits, _, swapped_weights = variant_model.decode_step(tgt_in[expand, 1][swap], kept)
    torch.testing.assert_close(swapped_logits, logits[swap], atol=1e-6, rtol=0)
    torch.testing.assert_close(swapped_weights, weights[swap], atol=1e-6, rtol=0)
    assert kept.src_mask is state.src_mask  # the source side is shared, not copied


def test_decode_step_leaves_its_input_state_unchanged(variant_model):
    src, src_mask, tgt_in = batch()
    with torch.no_grad():
        state = variant_model.encode(src, src_mask)
        first, _, _ = variant_model.decode_step(tgt_in[:, 0], state)
        variant_model.decode_step(tgt_in[:, 0], state)
        again, _, _ = variant_model.decode_step(tgt_in[:, 0], state)
    torch.testing.assert_close(again, first, atol=0, rtol=0)


def test_all_padding_source_gives_finite_logits(variant_model):
    src, src_mask, tgt_in = batch()
    src_mask = src_mask.clone()
    src_mask[1] = False
    src = src.masked_fill(~src_mask, PAD_ID)
    with torch.no_grad():
        stepped, _ = step_through(variant_model, src, src_mask, tgt_in)
        logits = variant_model(src, src_mask, tgt_in)
    assert torch.isfinite(stepped).all() and torch.isfinite(logits).all()
