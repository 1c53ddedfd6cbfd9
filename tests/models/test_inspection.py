"""Attention hooks: names cover every attention module, hooks see real weights, changing them changes the output."""

from __future__ import annotations

import pytest
import torch
from model_fixtures import VARIANTS, padded_batch, tiny_model

from nmt.errors import NMTError
from nmt.models.inspection import attention_modules, in_encoder, num_heads, weights_hooks
from nmt.tokens import BOS_ID

SOURCES = [[5, 6, 7, 8, 3], [9, 10, 3]]
TARGET_IN = torch.tensor([[BOS_ID, 5, 6, 7], [BOS_ID, 9, 10, 11]])


def test_names_follow_the_architecture() -> None:
    transformer = tiny_model("transformer")
    assert list(attention_modules(transformer)) == [
        "encoder.0.self", "encoder.1.self", "decoder.0.self", "decoder.0.cross", "decoder.1.self", "decoder.1.cross"]
    assert [num_heads(module) for module in attention_modules(transformer).values()] == [2] * 6
    assert list(attention_modules(tiny_model("rnn_bahdanau"))) == ["cross"]
    assert attention_modules(tiny_model("rnn_plain")) == {}
    assert [in_encoder(name) for name in attention_modules(transformer)] == [True, True, False, False, False, False]
    assert not in_encoder("cross")


@pytest.mark.parametrize("variant", [name for name in VARIANTS if not name.startswith("rnn_plain")])
def test_identity_hooks_record_distributions_and_change_nothing(variant: str) -> None:
    preset, overrides = VARIANTS[variant]
    model = tiny_model(preset, **overrides)
    src, src_mask = padded_batch(SOURCES)
    with torch.no_grad():
        expected = model(src, src_mask, TARGET_IN)
        seen: dict[str, torch.Tensor] = {}

        def recorder(name: str):
            def hook(weights: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
                seen[name] = weights.clone()
                return weights
            return hook

        with weights_hooks(model, {name: recorder(name) for name in attention_modules(model)}):
            logits = model(src, src_mask, TARGET_IN)
    torch.testing.assert_close(logits, expected)
    assert set(seen) == set(attention_modules(model))
    for name, weights in seen.items():
        assert weights.dim() == 4 and weights.size(0) == 2
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))
        if not name.endswith(".self") or name.startswith("encoder"):  # keys are source positions
            assert torch.all(weights[1, ..., 3:] == 0)  # the second sentence's padding gets nothing


def test_masking_a_head_changes_the_output_and_hooks_are_removed_after() -> None:
    model = tiny_model("transformer")
    src, src_mask = padded_batch(SOURCES)

    def drop_head_0(weights: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        weights = weights.clone()
        weights[:, 0] = 0
        return weights

    with torch.no_grad():
        expected = model(src, src_mask, TARGET_IN)
        with weights_hooks(model, {"decoder.1.cross": drop_head_0}):
            masked = model(src, src_mask, TARGET_IN)
        after = model(src, src_mask, TARGET_IN)
    assert not torch.allclose(masked, expected)
    torch.testing.assert_close(after, expected)
    assert all(module.weights_hook is None for module in attention_modules(model).values())


def test_hooks_act_in_decoding_steps_too() -> None:
    model = tiny_model("rnn_bahdanau")
    src, src_mask = padded_batch(SOURCES)
    calls = []

    def uniform(weights: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        calls.append(weights.shape)
        real = mask.expand_as(weights).float()
        return real / real.sum(-1, keepdim=True)

    with torch.no_grad(), weights_hooks(model, {"cross": uniform}):
        state = model.encode(src, src_mask)
        _, _, attn_weights = model.decode_step(torch.full((2,), BOS_ID), state)
    assert calls == [torch.Size([2, 1, 1, 5])]
    torch.testing.assert_close(attn_weights[1, 0, 0], torch.tensor([1 / 3, 1 / 3, 1 / 3, 0, 0]))


def test_an_unknown_name_is_refused_with_the_names_there_are() -> None:
    model = tiny_model("rnn_luong")
    with pytest.raises(NMTError, match="no attention module named decoder.9.cross .* it has cross"), \
            weights_hooks(model, {"decoder.9.cross": lambda weights, mask: weights}):
        pass
