"""RNN encoder-decoder: a bidirectional GRU/LSTM encoder and one of three decoders.

- `attention=bahdanau` (Bahdanau et al. 2015, "Neural Machine Translation by Jointly Learning to
  Align and Translate", 3.1 and App. A.2): the context c(t) is attended from the previous
  decoder state s(t-1), joins the target embedding as the RNN input, and the output layer
  sees s(t), c(t) and the embedding (eq. 4; a tanh readout where the paper has maxout).
- `attention=luong` (Luong et al. 2015, "Effective Approaches to Attention-based NMT", 3):
  the RNN steps first, h(t) attends with a dot/general/concat score, the attentional state
  h~(t) = tanh(W_c [c(t); h(t)]) feeds the output layer and, with input feeding (3.3), the
  next step's input.
- `attention=none`: the RNN encoder-decoder of Cho et al. 2014, the baseline Bahdanau et al.
  compare against: the decoder sees only the encoder's final states, as its initial state and
  as a fixed context at every step. Its weights over the source are reported as zeros.

The decoder starts from a learned bridge of the encoder's final forward and backward states,
s(0) = tanh(W [h_fwd(S); h_bwd(1)]) (Bahdanau et al. 2015, App. A.2.2 use the backward one), or
from zeros. Initialisation: every weight uniform in [-0.1, 0.1] (Luong et al. 2015, 4.1), with the
recurrent matrices orthogonal per gate (Bahdanau et al. 2015, App. B.1) and a zero PAD embedding.

The recurrent state keeps PyTorch's RNN layout (L, B, D): batch in dim 1.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nmt.errors import NMTError
from nmt.models import checks
from nmt.models.attention import (
    LUONG_SCORES,
    AdditiveAttention,
    LuongScore,
    MultiplicativeAttention,
)
from nmt.models.dropout import Dropout
from nmt.models.seq2seq import Seq2Seq
from nmt.tokens import PAD_ID

CellKind = Literal["gru", "lstm"]
AttentionKind = Literal["bahdanau", "luong", "none"]
TieEmbeddings = Literal["none", "decoder", "all"]

_RNN_CLASSES: dict[str, type[nn.RNNBase]] = {"gru": nn.GRU, "lstm": nn.LSTM}


@dataclass(frozen=True)
class RNNState:
    """Decoder state between steps; fields a decoder does not use are None."""

    hidden: Tensor  # (L, B, Dd) decoder RNN state: RNN layout, batch in dim 1
    cell: Tensor | None  # (L, B, Dd) LSTM memory cell; None for GRU
    src_mask: Tensor  # (B, S)
    memory: Tensor | None  # (B, S, 2He) encoder states, the attention values; None without attention
    keys: Tensor | None  # (B, S, Da) attention keys, projected once per sentence; None without attention
    summary: Tensor | None  # (B, 2He) final encoder states, the fixed context of attention=none
    feed: Tensor | None  # (B, Dd) h~(t-1) for Luong input feeding; None otherwise

    def select(self, indices: Tensor, *, same_sources: bool = False) -> RNNState:
        """Rows `indices` (B',) in that order: beam search reorders and expands with it (see DecoderState)."""
        picked = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if value is not None and not (same_sources and field.name in _SOURCE_FIELDS):
                picked[field.name] = value.index_select(1 if field.name in ("hidden", "cell") else 0, indices)
        return replace(self, **picked)


_SOURCE_FIELDS = frozenset({"src_mask", "memory", "keys", "summary"})  # the same for every beam of a sentence


class RNNSeq2Seq(Seq2Seq):
    """Bidirectional RNN encoder with a Bahdanau, Luong or attention-free RNN decoder."""

    matmul_shapes_repeat = False  # the packed encoder's row counts change at every time step

    def __init__(
        self,
        *,
        src_vocab_size: int,
        tgt_vocab_size: int,
        cell: CellKind,
        emb_dim: int,
        encoder_hidden_dim: int,
        encoder_layers: int,
        decoder_hidden_dim: int,
        decoder_layers: int,
        attention: AttentionKind,
        score: LuongScore | None = None,
        input_feeding: bool = False,
        bridge: bool,
        dropout: float,
        tie_embeddings: TieEmbeddings,
    ) -> None:
        super().__init__()
        self._check_arguments(locals())
        self.attention_kind = attention
        self.input_feeding = input_feeding
        memory_dim = 2 * encoder_hidden_dim  # forward and backward states side by side

        self.tgt_embed = nn.Embedding(tgt_vocab_size, emb_dim, padding_idx=PAD_ID)
        self.src_embed = self.tgt_embed if tie_embeddings == "all" else nn.Embedding(
            src_vocab_size, emb_dim, padding_idx=PAD_ID
        )
        self.dropout = Dropout(dropout)
        rnn_class = _RNN_CLASSES[cell]
        self.encoder_rnn = rnn_class(emb_dim, encoder_hidden_dim, num_layers=encoder_layers, batch_first=True,
                                     bidirectional=True, dropout=dropout if encoder_layers > 1 else 0.0)
        self.bridge = nn.Linear(memory_dim, decoder_layers * decoder_hidden_dim) if bridge else None
        self.cell_bridge = (
            nn.Linear(memory_dim, decoder_layers * decoder_hidden_dim) if bridge and cell == "lstm" else None
        )

        self.attention: AdditiveAttention | MultiplicativeAttention | None = None
        if attention == "bahdanau":
            self.attention = AdditiveAttention(query_dim=decoder_hidden_dim, key_dim=memory_dim,
                                               attention_dim=decoder_hidden_dim)
        elif attention == "luong":
            self.attention = MultiplicativeAttention(score=score, query_dim=decoder_hidden_dim,  # type: ignore[arg-type]
                                                     key_dim=memory_dim, attention_dim=decoder_hidden_dim)

        if attention == "luong":
            rnn_input_dim = emb_dim + (decoder_hidden_dim if input_feeding else 0)
            # W_c of h~(t) = tanh(W_c [c(t); h(t)]) (Luong et al. 2015, eq. 5).
            self.readout = nn.Linear(memory_dim + decoder_hidden_dim, decoder_hidden_dim, bias=False)
        else:
            rnn_input_dim = emb_dim + memory_dim
            # Deep output over [s(t); c(t); E y(t-1)] (Bahdanau et al. 2015, eq. 4).
            self.readout = nn.Linear(decoder_hidden_dim + memory_dim + emb_dim, decoder_hidden_dim)
        self.decoder_rnn = rnn_class(rnn_input_dim, decoder_hidden_dim, num_layers=decoder_layers, batch_first=True,
                                     dropout=dropout if decoder_layers > 1 else 0.0)
        self.output_proj = nn.Linear(decoder_hidden_dim, tgt_vocab_size)
        self._reset_parameters()
        if tie_embeddings != "none":
            self.output_proj.weight = self.tgt_embed.weight

    @staticmethod
    def _check_arguments(arguments: dict[str, object]) -> None:
        for key in ("emb_dim", "encoder_hidden_dim", "encoder_layers", "decoder_hidden_dim", "decoder_layers"):
            checks.positive(key, arguments[key])
        checks.choice("cell", arguments["cell"], tuple(_RNN_CLASSES))
        checks.choice("attention", arguments["attention"], ("bahdanau", "luong", "none"))
        checks.probability("dropout", arguments["dropout"])
        checks.boolean("bridge", arguments["bridge"])
        checks.boolean("input_feeding", arguments["input_feeding"])
        checks.tie_embeddings(arguments["tie_embeddings"], src_vocab_size=arguments["src_vocab_size"],  # type: ignore[arg-type]
                             tgt_vocab_size=arguments["tgt_vocab_size"])  # type: ignore[arg-type]
        attention = arguments["attention"]
        if attention == "luong":
            checks.choice("score", arguments["score"], LUONG_SCORES)
        else:
            for key in ("score", "input_feeding"):
                if arguments[key] not in (None, False):
                    raise NMTError(f"model.{key}={arguments[key]!r} applies only to model.attention=luong "
                                   f"(got attention={attention}): remove it or use model=rnn_luong.")
        if attention == "none" and not arguments["bridge"]:
            raise NMTError("model.bridge=false with model.attention=none leaves the decoder blind to the source: "
                           "set model.bridge=true.")
        if arguments["tie_embeddings"] != "none" and arguments["emb_dim"] != arguments["decoder_hidden_dim"]:
            raise NMTError(f"model.tie_embeddings={arguments['tie_embeddings']} shares the target embedding with the "
                           f"output layer, so model.emb_dim={arguments['emb_dim']} must equal "
                           f"model.decoder_hidden_dim={arguments['decoder_hidden_dim']}.")

    def _reset_parameters(self) -> None:
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -0.1, 0.1)
        for rnn in (self.encoder_rnn, self.decoder_rnn):
            for name, parameter in rnn.named_parameters():
                if name.startswith("weight_hh"):
                    for gate in parameter.data.chunk(rnn.weight_hh_l0.size(0) // rnn.hidden_size, dim=0):
                        nn.init.orthogonal_(gate)
        for embedding in (self.src_embed, self.tgt_embed):
            nn.init.zeros_(embedding.weight.data[PAD_ID])

    # Encoder

    def _run_encoder(self, src: Tensor, src_mask: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """-> memory (B, S, 2He), final hidden (B, 2He), final LSTM cell (B, 2He) or None.

        Packed, so padding never enters the recurrence: the backward RNN starts at each
        sentence's last real token. An all-padding row is run over one PAD (never NaN).
        """
        embedded = self.dropout(self.src_embed(src))  # (B, S, E)
        lengths = src_mask.sum(dim=1).clamp(min=1).cpu()  # (B,)
        packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        outputs, final = self.encoder_rnn(packed)
        memory, _ = pad_packed_sequence(outputs, batch_first=True, total_length=src.size(1))  # (B, S, 2He)
        final_hidden, final_cell = final if isinstance(final, tuple) else (final, None)  # (2Le, B, He)

        def last_layer(states: Tensor) -> Tensor:
            return torch.cat([states[-2], states[-1]], dim=-1)  # (B, 2He): forward end, backward end

        return memory, last_layer(final_hidden), None if final_cell is None else last_layer(final_cell)

    def _initial_state(self, summary: Tensor, summary_cell: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """summary (B, 2He) -> decoder hidden (L, B, Dd) and LSTM cell (L, B, Dd) or None."""
        num_layers, hidden_dim = self.decoder_rnn.num_layers, self.decoder_rnn.hidden_size
        batch_size = summary.size(0)

        def bridged(linear: nn.Linear | None, source: Tensor | None) -> Tensor:
            if linear is None or source is None:
                return summary.new_zeros(num_layers, batch_size, hidden_dim)
            states = torch.tanh(linear(source)).view(batch_size, num_layers, hidden_dim)  # (B, L, Dd)
            return states.transpose(0, 1).contiguous()  # (L, B, Dd)

        cell = bridged(self.cell_bridge, summary_cell) if isinstance(self.decoder_rnn, nn.LSTM) else None
        return bridged(self.bridge, summary), cell

    def encode(self, src: Tensor, src_mask: Tensor) -> RNNState:
        """src (B, S), src_mask (B, S) -> the state before the first target position."""
        memory, summary, summary_cell = self._run_encoder(src, src_mask)
        hidden, cell = self._initial_state(summary, summary_cell)
        has_attention = self.attention is not None
        feed = memory.new_zeros(src.size(0), self.decoder_rnn.hidden_size) if self.input_feeding else None
        return RNNState(
            hidden=hidden,
            cell=cell,
            src_mask=src_mask,
            memory=memory if has_attention else None,
            keys=self.attention.project_keys(memory) if self.attention is not None else None,
            summary=None if has_attention else summary,
            feed=feed,
        )

    # Decoder

    def _run_rnn(self, inputs: Tensor, state: RNNState) -> tuple[Tensor, RNNState]:
        """inputs (B, T, I) -> outputs (B, T, Dd) of the top layer, state with the new hidden/cell."""
        if state.cell is None:
            outputs, hidden = self.decoder_rnn(inputs, state.hidden)
            return outputs, replace(state, hidden=hidden)
        outputs, (hidden, cell) = self.decoder_rnn(inputs, (state.hidden, state.cell))
        return outputs, replace(state, hidden=hidden, cell=cell)

    def _context(self, query: Tensor, state: RNNState) -> tuple[Tensor, Tensor]:
        """query (B, [T,] Dd) -> context (B, [T,] 2He), attn_weights (B, [T,] S).

        Without attention the context is the fixed summary and the weights are zeros.
        """
        if self.attention is None or state.keys is None or state.memory is None:
            assert state.summary is not None
            context = state.summary if query.dim() == 2 else state.summary.unsqueeze(1).expand(-1, query.size(1), -1)
            return context, query.new_zeros(query.shape[:-1] + state.src_mask.shape[1:])
        return self.attention(query, state.keys, state.memory, state.src_mask)

    def _deep_output(self, rnn_output: Tensor, context: Tensor, embedded: Tensor) -> Tensor:
        """Bahdanau / plain readout tanh(W [s; c; e]): (B, [T,] *) -> (B, [T,] Dd)."""
        return torch.tanh(self.readout(torch.cat([rnn_output, context, embedded], dim=-1)))

    def _attentional(self, rnn_output: Tensor, context: Tensor) -> Tensor:
        """Luong's h~ = tanh(W_c [c; h]): (B, [T,] *) -> (B, [T,] Dd)."""
        return torch.tanh(self.readout(torch.cat([context, rnn_output], dim=-1)))

    def _step(self, embedded: Tensor, state: RNNState) -> tuple[Tensor, Tensor, RNNState, Tensor]:
        """One target position: embedded (B, E) -> step_output (B, Dd) (h~(t) for Luong, s(t) otherwise),
        context (B, 2He), the next state, attn_weights (B, S). `_logits` finishes the step."""
        if self.attention_kind == "luong":
            inputs = embedded if state.feed is None else torch.cat([embedded, state.feed], dim=-1)
            rnn_output, state = self._run_rnn(inputs.unsqueeze(1), state)  # (B, 1, Dd)
            context, attn_weights = self._context(rnn_output.squeeze(1), state)  # (B, 2He), (B, S)
            attentional = self._attentional(rnn_output.squeeze(1), context)  # (B, Dd)
            if self.input_feeding:
                state = replace(state, feed=attentional)
            return attentional, context, state, attn_weights
        # Bahdanau: attend from s(t-1), the top layer of the state before this step.
        context, attn_weights = self._context(state.hidden[-1], state)  # (B, 2He), (B, S)
        rnn_output, state = self._run_rnn(torch.cat([embedded, context], dim=-1).unsqueeze(1), state)
        return rnn_output.squeeze(1), context, state, attn_weights  # (B, Dd)

    def _logits(self, step_output: Tensor, context: Tensor, embedded: Tensor) -> Tensor:
        """From `_step`'s outputs (one step or stacked over T) to logits (B, [T,] V)."""
        if self.attention_kind == "luong":
            pre_output = step_output  # h~ already
        else:
            pre_output = self._deep_output(step_output, context, embedded)
        return self.output_proj(self.dropout(pre_output))

    def decode_step(
        self, prev_tokens: Tensor, state: RNNState, *, need_weights: bool = True
    ) -> tuple[Tensor, RNNState, Tensor | None]:
        """prev_tokens (B,) -> logits (B, V), next state, attn_weights (B, 1, 1, S) or None."""
        embedded = self.dropout(self.tgt_embed(prev_tokens))  # (B, E)
        step_output, context, state, attn_weights = self._step(embedded, state)
        logits = self._logits(step_output, context, embedded)  # (B, V)
        return logits, state, attn_weights[:, None, None, :] if need_weights else None

    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> Tensor:
        """src (B, S), src_mask (B, S), tgt_in (B, T) -> logits (B, T, V).

        Whatever does not depend on the previous step runs over all T positions at once: the
        embeddings, the output layer and, when no step needs the previous one's attention
        (attention=none, or Luong without input feeding), the whole decoder RNN and attention.
        """
        state = self.encode(src, src_mask)
        embedded = self.dropout(self.tgt_embed(tgt_in))  # (B, T, E)
        if self.attention_kind == "none":
            context = state.summary.unsqueeze(1).expand(-1, tgt_in.size(1), -1)  # (B, T, 2He) at every step
            rnn_outputs, _ = self._run_rnn(torch.cat([embedded, context], dim=-1), state)  # (B, T, Dd)
            return self._logits(rnn_outputs, context, embedded)  # (B, T, V)
        if self.attention_kind == "luong" and not self.input_feeding:
            rnn_outputs, _ = self._run_rnn(embedded, state)  # (B, T, Dd)
            context, _ = self._context(rnn_outputs, state)  # (B, T, 2He)
            return self._logits(self._attentional(rnn_outputs, context), context, embedded)
        step_outputs, contexts = [], []
        for position in range(tgt_in.size(1)):
            step_output, context, state, _ = self._step(embedded[:, position], state)
            step_outputs.append(step_output)
            contexts.append(context)
        return self._logits(torch.stack(step_outputs, dim=1), torch.stack(contexts, dim=1), embedded)  # (B, T, V)
