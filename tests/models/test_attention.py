"""Attention modules: weights are a distribution over real keys and equal a plain reference in float64."""

from __future__ import annotations

import math

import pytest
import torch

from nmt.errors import NMTError
from nmt.models.attention import AdditiveAttention, MultiHeadAttention, MultiplicativeAttention

B, T, S, DQ, DK, DA = 3, 4, 6, 5, 7, 8


def key_mask() -> torch.Tensor:
    lengths = torch.tensor([6, 3, 1])
    return torch.arange(S)[None, :] < lengths[:, None]  # (B, S)


def inputs(query_dim: int = DQ, key_dim: int = DK, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    query = torch.randn(B, T, query_dim, generator=generator, dtype=torch.float64)
    key = torch.randn(B, S, key_dim, generator=generator, dtype=torch.float64)
    value = torch.randn(B, S, key_dim, generator=generator, dtype=torch.float64)
    return query, key, value, key_mask()


def reference_attention(scores_fn, query, key, value, mask):
    """One query, one key at a time: score, softmax over the real keys, weighted sum."""
    context = torch.zeros(B, T, value.size(-1), dtype=torch.float64)
    weights = torch.zeros(B, T, S, dtype=torch.float64)
    for b in range(B):
        real = int(mask[b].sum())
        for t in range(T):
            scores = torch.stack([scores_fn(query[b, t], key[b, j]) for j in range(real)])
            weights[b, t, :real] = torch.softmax(scores, dim=0)
            context[b, t] = weights[b, t, :real] @ value[b, :real]
    return context, weights


def additive_module() -> AdditiveAttention:
    torch.manual_seed(0)
    return AdditiveAttention(query_dim=DQ, key_dim=DK, attention_dim=DA).double()


def luong_module(score: str) -> MultiplicativeAttention:
    torch.manual_seed(0)
    query_dim = DK if score == "dot" else DQ
    return MultiplicativeAttention(score=score, query_dim=query_dim, key_dim=DK, attention_dim=DA).double()


def additive_score(module):
    return lambda q, k: module.score_proj.weight[0] @ torch.tanh(
        module.query_proj.weight @ q + module.query_proj.bias + module.key_proj.weight @ k
    )


def luong_score(module: MultiplicativeAttention):
    if module.score == "dot":
        return lambda q, k: q @ k
    if module.score == "general":
        return lambda q, k: q @ (module.key_proj.weight @ k)
    return lambda q, k: module.score_proj.weight[0] @ torch.tanh(
        module.query_proj.weight @ q + module.key_proj.weight @ k
    )


RNN_ATTENTIONS = ["additive", "dot", "general", "concat"]


def rnn_attention(name: str):
    module = additive_module() if name == "additive" else luong_module(name)
    return module, additive_score(module) if name == "additive" else luong_score(module)


@pytest.mark.parametrize("name", RNN_ATTENTIONS)
def test_rnn_attention_equals_reference_in_float64(name):
    module, score_fn = rnn_attention(name)
    query, key, value, mask = inputs(query_dim=DK if name == "dot" else DQ)
    context, weights = module(query, module.project_keys(key), value, mask)
    expected_context, expected_weights = reference_attention(score_fn, query, key, value, mask)
    torch.testing.assert_close(weights, expected_weights, atol=1e-6, rtol=0)
    torch.testing.assert_close(context, expected_context, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", RNN_ATTENTIONS)
def test_rnn_attention_weights_sum_to_one_and_are_exactly_zero_on_padding(name):
    module, _ = rnn_attention(name)
    query, key, value, mask = inputs(query_dim=DK if name == "dot" else DQ)
    _, weights = module(query, module.project_keys(key), value, mask)  # (B, T, S)
    assert weights.shape == (B, T, S)
    assert torch.all(weights[~mask.unsqueeze(1).expand_as(weights)] == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(B, T, dtype=torch.float64))


@pytest.mark.parametrize("name", RNN_ATTENTIONS)
def test_rnn_attention_ignores_what_padded_keys_hold(name):
    module, _ = rnn_attention(name)
    query, key, value, mask = inputs(query_dim=DK if name == "dot" else DQ)
    noisy_key, noisy_value = key.clone(), value.clone()
    noisy_key[~mask] = 100.0
    noisy_value[~mask] = -100.0
    context, _ = module(query, module.project_keys(key), value, mask)
    noisy_context, _ = module(query, module.project_keys(noisy_key), noisy_value, mask)
    torch.testing.assert_close(noisy_context, context, atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", RNN_ATTENTIONS)
def test_rnn_attention_one_step_equals_row_of_all_steps(name):
    module, _ = rnn_attention(name)
    query, key, value, mask = inputs(query_dim=DK if name == "dot" else DQ)
    keys = module.project_keys(key)
    context, weights = module(query, keys, value, mask)  # (B, T, Dv)
    step_context, step_weights = module(query[:, 2], keys, value, mask)  # (B, Dv)
    torch.testing.assert_close(step_context, context[:, 2], atol=1e-12, rtol=0)
    torch.testing.assert_close(step_weights, weights[:, 2], atol=1e-12, rtol=0)


def test_fully_masked_row_gives_zero_weights_not_nan():
    module = additive_module()
    query, key, value, _ = inputs()
    mask = torch.zeros(B, S, dtype=torch.bool)
    context, weights = module(query, module.project_keys(key), value, mask)
    assert torch.all(weights == 0) and torch.all(context == 0)


def test_unknown_luong_score_lists_the_valid_ones():
    with pytest.raises(NMTError, match="dot, general, concat"):
        MultiplicativeAttention(score="bilinear", query_dim=DQ, key_dim=DK, attention_dim=DA)


def test_dot_score_with_different_sizes_is_refused():
    with pytest.raises(NMTError, match="model.score=dot"):
        MultiplicativeAttention(score="dot", query_dim=DQ, key_dim=DK, attention_dim=DA)


# Multi-head attention

D, H = 8, 2


def multi_head(seed: int = 0) -> MultiHeadAttention:
    torch.manual_seed(seed)
    module = MultiHeadAttention(d_model=D, num_heads=H, dropout=0.0).double()
    torch.nn.init.normal_(module.in_proj.bias)  # nonzero biases, so the reference checks them too
    return module


def reference_multi_head(module, query, key, value, mask, causal):
    """Vaswani et al. 2017, 3.2.2, head by head with explicit weight blocks."""
    weight, bias, dh = module.in_proj.weight, module.in_proj.bias, D // H
    heads, all_weights = [], []
    for h in range(H):
        rows = slice(h * dh, (h + 1) * dh)
        q = query @ weight[:D][rows].T + bias[:D][rows]  # (B, T, Dh)
        k = key @ weight[D : 2 * D][rows].T + bias[D : 2 * D][rows]
        v = value @ weight[2 * D :][rows].T + bias[2 * D :][rows]
        scores = q @ k.transpose(1, 2) / math.sqrt(dh)  # (B, T, S)
        allowed = mask[:, None, :].expand_as(scores).clone()
        if causal:
            allowed &= torch.ones(scores.shape[1:], dtype=torch.bool).tril()
        weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
        heads.append(weights @ v)
        all_weights.append(weights)
    output = torch.cat(heads, dim=-1) @ module.out_proj.weight.T + module.out_proj.bias
    return output, torch.stack(all_weights, dim=1)  # (B, T, D), (B, H, T, S)


def mha_inputs(length: int = S):
    generator = torch.Generator().manual_seed(1)
    query = torch.randn(B, T, D, generator=generator, dtype=torch.float64)
    memory = torch.randn(B, length, D, generator=generator, dtype=torch.float64)
    return query, memory


@pytest.mark.parametrize("need_weights", [False, True], ids=["sdpa", "explicit"])
def test_cross_attention_equals_reference_in_float64(need_weights):
    module = multi_head()
    query, memory = mha_inputs()
    output, weights = module(query, memory, memory, key_mask(), need_weights=need_weights)
    expected, expected_weights = reference_multi_head(module, query, memory, memory, key_mask(), causal=False)
    torch.testing.assert_close(output, expected, atol=1e-6, rtol=0)
    if need_weights:
        torch.testing.assert_close(weights, expected_weights, atol=1e-6, rtol=0)
        assert torch.all(weights[~key_mask()[:, None, None, :].expand_as(weights)] == 0)
    else:
        assert weights is None


@pytest.mark.parametrize("need_weights", [False, True])
def test_one_query_per_row_equals_reference_and_gives_weights_only_when_asked(need_weights):
    # A decoding step (eval mode, one query) is computed without the fused kernel.
    module = multi_head().eval()
    query, memory = mha_inputs()
    output, weights = module(query[:, -1:], memory, memory, key_mask(), need_weights=need_weights)
    expected, expected_weights = reference_multi_head(module, query[:, -1:], memory, memory, key_mask(), causal=False)
    torch.testing.assert_close(output, expected, atol=1e-6, rtol=0)
    if need_weights:
        torch.testing.assert_close(weights, expected_weights, atol=1e-6, rtol=0)
    else:
        assert weights is None


@pytest.mark.parametrize("need_weights", [False, True], ids=["sdpa", "explicit"])
def test_causal_self_attention_equals_reference_in_float64(need_weights):
    module = multi_head()
    x, _ = mha_inputs()
    mask = torch.ones(B, T, dtype=torch.bool)
    output, weights = module(x, x, x, mask, is_causal=True, need_weights=need_weights)
    expected, expected_weights = reference_multi_head(module, x, x, x, mask, causal=True)
    torch.testing.assert_close(output, expected, atol=1e-6, rtol=0)
    if need_weights:
        torch.testing.assert_close(weights, expected_weights, atol=1e-6, rtol=0)


def test_separate_key_and_value_use_their_own_projections():
    module = multi_head()
    query, memory = mha_inputs()
    value = memory.flip(1)
    output, _ = module(query, memory, value, key_mask())
    expected, _ = reference_multi_head(module, query, memory, value, key_mask(), causal=False)
    torch.testing.assert_close(output, expected, atol=1e-6, rtol=0)


def test_causal_attention_never_looks_ahead():
    module = multi_head()
    x, _ = mha_inputs()
    changed = x.clone()
    changed[:, -1] += 5.0
    output, _ = module(x, x, x, None, is_causal=True)
    changed_output, _ = module(changed, changed, changed, None, is_causal=True)
    torch.testing.assert_close(changed_output[:, :-1], output[:, :-1], atol=1e-12, rtol=0)
    assert not torch.allclose(changed_output[:, -1], output[:, -1])


@pytest.mark.parametrize("need_weights", [False, True], ids=["sdpa", "explicit"])
def test_multi_head_fully_masked_source_gives_finite_output(need_weights):
    module = multi_head()
    query, memory = mha_inputs()
    output, _ = module(query, memory, memory, torch.zeros(B, S, dtype=torch.bool), need_weights=need_weights)
    assert torch.isfinite(output).all()


@pytest.mark.parametrize("causal", [False, True], ids=["cross", "causal-self"])
def test_bf16_training_attention_is_close_to_the_float64_reference_and_finite_on_masked_rows(causal):
    # Training under bfloat16 autocast on a CPU takes the written-out path (softmax in float32).
    module = multi_head().float().train()
    query, memory = (tensor.float() for tensor in mha_inputs())
    key, mask = (query, torch.ones(B, T, dtype=torch.bool)) if causal else (memory, key_mask())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output, _ = module(query, key, key, mask, is_causal=causal)
    assert output.dtype == torch.bfloat16
    expected, _ = reference_multi_head(multi_head(), query.double(), key.double(), key.double(), mask, causal=causal)
    torch.testing.assert_close(output.double(), expected, atol=0.1, rtol=0.02)
    output.float().sum().backward()
    assert torch.isfinite(module.in_proj.weight.grad).all() and module.in_proj.weight.grad.abs().sum() > 0
    with torch.autocast("cpu", dtype=torch.bfloat16):
        masked, _ = module(query, memory, memory, torch.zeros(B, S, dtype=torch.bool))
    assert torch.isfinite(masked).all()


def test_head_count_must_divide_model_width():
    with pytest.raises(NMTError, match="divisible"):
        MultiHeadAttention(d_model=10, num_heads=3, dropout=0.0)
