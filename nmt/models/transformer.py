"""Transformer encoder-decoder (Vaswani et al. 2017), pre-norm by default.

Pre-norm (layer norm before each sub-layer, plus a final one; Wang et al. 2019, "Learning Deep
Transformer Models for Machine Translation") trains stably without a long warm-up; post-norm is
the original paper's placement (3.1). Incremental decoding keeps a key/value cache: each
`decode_step` projects one new position per layer and appends it to the self-attention cache,
and cross-attention keys/values are projected once in `encode` and carried in the state, one
copy per source sentence: the K beams of a sentence attend to it as one group of K queries.
Beam search's reordering of the self-attention cache is held back until the next step, which
gathers the reordered rows and appends the new position in a single copy (`extend_cache`).

Initialisation (Vaswani et al.'s reference code tensor2tensor, and fairseq): Xavier-uniform
linear weights (each of W^Q, W^K, W^V separately, so the fused projection changes nothing), zero
biases, token and learned position embeddings N(0, d_model^-0.5) with a zero PAD row; the token
embedding is multiplied by sqrt(d_model) (3.4), which brings it to unit scale next to the positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import torch
from torch import Tensor, nn

from nmt.errors import NMTError
from nmt.models import checks
from nmt.models.attention import MultiHeadAttention
from nmt.models.dropout import Dropout
from nmt.models.seq2seq import Seq2Seq
from nmt.tokens import PAD_ID

NormPlacement = Literal["pre", "post"]
PositionKind = Literal["sinusoidal", "learned"]
TieEmbeddings = Literal["none", "decoder", "all"]


def sinusoidal_table(length: int, d_model: int) -> Tensor:
    """Vaswani et al. 2017, 3.5: PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(...)."""
    positions = torch.arange(length, dtype=torch.float32).unsqueeze(1)  # (T, 1)
    frequencies = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    table = torch.zeros(length, d_model)
    table[:, 0::2] = torch.sin(positions * frequencies)  # (T, D/2)
    table[:, 1::2] = torch.cos(positions * frequencies)
    return table  # (T, D)


class PositionalEncoding(nn.Module):
    """Position vectors for positions [start, start + length): fixed sinusoids or a learned table.

    Sinusoids are precomputed for `max_positions` and computed on the fly beyond, so any length
    works; a learned table (Gehring et al. 2017) cannot go past its size.
    """

    def __init__(self, *, kind: PositionKind, d_model: int, max_positions: int) -> None:
        super().__init__()
        self.kind = kind
        self.d_model = d_model
        self.max_positions = max_positions
        self.learned = nn.Embedding(max_positions, d_model) if kind == "learned" else None
        # Not persistent: a checkpoint need not carry what the code recomputes.
        self.register_buffer("sinusoids", sinusoidal_table(max_positions, d_model), persistent=False)

    def forward(self, start: int, length: int) -> Tensor:
        """-> (length, D)."""
        end = start + length
        if self.learned is not None:
            if end > self.max_positions:
                raise NMTError(
                    f"A sequence of {end} positions is longer than model.max_positions={self.max_positions} "
                    "(learned positions): raise model.max_positions or shorten the input/output length limits."
                )
            return self.learned.weight[start:end]
        if end > self.sinusoids.size(0):
            return sinusoidal_table(end, self.d_model).to(self.sinusoids)[start:end]
        return self.sinusoids[start:end]


class FeedForward(nn.Module):
    """Vaswani et al. 2017, 3.3: FFN(x) = max(0, x W_1 + b_1) W_2 + b_2."""

    def __init__(self, *, d_model: int, ff_dim: int, activation_dropout: float) -> None:
        super().__init__()
        self.linear_in = nn.Linear(d_model, ff_dim)
        self.linear_out = nn.Linear(ff_dim, d_model)
        self.dropout = Dropout(activation_dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear_out(self.dropout(torch.relu(self.linear_in(x))))


class _Layer(nn.Module):
    """What encoder and decoder layers share (Vaswani et al. 2017, 3.1): self-attention and feed-forward
    sublayers (plus cross-attention in the decoder), each with a residual connection and a layer norm."""

    has_cross_attention = False

    def __init__(
        self, *, d_model: int, num_heads: int, ff_dim: int, dropout: float, attention_dropout: float,
        activation_dropout: float, pre_norm: bool,
    ) -> None:
        super().__init__()
        self.pre_norm = pre_norm
        self.dropout = Dropout(dropout)
        self.self_attn = MultiHeadAttention(d_model=d_model, num_heads=num_heads, dropout=attention_dropout)
        self.self_attn_norm = nn.LayerNorm(d_model)
        if self.has_cross_attention:
            self.cross_attn = MultiHeadAttention(d_model=d_model, num_heads=num_heads, dropout=attention_dropout)
            self.cross_attn_norm = nn.LayerNorm(d_model)
        self.feed_forward = FeedForward(d_model=d_model, ff_dim=ff_dim, activation_dropout=activation_dropout)
        self.feed_forward_norm = nn.LayerNorm(d_model)

    def sublayer_input(self, norm: nn.LayerNorm, x: Tensor) -> Tensor:
        return norm(x) if self.pre_norm else x

    def add(self, norm: nn.LayerNorm, x: Tensor, update: Tensor) -> Tensor:
        """Residual connection (3.1, 5.4): x + Dropout(update), normalised after it in post-norm."""
        x = x + self.dropout(update)
        return x if self.pre_norm else norm(x)

    def feed_forward_sublayer(self, x: Tensor) -> Tensor:
        """The last sublayer of both layer kinds: x (B, T, D) -> (B, T, D)."""
        h = self.sublayer_input(self.feed_forward_norm, x)
        return self.add(self.feed_forward_norm, x, self.feed_forward(h))


class EncoderLayer(_Layer):
    """Self-attention then feed-forward (3.1)."""

    def forward(self, x: Tensor, key_mask: Tensor) -> Tensor:
        """x (B, S, D), key_mask (B, 1, 1, S) -> (B, S, D)."""
        h = self.sublayer_input(self.self_attn_norm, x)
        update, _ = self.self_attn.attend(*self.self_attn.project_qkv(h), key_mask)
        x = self.add(self.self_attn_norm, x, update)
        return self.feed_forward_sublayer(x)


class DecoderLayer(_Layer):
    """Causal self-attention, cross-attention over the encoder output, feed-forward (3.1)."""

    has_cross_attention = True

    def forward(
        self,
        x: Tensor,
        *,
        cross_kv: tuple[Tensor, Tensor],
        memory_mask: Tensor,
        self_cache: tuple[Tensor, Tensor] | None,
        need_weights: bool,
        rows_per_source: int = 1,
        self_cache_rows: Tensor | None = None,
    ) -> tuple[Tensor, tuple[Tensor, Tensor], Tensor | None]:
        """x (B, T, D); cross_kv 2 x (B / G, H, S, Dh); memory_mask (B / G, 1, 1, S), G = rows_per_source.

        self_cache None: teacher forcing over all T positions with a causal mask. Otherwise the
        keys/values (B, H, t, Dh) of the t earlier positions: x holds the next position (T = 1),
        which may attend to all of them, so no mask is needed; self_cache_rows (B,), when given,
        are the cache rows that x's rows continue. With G > 1 (decoding, T = 1) rows
        g * G ... g * G + G - 1 translate source g, and cross-attend to it as G queries at once.
        Returns x (B, T, D), the self-attention keys/values including x's, cross attn_weights
        (B, H, T, S) or None.
        """
        h = self.sublayer_input(self.self_attn_norm, x)
        q, k, v = self.self_attn.project_qkv(h)  # (B, H, T, Dh)
        if self_cache is not None:
            k = extend_cache(self_cache[0], self_cache_rows, k)  # (B, H, t+1, Dh)
            v = extend_cache(self_cache[1], self_cache_rows, v)
        update, _ = self.self_attn.attend(q, k, v, None, is_causal=self_cache is None)
        x = self.add(self.self_attn_norm, x, update)

        h = self.sublayer_input(self.cross_attn_norm, x)
        if rows_per_source > 1:
            h = h.reshape(-1, rows_per_source, h.size(-1))  # (B / G, G, D): a source's rows as its queries
        query = self.cross_attn.project_query(h)  # (B / G, H, T * G, Dh)
        update, attn_weights = self.cross_attn.attend(query, *cross_kv, memory_mask, need_weights=need_weights)
        if rows_per_source > 1:
            update = update.reshape(x.shape)  # (B, 1, D)
            if attn_weights is not None:  # (B / G, H, G, S) -> (B, H, 1, S)
                attn_weights = attn_weights.transpose(1, 2).reshape(x.size(0), -1, 1, attn_weights.size(-1))
        x = self.add(self.cross_attn_norm, x, update)

        return self.feed_forward_sublayer(x), (k, v), attn_weights


def extend_cache(cache: Tensor, rows: Tensor | None, new: Tensor) -> Tensor:
    """cache (B0, H, t, Dh), rows (B,) or None (all B0 = B rows in order), new (B, H, 1, Dh) -> (B, H, t+1, Dh).

    One copy of the cache: the selected rows are gathered straight into the new tensor, which
    takes new's dtype (under bf16 autocast the cache stays bf16, as its projections are).
    """
    cached = cache.size(2)
    extended = new.new_empty(new.size(0), new.size(1), cached + 1, new.size(3))
    if rows is None:
        extended[:, :, :cached] = cache
    else:
        torch.index_select(cache.to(new.dtype), 0, rows, out=extended[:, :, :cached])
    extended[:, :, cached:] = new
    return extended


@dataclass(frozen=True)
class TransformerState:
    """Decoder state: cross-attention keys/values (fixed) and the growing self-attention cache.

    The source side is held once per group of G = rows_per_source consecutive rows that
    translate the same sentence (beam search: its K beams), so expanding to K beams and
    reordering them copies only the self-attention cache, and that copy waits for the next
    step: `self_rows` names the cache rows each row continues.
    """

    src_mask: Tensor  # (B / G, S)
    cross_keys: tuple[Tensor, ...]  # per decoder layer (B / G, H, S, Dh)
    cross_values: tuple[Tensor, ...]  # per decoder layer (B / G, H, S, Dh)
    self_keys: tuple[Tensor, ...]  # per decoder layer (B0, H, t, Dh), t = positions decoded so far
    self_values: tuple[Tensor, ...]  # per decoder layer (B0, H, t, Dh)
    step: int  # t: the position of the next target token
    rows_per_source: int = 1  # G: row r decodes the source of group r // G
    self_rows: Tensor | None = None  # (B,): row r continues cache row self_rows[r]; None: B = B0, in order

    def select(self, indices: Tensor, *, same_sources: bool = False) -> TransformerState:
        """Rows `indices` (B',) in that order: beam search reorders and expands with it (see DecoderState).

        The result keeps one source-side copy per run of selected rows from the same group when
        every run has the same length (as beam search selects), and one per row otherwise.
        """

        def pick(tensors: tuple[Tensor, ...], rows: Tensor) -> tuple[Tensor, ...]:
            return tuple(tensor.index_select(0, rows) for tensor in tensors)

        self_rows = indices if self.self_rows is None else self.self_rows.index_select(0, indices)
        if same_sources:
            return replace(self, self_rows=self_rows)
        sources = torch.div(indices, self.rows_per_source, rounding_mode="floor")  # (B',) group of each row
        groups, run_lengths = torch.unique_consecutive(sources, return_counts=True)
        if groups.numel() > 0 and bool((run_lengths == run_lengths[0]).all()):
            rows_per_source = int(run_lengths[0])
        else:
            groups, rows_per_source = sources, 1
        return TransformerState(
            src_mask=self.src_mask.index_select(0, groups),
            cross_keys=pick(self.cross_keys, groups),
            cross_values=pick(self.cross_values, groups),
            self_keys=self.self_keys,
            self_values=self.self_values,
            step=self.step,
            rows_per_source=rows_per_source,
            self_rows=self_rows,
        )


class Transformer(Seq2Seq):
    """Encoder-decoder Transformer (Vaswani et al. 2017) with tied embeddings (3.4, Press & Wolf 2017)."""

    def __init__(
        self,
        *,
        src_vocab_size: int,
        tgt_vocab_size: int,
        d_model: int,
        num_heads: int,
        num_encoder_layers: int,
        num_decoder_layers: int,
        ff_dim: int,
        dropout: float,
        attention_dropout: float,
        activation_dropout: float,
        norm: NormPlacement,
        positions: PositionKind,
        max_positions: int,
        scale_embeddings: bool,
        tie_embeddings: TieEmbeddings,
    ) -> None:
        super().__init__()
        for key, value in (("d_model", d_model), ("num_encoder_layers", num_encoder_layers),
                           ("num_decoder_layers", num_decoder_layers), ("ff_dim", ff_dim),
                           ("max_positions", max_positions)):
            checks.positive(key, value)
        for key, value in (("dropout", dropout), ("activation_dropout", activation_dropout)):
            checks.probability(key, value)
        checks.choice("norm", norm, ("pre", "post"))
        checks.choice("positions", positions, ("sinusoidal", "learned"))
        checks.boolean("scale_embeddings", scale_embeddings)
        checks.tie_embeddings(tie_embeddings, src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size)
        if positions == "sinusoidal" and d_model % 2:
            raise NMTError(f"model.d_model={d_model} must be even with model.positions=sinusoidal (sin/cos pairs).")

        self.d_model = d_model
        self.num_heads = num_heads
        self.pre_norm = norm == "pre"
        self.embedding_scale = math.sqrt(d_model) if scale_embeddings else 1.0
        self.tgt_embed = nn.Embedding(tgt_vocab_size, d_model, padding_idx=PAD_ID)
        self.src_embed = self.tgt_embed if tie_embeddings == "all" else nn.Embedding(
            src_vocab_size, d_model, padding_idx=PAD_ID
        )
        self.positions = PositionalEncoding(kind=positions, d_model=d_model, max_positions=max_positions)
        self.embed_dropout = Dropout(dropout)
        layer_args = dict(d_model=d_model, num_heads=num_heads, ff_dim=ff_dim, dropout=dropout,
                          attention_dropout=attention_dropout, activation_dropout=activation_dropout,
                          pre_norm=self.pre_norm)
        self.encoder_layers = nn.ModuleList(EncoderLayer(**layer_args) for _ in range(num_encoder_layers))
        self.decoder_layers = nn.ModuleList(DecoderLayer(**layer_args) for _ in range(num_decoder_layers))
        # Pre-norm leaves the residual stream unnormalised: one last norm on each side.
        self.encoder_norm = nn.LayerNorm(d_model) if self.pre_norm else nn.Identity()
        self.decoder_norm = nn.LayerNorm(d_model) if self.pre_norm else nn.Identity()
        self.output_proj = nn.Linear(d_model, tgt_vocab_size, bias=False)
        self._reset_parameters()
        if tie_embeddings != "none":
            self.output_proj.weight = self.tgt_embed.weight

    def _reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        for module in self.modules():
            if isinstance(module, MultiHeadAttention):  # fused: W^Q, W^K, W^V (D, D) each on their own
                for block in module.in_proj.weight.data.chunk(3, dim=0):
                    nn.init.xavier_uniform_(block)
        for embedding in (self.src_embed, self.tgt_embed, self.positions.learned):
            if embedding is not None:
                nn.init.normal_(embedding.weight, mean=0.0, std=self.d_model**-0.5)
        for embedding in (self.src_embed, self.tgt_embed):
            nn.init.zeros_(embedding.weight.data[PAD_ID])

    @property
    def max_src_len(self) -> int | None:
        return self.positions.max_positions if self.positions.learned is not None else None

    @property
    def max_tgt_len(self) -> int | None:
        return self.max_src_len  # one position table serves both sides

    def _embed(self, embedding: nn.Embedding, tokens: Tensor, start: int) -> Tensor:
        """tokens (B, T) at positions [start, start + T) -> (B, T, D)."""
        x = embedding(tokens) * self.embedding_scale + self.positions(start, tokens.size(1))
        return self.embed_dropout(x)

    def encode(self, src: Tensor, src_mask: Tensor) -> TransformerState:
        """src (B, S), src_mask (B, S) -> state with per-layer cross-attention keys/values and an empty cache."""
        key_mask = src_mask[:, None, None, :]  # (B, 1, 1, S)
        x = self._embed(self.src_embed, src, 0)  # (B, S, D)
        for layer in self.encoder_layers:
            x = layer(x, key_mask)
        memory = self.encoder_norm(x)  # (B, S, D)
        cross_kv = [layer.cross_attn.project_key_value(memory) for layer in self.decoder_layers]
        batch_size, head_dim = src.size(0), self.d_model // self.num_heads
        empty = memory.new_zeros(batch_size, self.num_heads, 0, head_dim)  # (B, H, 0, Dh)
        return TransformerState(
            src_mask=src_mask,
            cross_keys=tuple(k for k, _ in cross_kv),
            cross_values=tuple(v for _, v in cross_kv),
            self_keys=(empty,) * len(self.decoder_layers),
            self_values=(empty,) * len(self.decoder_layers),
            step=0,
        )

    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> Tensor:
        """src (B, S), src_mask (B, S), tgt_in (B, T) -> logits (B, T, V), all positions at once."""
        state = self.encode(src, src_mask)
        memory_mask = src_mask[:, None, None, :]  # (B, 1, 1, S)
        # Targets are right-padded, so the causal mask alone keeps real positions off padding.
        x = self._embed(self.tgt_embed, tgt_in, 0)  # (B, T, D)
        for layer, k, v in zip(self.decoder_layers, state.cross_keys, state.cross_values):
            x, _, _ = layer(x, cross_kv=(k, v), memory_mask=memory_mask, self_cache=None, need_weights=False)
        return self.output_proj(self.decoder_norm(x))  # (B, T, V)

    def decode_step(
        self, prev_tokens: Tensor, state: TransformerState, *, need_weights: bool = True
    ) -> tuple[Tensor, TransformerState, Tensor | None]:
        """prev_tokens (B,) -> logits (B, V), next state, cross attn_weights (B, L, H, S) or None."""
        memory_mask = state.src_mask[:, None, None, :]  # (B / G, 1, 1, S)
        x = self._embed(self.tgt_embed, prev_tokens.unsqueeze(1), state.step)  # (B, 1, D)
        self_keys, self_values, weights = [], [], []
        for index, layer in enumerate(self.decoder_layers):
            x, (k, v), attn_weights = layer(
                x,
                cross_kv=(state.cross_keys[index], state.cross_values[index]),
                memory_mask=memory_mask,
                self_cache=(state.self_keys[index], state.self_values[index]),
                need_weights=need_weights,
                rows_per_source=state.rows_per_source,
                self_cache_rows=state.self_rows,
            )
            self_keys.append(k)
            self_values.append(v)
            if attn_weights is not None:
                weights.append(attn_weights.squeeze(2))  # (B, H, S)
        logits = self.output_proj(self.decoder_norm(x)).squeeze(1)  # (B, V)
        new_state = replace(state, self_keys=tuple(self_keys), self_values=tuple(self_values), step=state.step + 1,
                            self_rows=None)
        attn_weights = torch.stack(weights, dim=1) if weights else None  # (B, L, H, S)
        return logits, new_state, attn_weights
