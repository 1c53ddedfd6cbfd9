"""The hand-written label-smoothed cross-entropy equals autograd's through log_softmax."""

import pytest
import torch

from nmt.tokens import PAD_ID
from nmt.training import loss as loss_module
from nmt.training.loss import label_smoothed_loss


def reference_loss(logits, target, smoothing):
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    padding = target == PAD_ID
    nll = -log_probs.gather(-1, target.unsqueeze(-1)).squeeze(-1).masked_fill(padding, 0.0).sum()
    uniform = -log_probs.mean(dim=-1).masked_fill(padding, 0.0).sum()
    return (1 - smoothing) * nll + smoothing * uniform, nll


def logits_and_target(seed=0):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 7, 50, generator=generator) * 3
    target = torch.randint(4, 50, (3, 7), generator=generator)
    target[0, 5:] = PAD_ID
    target[2, 2:] = PAD_ID
    return logits, target


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_loss_and_gradient_match_autograd_reference(smoothing):
    logits, target = logits_and_target()
    ours = logits.clone().requires_grad_()
    theirs = logits.clone().requires_grad_()
    loss, nll = label_smoothed_loss(ours, target, smoothing=smoothing)
    ref_loss, ref_nll = reference_loss(theirs, target, smoothing)
    torch.testing.assert_close(loss, ref_loss)
    torch.testing.assert_close(nll, ref_nll)
    # both outputs feed the gradient, with different weights, as a combined objective would
    (0.7 * loss + 0.2 * nll).backward()
    (0.7 * ref_loss + 0.2 * ref_nll).backward()
    torch.testing.assert_close(ours.grad, theirs.grad)
    assert ours.grad[0, 5:].abs().sum() == 0  # padding positions get no gradient


def test_loss_and_gradient_are_the_same_when_the_rows_are_taken_a_few_at_a_time(monkeypatch):
    logits, target = logits_and_target(3)  # 21 rows of 50
    whole = logits.clone().requires_grad_()
    loss, nll = label_smoothed_loss(whole, target, smoothing=0.1)
    (loss + 0.5 * nll).backward()
    monkeypatch.setattr(loss_module, "CHUNK_ELEMENTS", 100)  # 2 rows per piece, the last piece 1 row
    pieces = logits.clone().requires_grad_()
    piece_loss, piece_nll = label_smoothed_loss(pieces, target, smoothing=0.1)
    (piece_loss + 0.5 * piece_nll).backward()
    torch.testing.assert_close(piece_loss, loss, rtol=0, atol=1e-4)
    torch.testing.assert_close(piece_nll, nll, rtol=0, atol=1e-4)
    assert torch.equal(pieces.grad, whole.grad)  # rows never mix: the same row gives the same gradient


def test_bf16_logits_give_bf16_gradient_close_to_fp32():
    logits, target = logits_and_target(1)
    half = logits.to(torch.bfloat16).requires_grad_()
    full = half.detach().float().requires_grad_()
    label_smoothed_loss(half, target, smoothing=0.1)[0].backward()
    label_smoothed_loss(full, target, smoothing=0.1)[0].backward()
    assert half.grad.dtype == torch.bfloat16
    torch.testing.assert_close(half.grad.float(), full.grad, atol=1e-2, rtol=1e-2)


def test_loss_without_gradient_tracking_gives_nll():
    logits, target = logits_and_target(2)
    with torch.no_grad():
        _, nll = label_smoothed_loss(logits, target, smoothing=0.0)
    torch.testing.assert_close(nll, reference_loss(logits, target, 0.0)[1])
