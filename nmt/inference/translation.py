"""Raw text in, detokenized text out: the one translation path of the project.

Validation during training, `nmt-evaluate` and `nmt-translate` all go through
`Translator`, so a checkpoint gets the same output (and the same BLEU) whichever
command produced it. Sentences are decoded in length-sorted batches and put
back in input order; a sentence's output never depends on the other sentences
in the file, so translating one line alone gives the same output as in a file.

A line may come with a target prefix, text its translations must start with: it is
tokenized like a target (so it may end inside a word, "la va", and the model goes on
from its pieces), forced token by token by the search (nmt.inference.decoding), and
travels with its line through the length-sorted batches.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import torch
from torch import Tensor

from nmt.checkpoint import Checkpoint, load_checkpoint
from nmt.data.batching import Batch, collate, pad_ids, sorted_batches
from nmt.data.tokenizer import Tokenizer
from nmt.device import Precision, warn_if_bf16_is_emulated
from nmt.errors import NMTError, error_summary
from nmt.inference.decoding import (
    Hypothesis,
    beam_search,
    greedy_search,
    sequence_log_probs,
    target_token_cap,
)
from nmt.inference.explanation import Explanation, explain
from nmt.inference.precision import search_model
from nmt.inference.sampling import Sampling, sample
from nmt.models import restore_model
from nmt.models.seq2seq import Seq2Seq
from nmt.tokens import EOS_ID, UNK_ID

log = logging.getLogger(__name__)

MAX_SENTENCES_PER_BATCH = 256  # bounds the decoder state of a batch of very short lines


@dataclass(frozen=True)
class Translation:
    """One hypothesis for one input line.

    score: log-probability (divided by the length penalty under beam search).
    attention (L, H, T', S): the decoder's weights, rows = tgt_pieces, columns =
    src_pieces (the model's view of the line: its pieces and EOS); None unless requested.
    """

    text: str
    score: float
    tokens: list[int]
    src_pieces: list[str]
    tgt_pieces: list[str]
    attention: Tensor | None = None


class Translator:
    """Translate raw sentences with a model and its tokenizer.

    beam_size 1 is greedy search. With `sampling`, translations are drawn instead
    (nbest samples per line, in the order drawn) and beam_size is ignored. Lines longer
    than the model's `max_src_len` or than `max_src_tokens` (source pieces) are truncated
    with a warning; empty lines give empty translations.
    """

    def __init__(
        self,
        model: Seq2Seq,
        tokenizer: Tokenizer,
        *,
        beam_size: int,
        length_penalty: float,
        max_len_a: float,
        max_len_b: int,
        batch_tokens: int,
        device: str | torch.device = "cpu",
        max_src_tokens: int | None = None,
        precision: str = "32",
        sampling: Sampling | None = None,
    ) -> None:
        if beam_size < 1:
            raise NMTError(f"beam_size={beam_size} must be at least 1; use 1 for greedy search or e.g. 5.")
        if batch_tokens < 1:
            raise NMTError(f"batch_tokens={batch_tokens} must be a positive number of source tokens per batch.")
        if max_src_tokens is not None and max_src_tokens < 1:
            raise NMTError(f"max_src_tokens={max_src_tokens} must be a positive number of source pieces or null.")
        self.model = model
        self.tokenizer = tokenizer
        self.beam_size = beam_size
        self.length_penalty = length_penalty
        self.max_len_a = max_len_a
        self.max_len_b = max_len_b
        self.batch_tokens = batch_tokens
        self.device = torch.device(device)
        self.max_src_tokens = max_src_tokens
        if str(precision) not in get_args(Precision):
            raise NMTError(f"precision={precision!r} is not valid; choose 32 or bf16 (bf16: matmuls in bfloat16).")
        self.precision = str(precision)
        warn_if_bf16_is_emulated(self.device, self.precision)
        self.sampling = sampling

    def translate(self, texts: Sequence[str]) -> list[str]:
        """The best translation of each line, in input order."""
        return [nbest[0].text for nbest in self.translate_nbest(texts)]

    def translate_nbest(
        self, texts: Sequence[str], *, nbest: int = 1, return_attention: bool = False,
        prefixes: Sequence[str] | None = None,
    ) -> list[list[Translation]]:
        """For each line, its `nbest` best translations, best first, or with sampling its `nbest` samples
        (one empty translation for an empty line).

        prefixes: one text per line that each of its translations starts with ("" = none), as the
        target SentencePiece model normalises it.
        """
        if self.sampling is not None and nbest < 1:
            raise NMTError(f"nbest={nbest} must be at least 1: it is the number of samples per line.")
        if self.sampling is None and not 1 <= nbest <= self.beam_size:
            raise NMTError(
                f"nbest={nbest} must be between 1 and beam_size={self.beam_size}; raise beam_size or lower nbest."
            )
        src_ids = self._encode(texts)
        prefix_ids = encode_prefixes(self.tokenizer, prefixes, lines=len(texts), limit=target_token_cap(self.model))
        results: list[list[Translation]] = [[empty_translation()] for _ in texts]
        nonempty = [index for index, ids in enumerate(src_ids) if ids]
        was_training = self.model.training
        self.model.eval()
        try:
            lengths = [len(src_ids[index]) for index in nonempty]
            for positions in sorted_batches(lengths, max_tokens=self.batch_tokens,
                                            max_sentences=MAX_SENTENCES_PER_BATCH):
                rows = [nonempty[int(p)] for p in positions]
                batch = collate([src_ids[row] for row in rows], None, rows).to(self.device)
                prefix = _prefix_batch(prefix_ids, rows, self.device)
                for row, hypotheses, src_row in zip(rows, self._search(batch, nbest, return_attention, prefix),
                                                    self._source_ids(batch)):
                    results[row] = [self._translation(h, src_row) for h in hypotheses]
        finally:
            self.model.train(was_training)
        return results

    def score(self, sources: Sequence[str], targets: Sequence[str]) -> list[float]:
        """Teacher-forced log P(target | source) of each pair, EOS included (for contrastive evaluation)."""
        if len(sources) != len(targets):
            raise NMTError(f"{len(sources)} sources for {len(targets)} targets; score one target per source.")
        src_ids = self._encode(sources)
        tgt_ids = encode_targets(self.tokenizer, targets, limit=target_token_cap(self.model), side="target")
        scores = [0.0] * len(sources)
        was_training = self.model.training
        self.model.eval()
        try:
            lengths = [max(len(s), len(t)) for s, t in zip(src_ids, tgt_ids)]
            for rows in sorted_batches(lengths, max_tokens=self.batch_tokens, max_sentences=MAX_SENTENCES_PER_BATCH):
                rows = [int(row) for row in rows]
                batch = collate([src_ids[r] for r in rows], [tgt_ids[r] for r in rows], rows).to(self.device)
                for row, value in zip(rows, sequence_log_probs(self.model, batch).tolist()):
                    scores[row] = value
        finally:
            self.model.train(was_training)
        return scores

    def explain(self, sources: Sequence[str], targets: Sequence[Sequence[int]], *, top_k: int = 5) -> list[Explanation]:
        """Each source with a translation of it (target ids, as `Translation.tokens`) replayed: every attention
        map and the model's confidence at each position (see `nmt.inference.explanation`)."""
        if len(sources) != len(targets):
            raise NMTError(f"{len(sources)} sources for {len(targets)} targets; explain one target per source.")
        was_training = self.model.training
        self.model.eval()
        model, context = search_model(self.model, self.precision)  # the model the search ran: same numbers
        try:
            with context:
                return explain(model, self.tokenizer, self._encode(sources), targets, device=self.device,
                               batch_tokens=self.batch_tokens, top_k=top_k)
        finally:
            self.model.train(was_training)

    @property
    def source_limit(self) -> int | None:
        """The most source pieces of a line the model reads; longer lines are truncated with a warning."""
        return self._source_limit()

    def _encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Source ids per line, truncated to what the model accepts (with a warning per line)."""
        return truncate_ids(self.tokenizer.encode_src([text.strip() for text in texts]),
                            limit=self._source_limit(), side="source")

    def _source_limit(self) -> int | None:
        """Most source pieces per line: the model's positions minus those collate adds, and max_src_tokens."""
        limits = [self.max_src_tokens] if self.max_src_tokens is not None else []
        if self.model.max_src_len is not None:
            added = collate([[UNK_ID]], None, [0]).src.size(1) - 1  # positions collate adds (EOS)
            limits.append(self.model.max_src_len - added)
        return min(limits) if limits else None

    def _search(
        self, batch: Batch, nbest: int, return_attention: bool, prefix: Tensor | None
    ) -> list[list[Hypothesis]]:
        model, context = search_model(self.model, self.precision)
        with context:
            return self._search_with(model, batch, nbest, return_attention, prefix)

    def _search_with(
        self, model: Seq2Seq, batch: Batch, nbest: int, return_attention: bool, prefix: Tensor | None
    ) -> list[list[Hypothesis]]:
        if self.sampling is not None:
            return sample(model, batch.src, batch.src_mask, num_samples=nbest, sampling=self.sampling,
                          max_len_a=self.max_len_a, max_len_b=self.max_len_b, return_attention=return_attention,
                          prefix=prefix)
        if self.beam_size == 1:
            hypotheses = greedy_search(model, batch.src, batch.src_mask, max_len_a=self.max_len_a,
                                       max_len_b=self.max_len_b, return_attention=return_attention, prefix=prefix)
            return [[hypothesis] for hypothesis in hypotheses]
        return beam_search(model, batch.src, batch.src_mask, beam_size=self.beam_size,
                           length_penalty=self.length_penalty, max_len_a=self.max_len_a,
                           max_len_b=self.max_len_b, nbest=nbest, return_attention=return_attention, prefix=prefix)

    @staticmethod
    def _source_ids(batch: Batch) -> list[list[int]]:
        """The real (unpadded) source positions of each row, as the model saw them."""
        return [row[mask].tolist() for row, mask in zip(batch.src.cpu(), batch.src_mask.cpu())]

    def _translation(self, hypothesis: Hypothesis, src_ids: list[int]) -> Translation:
        return hypothesis_translation(self.tokenizer, hypothesis, src_ids)


def hypothesis_translation(tokenizer: Tokenizer, hypothesis: Hypothesis, src_ids: list[int]) -> Translation:
    """A hypothesis as text and pieces; `src_ids` are the source positions the model saw (EOS included)."""
    return Translation(
        text=tokenizer.decode_tgt(hypothesis.tokens),
        score=hypothesis.score,
        tokens=hypothesis.tokens,
        src_pieces=tokenizer.src_pieces(src_ids),
        tgt_pieces=tokenizer.tgt_pieces([*hypothesis.tokens, EOS_ID]),
        attention=hypothesis.attention,
    )


def empty_translation() -> Translation:
    """What an empty line translates to."""
    return Translation(text="", score=0.0, tokens=[], src_pieces=[], tgt_pieces=[], attention=None)


def encode_targets(tokenizer: Tokenizer, texts: Sequence[str], *, limit: int | None, side: str) -> list[list[int]]:
    """Target ids of each text, stripped, truncated to `limit` pieces (see `truncate_ids`)."""
    return truncate_ids(tokenizer.encode_tgt([text.strip() for text in texts]), limit=limit, side=side)


def encode_prefixes(
    tokenizer: Tokenizer, prefixes: Sequence[str] | None, *, lines: int, limit: int | None
) -> list[list[int]] | None:
    """Target ids of each line's prefix, at most `limit`; None when there are no prefixes (none given or all "")."""
    if prefixes is None:
        return None
    if len(prefixes) != lines:
        raise NMTError(f"{len(prefixes)} prefixes for {lines} lines; give one prefix per line (\"\" for none).")
    ids = encode_targets(tokenizer, prefixes, limit=limit, side="target prefix")
    return ids if any(ids) else None


def _prefix_batch(prefix_ids: list[list[int]] | None, rows: list[int], device: torch.device) -> Tensor | None:
    """The prefixes of a batch's `rows` as (B, P) ids padded with PAD_ID, or None when they are all empty."""
    if prefix_ids is None or not any(prefix_ids[row] for row in rows):
        return None
    return pad_ids([prefix_ids[row] for row in rows], bos=False, eos=False).to(device)    # (B, P)


def truncate_ids(ids_per_line: list[list[int]], *, limit: int | None, side: str) -> list[list[int]]:
    """Each line's first `limit` ids (None: all), with a warning per longer line; `side` names them in it."""
    if limit is None:
        return ids_per_line
    for number, ids in enumerate(ids_per_line, start=1):
        if len(ids) > limit:
            log.warning("line %d has %d %s pieces, more than the limit of %d: using its first %d only",
                        number, len(ids), side, limit, limit)
    return [ids[:limit] for ids in ids_per_line]


def load_for_translation(path: str | Path, *, device: torch.device) -> tuple[Checkpoint, Seq2Seq, Tokenizer]:
    """The checkpoint at `path`, its model (eval mode, on `device`) and its tokenizer.

    Anything that makes the file unusable is one `NMTError` sentence naming the file.
    """
    checkpoint = load_checkpoint(path)
    try:
        model = restore_model(checkpoint, device=device)
        tokenizer = Tokenizer.from_state(checkpoint.tokenizer_state)
    except NMTError as error:
        raise NMTError(f"checkpoint {path} cannot be used: {error}") from None
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as error:
        raise NMTError(
            f"checkpoint {path} cannot be used by this version of nmt ({error_summary(error)}); "
            "re-train or use the nmt version that wrote it."
        ) from None
    sizes = (tokenizer.src_vocab_size, tokenizer.tgt_vocab_size)
    if sizes != (checkpoint.src_vocab_size, checkpoint.tgt_vocab_size):
        raise NMTError(
            f"checkpoint {path} holds a tokenizer with vocabularies {sizes} but a model for "
            f"{(checkpoint.src_vocab_size, checkpoint.tgt_vocab_size)}; "
            "the file is inconsistent, use another checkpoint."
        )
    return checkpoint, model, tokenizer
