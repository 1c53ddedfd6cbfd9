"""Several head masks in one batch: each row of the batch carries its own.

Measuring C settings (each a set of heads masked together) one after the other costs C
passes over the sentences. Here a batch holds C copies of the same sentences, copy c with
the heads of setting c masked, so the model multiplies bigger matrices fewer times.
`RowMaskedModel` wraps a model under the `Seq2Seq` contract: its decoder state carries,
next to the model's own, a keep tensor (B, H) per hooked module that is selected with the
rows when greedy search drops the finished ones, and in every call a weights hook
(`interventions.mask_heads_per_row`) multiplies head h of row b by keep[b, h]: 1 keeps it,
0 masks it exactly as `interventions.mask_heads` does.

Only greedy search and teacher forcing: beam search lets the Transformer's K beams of a
sentence share one row of cross-attention queries, which the per-row masks cannot follow
(the hook refuses such a batch).

Which settings share a batch (`share_batches`): those that hook the same modules. A module
with a hook computes its attention explicitly, one without keeps the fused kernel, so
settings grouped this way get exactly the numbers they get one at a time: teacher forcing
row by row is the same computation, whatever the copies beside it (the matrices' rows are
computed alike whatever their number; float32 on the CPU, checked on the Multi30k model).
Greedy search runs smaller matrices as sentences finish, and there row counts do change
the last bits now and then, as they already do between batches; see docs/commands/analyze.md.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from nmt.analysis.interventions import mask_heads_per_row
from nmt.models.attention import WeightsHook
from nmt.models.inspection import in_encoder, weights_hooks
from nmt.models.seq2seq import DecoderState, Seq2Seq

Head = tuple[str, int]  # (module name, head index)
Setting = Collection[Head]  # the heads masked together


def keep_per_row(settings: Sequence[Setting], heads: Mapping[str, int], *, rows_per_copy: int) -> dict[str, Tensor]:
    """name -> keep (C * n, H) float32 for C settings and n = rows_per_copy sentences: rows c * n ... c * n + n - 1
    (copy c) are 0 on the heads setting c masks, 1 elsewhere. Only modules some setting masks get an entry."""
    names = sorted({name for setting in settings for name, _ in setting}, key=list(heads).index)
    keep = {name: torch.ones(len(settings), heads[name]) for name in names}  # (C, H) each
    for copy, setting in enumerate(settings):
        for name, head in setting:
            if head >= heads[name]:
                raise ValueError(f"head {head} does not exist in {name}, which has {heads[name]} heads")
            keep[name][copy, head] = 0.0
    return {name: values.repeat_interleave(rows_per_copy, dim=0) for name, values in keep.items()}  # (C * n, H)


def share_batches(settings: Sequence[Setting], *, max_copies: int) -> Iterator[list[int]]:
    """Indices of `settings` in groups that may share a batch: the same hooked modules, at most max_copies each."""
    groups: dict[frozenset[str], list[int]] = {}
    for index, setting in enumerate(settings):
        groups.setdefault(frozenset(name for name, _ in setting), []).append(index)
    for members in groups.values():
        for start in range(0, len(members), max_copies):
            yield members[start: start + max_copies]


@dataclass(frozen=True)
class RowMaskedState:
    """The wrapped model's state and each row's keep tensors, selected together."""

    inner: DecoderState
    keep: dict[str, Tensor]  # name -> (B, H)

    def select(self, indices: Tensor, *, same_sources: bool = False) -> RowMaskedState:
        return RowMaskedState(inner=self.inner.select(indices, same_sources=same_sources),
                              keep={name: values.index_select(0, indices) for name, values in self.keep.items()})


class RowMaskedModel(Seq2Seq):
    """`model` with the heads keep[name][b] == 0 masked in row b: keep (B, H) per module, B the rows it is given.

    Its inputs are `copies` copies of the same n sentences one under the other (B = copies * n). When
    no encoder head is masked, `encode` encodes the n sentences once and lets every copy continue
    that encoding, as it would get it alone (a decoder-side mask cannot change it).
    """

    def __init__(self, model: Seq2Seq, keep: Mapping[str, Tensor], *, copies: int) -> None:
        super().__init__()
        self.model = model
        self.keep = dict(keep)
        self.copies = copies

    @property
    def max_src_len(self) -> int | None:
        return self.model.max_src_len

    @property
    def max_tgt_len(self) -> int | None:
        return self.model.max_tgt_len

    def encode(self, src: Tensor, src_mask: Tensor) -> RowMaskedState:
        """src (copies * n, S), src_mask (copies * n, S): row c * n + i is copy c of sentence i."""
        if self.copies == 1 or any(in_encoder(name) for name in self.keep):
            with weights_hooks(self.model, _hooks(self.keep)):
                return RowMaskedState(inner=self.model.encode(src, src_mask), keep=self.keep)
        sentences = src.size(0) // self.copies
        assert torch.equal(src, src[:sentences].repeat(self.copies, 1)), "the rows are not copies of the same sentences"
        rows = torch.arange(sentences, device=src.device).repeat(self.copies)  # (copies * n,) sentence of each row
        return RowMaskedState(inner=self.model.encode(src[:sentences], src_mask[:sentences]).select(rows),
                              keep=self.keep)

    def decode_step(self, prev_tokens: Tensor, state: RowMaskedState, *,  # type: ignore[override]
                    need_weights: bool = True) -> tuple[Tensor, RowMaskedState, Tensor | None]:
        with weights_hooks(self.model, _hooks(state.keep)):
            logits, inner, attn_weights = self.model.decode_step(prev_tokens, state.inner, need_weights=need_weights)
        return logits, RowMaskedState(inner=inner, keep=state.keep), attn_weights

    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> Tensor:
        with weights_hooks(self.model, _hooks(self.keep)):
            return self.model(src, src_mask, tgt_in)


def _hooks(keep: Mapping[str, Tensor]) -> dict[str, WeightsHook]:
    return {name: mask_heads_per_row(values) for name, values in keep.items()}
