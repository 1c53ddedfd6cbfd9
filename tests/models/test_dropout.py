"""The CPU dropout drops at the rate asked, scales the rest, and is governed by torch's seed."""

import pytest
import torch

from nmt.models.dropout import Dropout, keep_mask


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_drop_rate_matches_p(p):
    torch.manual_seed(0)
    keep = keep_mask(torch.Size([400, 1000]), p)
    assert abs((1 - keep.float().mean().item()) - p) < 0.005  # 400k draws: the standard error is < 0.001


def test_kept_values_are_scaled_and_gradient_uses_the_same_mask():
    torch.manual_seed(0)
    layer = Dropout(0.25).train()
    x = (torch.rand(64, 33) + 1.0).requires_grad_()  # never zero
    y = layer(x)
    kept = y != 0
    torch.testing.assert_close(y[kept], x.detach()[kept] / 0.75)
    y.sum().backward()
    torch.testing.assert_close(x.grad, kept.float() / 0.75)


def test_same_seed_same_mask_and_eval_is_identity():
    layer = Dropout(0.1).train()
    x = torch.ones(7, 11, 13)  # an odd count: the last random word is shared by fewer elements
    torch.manual_seed(3)
    first = layer(x)
    torch.manual_seed(3)
    assert torch.equal(first, layer(x))
    assert not torch.equal(first, layer(x))
    assert layer.eval()(x) is x
