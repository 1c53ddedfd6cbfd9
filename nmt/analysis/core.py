"""What every analysis section works from: the checkpoint's model, the sentences, and a few shared measurements.

A section is a function `(AnalysisContext) -> SectionResult`. The context holds the model
(eval mode), its tokenizer, the analysed sentences (`Example`: text, piece ids and which
word each piece belongs to, gold alignment if any), the contrastive pronoun set if any,
and caches what several sections need: the attention of every module under teacher
forcing on the references, greedy translations, and reference log-probabilities, each
optionally under attention hooks (`nmt.models.inspection`).

Positions: rows of a forced attention map are the target pieces + EOS (the positions that
predict them), columns the source pieces + EOS; decoder self-attention maps are square
over the decoder inputs (BOS + target pieces).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from nmt.analysis.row_masks import RowMaskedModel, Setting, keep_per_row, share_batches
from nmt.data.batching import Batch, collate, sorted_batches
from nmt.data.tokenizer import Tokenizer
from nmt.inference.decoding import greedy_search, sequence_log_probs
from nmt.inference.options import DecodingOptions
from nmt.metrics import corpus_bleu
from nmt.models.attention import WeightsHook
from nmt.models.inspection import attention_modules, forced_attention, num_heads, real_positions, weights_hooks
from nmt.models.seq2seq import Seq2Seq

MAX_SENTENCES_PER_BATCH = 64
# Greedy search under several head masks decodes copies of a batch together, up to this many rows: its
# memory grows with rows * length far slower than teacher forcing's logits (rows * length * vocabulary), and
# on the Multi30k Transformer (1 thread) 4 copies of 64 sentences decode 1.5x faster per copy than one, 12 barely more.
MAX_DECODING_ROWS = 256
WORD_START = "\u2581"  # SentencePiece's word-start mark


@dataclass(frozen=True)
class Alignment:
    """Gold word alignment of one pair: (source word, target word) links, 0-based; sure ⊆ possible."""

    sure: frozenset[tuple[int, int]]
    possible: frozenset[tuple[int, int]]


@dataclass(frozen=True)
class Example:
    """One analysed pair. Word indices count whitespace-separated words of `src` / `ref`."""

    src: str
    ref: str
    src_ids: list[int]  # source pieces, without EOS
    tgt_ids: list[int]  # reference pieces, without BOS/EOS
    src_word_of_piece: list[int]  # (len(src_ids) + 1,) word of each piece; -1 for EOS
    tgt_word_of_piece: list[int]  # (len(tgt_ids) + 1,) likewise for the reference
    alignment: Alignment | None = None


@dataclass(frozen=True)
class ContrastiveExample:
    """A source, its correct translation and a contrastive one that differs in a pronoun.

    antecedent / pronoun: 0-based source word indices of the pronoun's antecedent (its head
    noun) and of the pronoun itself, when known.
    """

    src: str
    correct: str
    contrast: str
    antecedent: int | None = None
    pronoun: int | None = None


@dataclass(frozen=True)
class Table:
    caption: str
    header: list[str]
    rows: list[list[Any]]


@dataclass
class SectionResult:
    """What one section reports. `not_applicable` (a sentence) replaces everything else when the
    section does not apply to this model or data; figures are matplotlib figures by file stem."""

    name: str
    title: str
    numbers: dict[str, Any] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    summary: list[str] = field(default_factory=list)
    text: str = ""  # a short paragraph saying how to read the section
    not_applicable: str | None = None


def words_of_pieces(pieces: Sequence[str]) -> list[int]:
    """Word index of each SentencePiece piece: a piece starting with ▁ starts a new word."""
    words, index = [], -1
    for position, piece in enumerate(pieces):
        if piece.startswith(WORD_START) or position == 0:
            index += 1
        words.append(index)
    return words


def make_examples(tokenizer: Tokenizer, sources: Sequence[str], references: Sequence[str],
                  alignments: Sequence[Alignment | None] | None = None, *,
                  model: Seq2Seq | None = None) -> list[Example]:
    """Examples from raw pairs. Left out (the caller reports the count): pairs with an empty side, and with
    `model`, pairs longer than its positions allow (EOS / BOS included)."""
    src_ids = tokenizer.encode_src([text.strip() for text in sources])
    tgt_ids = tokenizer.encode_tgt([text.strip() for text in references])
    max_src = model.max_src_len if model is not None else None
    max_tgt = model.max_tgt_len if model is not None else None
    examples = []
    for index, (src, ref, s_ids, t_ids) in enumerate(zip(sources, references, src_ids, tgt_ids)):
        if not s_ids or not t_ids:
            continue
        if (max_src is not None and len(s_ids) + 1 > max_src) or (max_tgt is not None and len(t_ids) + 1 > max_tgt):
            continue
        examples.append(Example(
            src=src.strip(), ref=ref.strip(), src_ids=s_ids, tgt_ids=t_ids,
            src_word_of_piece=words_of_pieces(tokenizer.src_pieces(s_ids)) + [-1],
            tgt_word_of_piece=words_of_pieces(tokenizer.tgt_pieces(t_ids)) + [-1],
            alignment=None if alignments is None else alignments[index]))
    return examples


class AnalysisContext:
    """The model, the sentences and the shared measurements of one analysis run.

    The sections translate greedily (`translate`); the one-sentence view of `text` translates with
    `search`, the options nmt-translate decodes with (None: greedy, within max_len_a / max_len_b).
    Head pruning ranks heads on the first `ranking_sentences` examples (None: all).
    """

    def __init__(self, *, model: Seq2Seq, tokenizer: Tokenizer, examples: Sequence[Example],
                 device: torch.device, pronouns: Sequence[ContrastiveExample] | None = None,
                 batch_tokens: int = 4096, max_len_a: float = 1.5, max_len_b: int = 10,
                 text: str | None = None, word: str | None = None, search: DecodingOptions | None = None,
                 seed: int = 0, ranking_sentences: int | None = None) -> None:
        self.model, self.tokenizer, self.device = model.eval(), tokenizer, device
        self.examples = list(examples)
        self.pronouns = None if pronouns is None else list(pronouns)
        self.batch_tokens, self.max_len_a, self.max_len_b = batch_tokens, max_len_a, max_len_b
        self.text, self.word, self.search, self.seed = text, word, search, seed
        self.ranking_sentences = ranking_sentences
        self.modules = attention_modules(model)
        self.heads = {name: num_heads(module) for name, module in self.modules.items()}
        self._forced: dict[str, list[np.ndarray]] | None = None
        self._translations: list[str] | None = None
        self._reference_log_probs: np.ndarray | None = None

    @property
    def references(self) -> list[str]:
        return [example.ref for example in self.examples]

    def batches(self) -> list[list[int]]:
        """Example indices per batch: similar lengths together, at most batch_tokens padded tokens."""
        lengths = np.array([max(len(e.src_ids), len(e.tgt_ids)) for e in self.examples], dtype=np.int64)
        return [[int(i) for i in rows] for rows in sorted_batches(
            lengths, max_tokens=self.batch_tokens, max_sentences=MAX_SENTENCES_PER_BATCH)]

    def forced_attention(self) -> dict[str, list[np.ndarray]]:
        """Attention of every module under teacher forcing on the references (cached).

        name -> one float32 array per example: (H, T + 1, S + 1) for cross- and encoder
        self-attention ((H, S + 1, S + 1) for the latter), (H, T + 1, T + 1) for decoder self-attention.
        """
        if self._forced is None:
            self._forced = {name: [np.empty(0, np.float32)] * len(self.examples) for name in self.modules}
            for rows in self.batches():
                batch = self._batch(rows)
                _, recorded = forced_attention(self.model, batch.src, batch.src_mask, batch.tgt_in)
                for name, batch_weights in recorded.items():  # (B, H, T, S)
                    for position, row in enumerate(rows):
                        example = self.examples[row]
                        self._forced[name][row] = real_positions(
                            name, batch_weights[position], src_len=len(example.src_ids) + 1,
                            tgt_len=len(example.tgt_ids) + 1).numpy()
        return self._forced

    def translate(self, hooks: Mapping[str, WeightsHook] | None = None) -> list[str]:
        """Greedy translations of the sources, under `hooks` when given (uncached then)."""
        if hooks is None and self._translations is not None:
            return self._translations
        translations = [""] * len(self.examples)
        with torch.no_grad(), weights_hooks(self.model, hooks or {}):
            for rows in self.batches():
                batch = self._batch(rows, with_targets=False)
                hypotheses = greedy_search(self.model, batch.src, batch.src_mask, max_len_a=self.max_len_a,
                                           max_len_b=self.max_len_b)
                for row, hypothesis in zip(rows, hypotheses):
                    translations[row] = self.tokenizer.decode_tgt(hypothesis.tokens)
        if hooks is None:
            self._translations = translations
        return translations

    def reference_log_probs(self, hooks: Mapping[str, WeightsHook] | None = None) -> np.ndarray:
        """Teacher-forced log P(reference | source) per example, EOS included: (N,) float64."""
        if hooks is None and self._reference_log_probs is not None:
            return self._reference_log_probs
        values = np.zeros(len(self.examples))
        with torch.no_grad(), weights_hooks(self.model, hooks or {}):
            for rows in self.batches():
                values[rows] = sequence_log_probs(self.model, self._batch(rows)).double().cpu().numpy()
        if hooks is None:
            self._reference_log_probs = values
        return values

    def next_token_log_probs(self, hooks: Mapping[str, WeightsHook] | None = None) -> list[np.ndarray]:
        """Teacher-forced log-distributions per example: (T + 1, V) float32 each (for KL between settings)."""
        result: list[np.ndarray] = [np.empty(0, np.float32)] * len(self.examples)
        with torch.no_grad(), weights_hooks(self.model, hooks or {}):
            for rows in self.batches():
                batch = self._batch(rows)
                log_probs = torch.log_softmax(self.model(batch.src, batch.src_mask, batch.tgt_in).float(), dim=-1)
                for position, row in enumerate(rows):
                    result[row] = log_probs[position, : len(self.examples[row].tgt_ids) + 1].cpu().numpy()
        return result

    def translate_masked(self, settings: Sequence[Setting]) -> list[list[str]]:
        """Greedy translations with the heads of each setting masked, one list per setting: what `translate`
        gives under `interventions.mask_heads` hooks, with several settings decoded in one batch (`row_masks`)."""
        translations = [[""] * len(self.examples) for _ in settings]
        with torch.no_grad():
            for rows in self.batches():
                batch = self._batch(rows, with_targets=False)
                for members in share_batches(settings, max_copies=max(1, MAX_DECODING_ROWS // len(rows))):
                    model, copies = self._masked_copies(batch, [settings[member] for member in members])
                    hypotheses = greedy_search(model, copies.src, copies.src_mask, max_len_a=self.max_len_a,
                                               max_len_b=self.max_len_b)
                    for position, hypothesis in enumerate(hypotheses):  # row c * n + i: copy c of sentence i
                        copy, row = divmod(position, len(rows))
                        translations[members[copy]][rows[row]] = self.tokenizer.decode_tgt(hypothesis.tokens)
        return translations

    def reference_log_probs_masked(self, settings: Sequence[Setting]) -> np.ndarray:
        """`reference_log_probs` with the heads of each setting masked: (C, N) float64 for C settings."""
        values = np.zeros((len(settings), len(self.examples)))
        with torch.no_grad():
            for rows in self.batches():
                batch = self._batch(rows)
                for members in share_batches(settings, max_copies=self._copies_within_batch_tokens(batch)):
                    model, copies = self._masked_copies(batch, [settings[member] for member in members])
                    scores = sequence_log_probs(model, copies).double().cpu().numpy()  # (C * n,)
                    values[np.ix_(members, rows)] = scores.reshape(len(members), len(rows))
        return values

    def subset(self, count: int) -> AnalysisContext:
        """The same model and options on the first `count` examples (all of them when there are fewer)."""
        return AnalysisContext(
            model=self.model, tokenizer=self.tokenizer, examples=self.examples[:count], device=self.device,
            pronouns=self.pronouns, batch_tokens=self.batch_tokens, max_len_a=self.max_len_a,
            max_len_b=self.max_len_b, text=self.text, word=self.word, search=self.search, seed=self.seed,
            ranking_sentences=self.ranking_sentences)

    def bleu(self, hypotheses: Sequence[str]) -> float:
        return corpus_bleu(list(hypotheses), self.references).score

    def _batch(self, rows: Sequence[int], *, with_targets: bool = True) -> Batch:
        examples = [self.examples[row] for row in rows]
        targets = [e.tgt_ids for e in examples] if with_targets else None
        return collate([e.src_ids for e in examples], targets, list(rows)).to(self.device)

    def _copies_within_batch_tokens(self, batch: Batch) -> int:
        """Copies of `batch` that fit in batch_tokens padded tokens (at least one)."""
        assert batch.tgt_in is not None
        return max(1, self.batch_tokens // (max(batch.src.size(1), batch.tgt_in.size(1)) * len(batch)))

    def _masked_copies(self, batch: Batch, settings: Sequence[Setting]) -> tuple[RowMaskedModel, Batch]:
        """C = len(settings) copies of `batch` one under the other, and the model that masks setting c in copy c."""
        copies = len(settings)

        def repeat(tensor: torch.Tensor | None) -> torch.Tensor | None:  # (n, ...) -> (copies * n, ...)
            return None if tensor is None else tensor.repeat(copies, *[1] * (tensor.dim() - 1))

        keep = {name: values.to(self.device)
                for name, values in keep_per_row(settings, self.heads, rows_per_copy=len(batch)).items()}
        return RowMaskedModel(self.model, keep, copies=copies), replace(
            batch, src=repeat(batch.src), src_mask=repeat(batch.src_mask), tgt_in=repeat(batch.tgt_in),
            tgt_out=repeat(batch.tgt_out), indices=repeat(batch.indices), num_tgt_tokens=copies * batch.num_tgt_tokens)


Section = Callable[[AnalysisContext], SectionResult]
