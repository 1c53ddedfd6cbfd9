"""Attention: additive (Bahdanau), multiplicative (Luong) and multi-head scaled dot-product (Vaswani).

Every module takes `(query, key, value, mask)` and returns `(context, attn_weights)`.
Masks are bool with True = real key (may be attended); the weights are exactly 0 on
masked keys and every row with at least one real key sums to 1. A row whose keys are
all masked gets all-zero weights and a zero context rather than NaN.

Keys that can be projected once per source sentence (`project_keys`) are projected in the
model's `encode` and travel inside the decoder state; nothing is cached on a module.

Every module has a `weights_hook` (None by default): a function that receives the weights
after the softmax, as (B, H, T, S) with the mask that made them, and returns the weights
to use instead (same shape). Analysis sets it to record weights, mask heads or replace
attention (nmt/models/inspection.py); while one is set, weights are always computed explicitly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nmt.errors import NMTError
from nmt.models import checks
from nmt.models.dropout import dropout

FEW_QUERIES = 8  # up to this many queries per row, MultiHeadAttention in eval mode computes attention explicitly
LuongScore = Literal["dot", "general", "concat"]
LUONG_SCORES: tuple[str, ...] = ("dot", "general", "concat")

WeightsHook = Callable[[Tensor, "Tensor | None"], Tensor]
"""(attn_weights (B, H, T, S), bool mask broadcastable to it or None) -> the weights to use, same shape."""


def masked_softmax(scores: Tensor, mask: Tensor | None) -> Tensor:
    """Softmax over the last dim, exactly 0 where `mask` (broadcastable bool) is False.

    A fully masked row is NaN after the softmax (0/0); the second fill turns it into zeros.
    """
    if mask is None:
        return scores.softmax(dim=-1)
    weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)
    return weights.masked_fill(~mask, 0.0)


def _weighted_sum(scores: Tensor, value: Tensor, mask: Tensor, hook: WeightsHook | None) -> tuple[Tensor, Tensor]:
    """scores (B, T, S), value (B, S, Dv), mask (B, S) -> context (B, T, Dv), attn_weights (B, T, S)."""
    attn_weights = masked_softmax(scores, mask.unsqueeze(1))  # (B, T, S)
    if hook is not None:  # seen as one head: (B, 1, T, S)
        attn_weights = hook(attn_weights.unsqueeze(1), mask[:, None, None, :]).squeeze(1)
    return torch.bmm(attn_weights, value), attn_weights  # (B, T, Dv)


class AdditiveAttention(nn.Module):
    """Bahdanau et al. 2015, App. A.1.2: score(s, h_j) = v^T tanh(W s + U h_j).

    `U h_j` does not depend on the decoder step, so `project_keys` computes it once per
    sentence (in `encode`); each step then costs one small matmul for `W s`.
    """

    def __init__(self, *, query_dim: int, key_dim: int, attention_dim: int) -> None:
        super().__init__()
        self.key_proj = nn.Linear(key_dim, attention_dim, bias=False)  # U
        self.query_proj = nn.Linear(query_dim, attention_dim)  # W (its bias is the only one needed)
        # No bias on v: a constant added to every score cancels in the softmax and would get no gradient.
        self.score_proj = nn.Linear(attention_dim, 1, bias=False)  # v
        self.weights_hook: WeightsHook | None = None

    def project_keys(self, key: Tensor) -> Tensor:
        """key (B, S, Dk) -> U key (B, S, Da), once per source sentence."""
        return self.key_proj(key)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """query (B, Dq) or (B, T, Dq); key (B, S, Da) from `project_keys`; value (B, S, Dv); mask (B, S).

        Returns context (B, [T,] Dv) and attn_weights (B, [T,] S).
        """
        single_step = query.dim() == 2
        queries = query.unsqueeze(1) if single_step else query  # (B, T, Dq)
        energy = torch.tanh(self.query_proj(queries).unsqueeze(2) + key.unsqueeze(1))  # (B, T, S, Da)
        scores = self.score_proj(energy).squeeze(-1)  # (B, T, S)
        context, attn_weights = _weighted_sum(scores, value, mask, self.weights_hook)
        if single_step:
            return context.squeeze(1), attn_weights.squeeze(1)  # (B, Dv), (B, S)
        return context, attn_weights


class MultiplicativeAttention(nn.Module):
    """Luong et al. 2015, 3.1, scores between the decoder state h_t and encoder states h_s:

        dot:     score = h_t^T h_s
        general: score = h_t^T W_a h_s
        concat:  score = v_a^T tanh(W_a [h_t; h_s])   (W_a split into query and key blocks)

    For `general` and `concat` the key-side product is computed once per sentence by `project_keys`.
    """

    def __init__(self, *, score: LuongScore, query_dim: int, key_dim: int, attention_dim: int) -> None:
        super().__init__()
        checks.choice("score", score, LUONG_SCORES)
        if score == "dot" and query_dim != key_dim:
            raise NMTError(
                f"model.score=dot needs the decoder state ({query_dim}) and encoder states ({key_dim}) "
                "to have the same size: use model.score=general or concat, or match the sizes."
            )
        self.score = score
        self.key_proj: nn.Linear | None = None
        self.query_proj: nn.Linear | None = None
        self.score_proj: nn.Linear | None = None
        if score == "general":
            self.key_proj = nn.Linear(key_dim, query_dim, bias=False)  # W_a
        elif score == "concat":
            self.key_proj = nn.Linear(key_dim, attention_dim, bias=False)  # W_a, key block
            self.query_proj = nn.Linear(query_dim, attention_dim, bias=False)  # W_a, query block
            self.score_proj = nn.Linear(attention_dim, 1, bias=False)  # v_a
        self.weights_hook: WeightsHook | None = None

    def project_keys(self, key: Tensor) -> Tensor:
        """key (B, S, Dk) -> (B, S, Dq) for dot/general, (B, S, Da) for concat; once per sentence."""
        return key if self.key_proj is None else self.key_proj(key)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """query (B, Dq) or (B, T, Dq); key from `project_keys`; value (B, S, Dv); mask (B, S).

        Returns context (B, [T,] Dv) and attn_weights (B, [T,] S).
        """
        single_step = query.dim() == 2
        queries = query.unsqueeze(1) if single_step else query  # (B, T, Dq)
        if self.query_proj is not None and self.score_proj is not None:  # concat
            energy = torch.tanh(self.query_proj(queries).unsqueeze(2) + key.unsqueeze(1))  # (B, T, S, Da)
            scores = self.score_proj(energy).squeeze(-1)  # (B, T, S)
        else:
            scores = torch.bmm(queries, key.transpose(1, 2))  # (B, T, S)
        context, attn_weights = _weighted_sum(scores, value, mask, self.weights_hook)
        if single_step:
            return context.squeeze(1), attn_weights.squeeze(1)  # (B, Dv), (B, S)
        return context, attn_weights


def _explicit_is_faster(q: Tensor, *, training: bool) -> bool:
    """Whether two batched matmuls beat `F.scaled_dot_product_attention` for queries q (B, H, T, Dh) on a CPU.

    They do for a few queries per row at inference (a decoding step: one per row, or one per beam
    of a sentence; 2-3x), and for bfloat16 in training too: the fused kernel has no dropout on a
    CPU, and its fallback computes in float32 (1.07x a whole Transformer update with attention
    dropout, 1.65x without, 2-core Xeon with AMX).
    """
    if q.device.type != "cpu":
        return False
    return (not training and q.size(2) <= FEW_QUERIES) or (training and q.dtype in (torch.bfloat16, torch.float16))


class MultiHeadAttention(nn.Module):
    """Vaswani et al. 2017, 3.2: MultiHead(Q, K, V) = Concat(head_1..head_H) W^O,
    head_i = softmax(Q W_i^Q (K W_i^K)^T / sqrt(Dh)) V W_i^V.

    The three input projections are one (3D, D) matrix, as in torch.nn.MultiheadAttention:
    self-attention projects Q, K and V with one matmul; cross-attention projects Q with the
    first block and K, V of the encoder output with the other two, once per sentence.
    The fast path is `F.scaled_dot_product_attention`; when weights are asked for, and for a
    few queries per row (decoding steps, where the fused CPU kernel is slower), the same
    computation is written out, which returns the weights per head (average over dim 1 for one map).
    """

    def __init__(self, *, d_model: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        checks.positive("num_heads", num_heads)
        checks.probability("attention_dropout", dropout)
        if d_model % num_heads != 0:
            raise NMTError(
                f"model.d_model={d_model} is not divisible by model.num_heads={num_heads}: "
                "pick a head count that divides d_model."
            )
        self.d_model = d_model
        self.num_heads = num_heads
        self.dropout = dropout
        self.in_proj = nn.Linear(d_model, 3 * d_model)  # [W^Q; W^K; W^V]
        self.out_proj = nn.Linear(d_model, d_model)  # W^O
        self.weights_hook: WeightsHook | None = None

    def _split_heads(self, x: Tensor) -> Tensor:
        batch_size, length, _ = x.shape
        return x.view(batch_size, length, self.num_heads, -1).transpose(1, 2)  # (B, H, T, Dh)

    def project_qkv(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Self-attention: x (B, T, D) -> q, k, v, each (B, H, T, Dh), with one matmul."""
        q, k, v = self.in_proj(x).chunk(3, dim=-1)  # 3 x (B, T, D)
        return self._split_heads(q), self._split_heads(k), self._split_heads(v)

    def project_query(self, x: Tensor) -> Tensor:
        """x (B, T, D) -> q (B, H, T, Dh) with the W^Q block."""
        d = self.d_model
        return self._split_heads(F.linear(x, self.in_proj.weight[:d], self.in_proj.bias[:d]))

    def project_key_value(self, memory: Tensor) -> tuple[Tensor, Tensor]:
        """Cross-attention: memory (B, S, D) -> k, v, each (B, H, S, Dh) and contiguous, with one matmul.

        Contiguous once here: every decoding step multiplies by them, and a strided head view would
        be copied by each of those matmuls again.
        """
        d = self.d_model
        k, v = F.linear(memory, self.in_proj.weight[d:], self.in_proj.bias[d:]).chunk(2, dim=-1)
        return self._split_heads(k).contiguous(), self._split_heads(v).contiguous()

    def attend(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        mask: Tensor | None,
        *,
        is_causal: bool = False,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """q (B, H, T, Dh), k and v (B, H, S, Dh), mask bool broadcastable to (B, H, T, S) or None.

        is_causal: query t sees keys <= t (T == S). Returns output (B, T, D) after W^O and
        attn_weights (B, H, T, S) when need_weights, else None.
        """
        dropout_p = self.dropout if self.training else 0.0
        hook = self.weights_hook
        if need_weights or hook is not None or _explicit_is_faster(q, training=self.training):
            if is_causal:
                length = q.size(2)
                causal_mask = torch.ones(length, length, dtype=torch.bool, device=q.device).tril()
                mask = causal_mask if mask is None else mask & causal_mask  # (B, H, T, T)
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (B, H, T, S)
            # training in bfloat16: the softmax and its gradient in float32, as the fused kernel's fallback has them
            scores = scores.to(torch.promote_types(scores.dtype, torch.float32)) if self.training else scores
            attn_weights = masked_softmax(scores, mask).to(v.dtype)  # (B, H, T, S)
            if hook is not None:
                attn_weights = hook(attn_weights, mask)
            context = dropout(attn_weights, dropout_p, self.training) @ v  # (B, H, T, Dh)
            attn_weights = attn_weights if need_weights else None
        else:
            # A row with every key masked comes back as zeros, not NaN (torch >= 2.5).
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=is_causal)
            attn_weights = None
        batch_size, _, length, _ = context.shape
        context = context.transpose(1, 2).reshape(batch_size, length, self.d_model)  # (B, T, D)
        return self.out_proj(context), attn_weights

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        mask: Tensor | None,
        *,
        is_causal: bool = False,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """query (B, T, D), key and value (B, S, D), mask (B, S) key padding (True = real) or None.

        Returns output (B, T, D) and attn_weights (B, H, T, S) or None. Self-attention (query is
        key is value) uses the fused QKV projection, cross-attention (key is value) the fused KV one.
        """
        if query is key and key is value:
            q, k, v = self.project_qkv(query)
        elif key is value:
            q = self.project_query(query)
            k, v = self.project_key_value(key)
        else:
            d = self.d_model
            weight, bias = self.in_proj.weight, self.in_proj.bias
            q = self._split_heads(F.linear(query, weight[:d], bias[:d]))
            k = self._split_heads(F.linear(key, weight[d : 2 * d], bias[d : 2 * d]))
            v = self._split_heads(F.linear(value, weight[2 * d :], bias[2 * d :]))
        key_mask = None if mask is None else mask[:, None, None, :]  # (B, 1, 1, S)
        return self.attend(q, k, v, key_mask, is_causal=is_causal, need_weights=need_weights)
