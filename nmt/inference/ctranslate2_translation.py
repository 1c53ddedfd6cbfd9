"""Translate with a directory written by nmt-export: CTranslate2 decodes, nmt does the rest.

`CTranslate2Translator` offers what the commands use of `Translator` (`translate`,
`translate_nbest`, `score`) with the same tokenization, truncation, length limits and ranking,
so nmt-translate and nmt-evaluate print the same lines and scores for the export as for the
checkpoint. CTranslate2 is told what our search does (see nmt.inference.decoding):

- the source gets EOS from the model's config; decoding starts from BOS; PAD and BOS are never
  produced (`suppress_sequences`); EOS may come first (`min_decoding_length=0`);
- a sentence of S source positions gets at most floor(max_len_a * S + max_len_b) tokens, then
  EOS is forced: lines are decoded in groups of one source length, each with its own
  `max_decoding_length` (CTranslate2 stops there without EOS);
- a target prefix goes to CTranslate2 as pieces (`target_prefix`); its hypotheses hold the prefix,
  which counts in `max_decoding_length`, so a line's limit is raised to its prefix length as ours is;
- CTranslate2's length penalty is log P / (length + 1)^alpha, not GNMT's, so beam search asks it
  for all K hypotheses (`length_penalty=0`) and ranks them here with ours;
- its scores renormalise over the tokens left after suppressing PAD and BOS, so every hypothesis
  is rescored teacher-forced (`score_batch`: EOS included, PAD and BOS keep their mass), which
  gives the log P our search reports (a trained model puts ~1e-3 of its mass there per step).
"""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from nmt.data.tokenizer import Tokenizer
from nmt.errors import NMTError, error_summary
from nmt.inference.decoding import Hypothesis, length_penalty_gnmt, max_lengths
from nmt.inference.export_ctranslate2 import (
    METADATA_FILE,
    METADATA_FORMAT,
    MODEL_FILE,
    SRC_MODEL_FILE,
    TGT_MODEL_FILE,
    import_ctranslate2,
)
from nmt.inference.translation import (
    Translation,
    empty_translation,
    encode_prefixes,
    encode_targets,
    hypothesis_translation,
    truncate_ids,
)
from nmt.tokens import BOS_PIECE, EOS_ID, PAD_PIECE

_COMPUTE_TYPES = {"32": "default", "bf16": "bfloat16"}  # precision=32 keeps the type the export stored


def is_ctranslate2_export(path: str | Path) -> bool:
    """Whether `path` is a directory holding a CTranslate2 model (what nmt-export writes)."""
    return (Path(path) / MODEL_FILE).is_file()


class CTranslate2Translator:
    """Translate raw sentences with an exported model directory; beam_size 1 is greedy search."""

    def __init__(
        self,
        model_dir: str | Path,
        *,
        beam_size: int,
        length_penalty: float,
        max_len_a: float,
        max_len_b: int,
        batch_tokens: int,
        device: torch.device,
        max_src_tokens: int | None,
        precision: str,
        threads: int,
    ) -> None:
        self.model_dir = Path(model_dir)
        self.metadata = read_metadata(self.model_dir)
        self.tokenizer = read_tokenizer(self.model_dir)
        # CTranslate2 speaks pieces; SentencePiece pieces are unique, so each maps back to one id.
        target_pieces = self.tokenizer.tgt_pieces(range(self.tokenizer.tgt_vocab_size))
        self._tgt_ids = {piece: i for i, piece in enumerate(target_pieces)}
        self.beam_size = beam_size
        self.length_penalty = length_penalty
        self.max_len_a = max_len_a
        self.max_len_b = max_len_b
        self.batch_tokens = batch_tokens
        positions = int(self.metadata["max_positions"])
        # Position tables have `positions` rows: the source plus its EOS, and BOS plus the target tokens.
        self.max_src_tokens = min(positions - 1, max_src_tokens or positions)
        self.max_tgt_tokens = positions - 1
        ctranslate2 = import_ctranslate2()
        compute_type = _COMPUTE_TYPES[str(precision)]
        try:
            self.engine = ctranslate2.Translator(
                str(self.model_dir), device=device.type, device_index=device.index or 0,
                compute_type=compute_type, intra_threads=threads,
            )
        except (ValueError, RuntimeError) as error:
            supported = ", ".join(sorted(ctranslate2.get_supported_compute_types(device.type)))
            fix = ("export the checkpoint again with nmt-export" if compute_type == "default"
                   else f"CTranslate2 computes in {supported} there: use precision=32")
            raise NMTError(f"CTranslate2 cannot load {self.model_dir} on {device} with compute type {compute_type} "
                           f"({error_summary(error)}); {fix}.") from None

    @property
    def source_limit(self) -> int:
        """The most source pieces of a line the model reads; longer lines are truncated with a warning."""
        return self.max_src_tokens

    def with_search(self, *, beam_size: int, length_penalty: float) -> CTranslate2Translator:
        """A translator with other search settings that shares this one's loaded model."""
        other = copy.copy(self)
        other.beam_size, other.length_penalty = beam_size, length_penalty
        return other

    def translate(self, texts: Sequence[str]) -> list[str]:
        """The best translation of each line, in input order."""
        return [nbest[0].text for nbest in self.translate_nbest(texts)]

    def translate_nbest(
        self, texts: Sequence[str], *, nbest: int = 1, return_attention: bool = False,
        prefixes: Sequence[str] | None = None,
    ) -> list[list[Translation]]:
        """For each line, its `nbest` best translations, best first (one empty translation for an empty line);
        `prefixes`: one text per line its translations start with ("" = none), as in `Translator`."""
        if return_attention:
            raise NMTError(f"plot= needs the attention of every head, which the CTranslate2 export "
                           f"{self.model_dir} does not give; pass the .pt checkpoint to plot attention.")
        if not 1 <= nbest <= self.beam_size:
            raise NMTError(
                f"nbest={nbest} must be between 1 and beam_size={self.beam_size}; raise beam_size or lower nbest."
            )
        src_ids = self._encode(texts)
        prefix_ids = (encode_prefixes(self.tokenizer, prefixes, lines=len(texts), limit=self.max_tgt_tokens)
                      or [[] for _ in texts])
        results: list[list[Translation]] = [[empty_translation()] for _ in texts]
        limits = {length: self._max_tokens(length) for length in {len(ids) for ids in src_ids}}
        rows_by_limit: dict[tuple[int, int], list[int]] = defaultdict(list)  # (source length, target limit)
        for row, ids in enumerate(src_ids):
            if ids:
                rows_by_limit[len(ids), max(limits[len(ids)], len(prefix_ids[row]))].append(row)
        for (_, max_tokens), rows in sorted(rows_by_limit.items()):
            sources, prefix = [src_ids[row] for row in rows], [prefix_ids[row] for row in rows]
            for row, hypotheses in zip(rows, self._search(sources, prefix, max_tokens=max_tokens)):
                src_row = [*src_ids[row], EOS_ID]
                results[row] = [hypothesis_translation(self.tokenizer, h, src_row) for h in hypotheses[:nbest]]
        return results

    def score(self, sources: Sequence[str], targets: Sequence[str]) -> list[float]:
        """Teacher-forced log P(target | source) of each pair, EOS included (for contrastive evaluation)."""
        if len(sources) != len(targets):
            raise NMTError(f"{len(sources)} sources for {len(targets)} targets; score one target per source.")
        tgt_ids = encode_targets(self.tokenizer, targets, limit=self.max_tgt_tokens, side="target")
        return self._log_probs(self._encode(sources), tgt_ids)

    def _encode(self, texts: Sequence[str]) -> list[list[int]]:
        return truncate_ids(self.tokenizer.encode_src([text.strip() for text in texts]),
                            limit=self.max_src_tokens, side="source")

    def _max_tokens(self, src_length: int) -> int:
        """The most target tokens for a source of `src_length` pieces (+ EOS), computed as beam_search does."""
        src_mask = torch.ones((1, src_length + 1), dtype=torch.bool)  # (1, S)
        limit = max_lengths(src_mask, max_len_a=self.max_len_a, max_len_b=self.max_len_b, cap=self.max_tgt_tokens)
        return int(limit[0])

    def _search(
        self, sources: list[list[int]], prefixes: list[list[int]], *, max_tokens: int
    ) -> list[list[Hypothesis]]:
        """Sources of one length and their target prefixes ([] = none) -> each one's hypotheses, best first,
        scored as nmt's search scores them."""
        if max_tokens == 0:  # CTranslate2 reads max_decoding_length=0 as "no limit"; ours ends at once
            found: list[list[list[int]]] = [[[]] for _ in sources]
        else:
            results = self.engine.translate_batch(
                [self.tokenizer.src_pieces(ids) for ids in sources],
                target_prefix=[self.tokenizer.tgt_pieces(ids) for ids in prefixes] if any(prefixes) else None,
                beam_size=self.beam_size, num_hypotheses=self.beam_size, length_penalty=0.0,
                max_decoding_length=max_tokens, min_decoding_length=0, max_input_length=0,
                suppress_sequences=[[PAD_PIECE], [BOS_PIECE]], max_batch_size=self.batch_tokens, batch_type="tokens",
            )
            found = [[[self._tgt_ids[piece] for piece in pieces] for pieces in result.hypotheses]
                     for result in results]
        # CTranslate2's scores renormalise over the tokens left after suppressing PAD and BOS, and end
        # without EOS at the limit; ours mask after the softmax and force EOS there: score as we do.
        pairs = [(i, tokens) for i, hypotheses in enumerate(found) for tokens in hypotheses]
        scores = iter(self._log_probs([sources[i] for i, _ in pairs], [tokens for _, tokens in pairs]))
        return [self._ranked([(tokens, next(scores)) for tokens in hypotheses]) for hypotheses in found]

    def _ranked(self, scored: list[tuple[list[int], float]]) -> list[Hypothesis]:
        """Beam search ranks by log P / GNMT penalty (EOS counted in the length); greedy keeps log P."""
        if self.beam_size == 1:
            return [Hypothesis(tokens=tokens, score=score) for tokens, score in scored]
        hypotheses = [Hypothesis(tokens=tokens, score=score / length_penalty_gnmt(len(tokens) + 1, self.length_penalty))
                      for tokens, score in scored]
        return sorted(hypotheses, key=lambda h: h.score, reverse=True)

    def _log_probs(self, sources: list[list[int]], targets: list[list[int]]) -> list[float]:
        """Teacher-forced log P(target + EOS | source + EOS) per pair."""
        if not sources:
            return []
        results = self.engine.score_batch(
            [self.tokenizer.src_pieces(ids) for ids in sources], [self.tokenizer.tgt_pieces(ids) for ids in targets],
            max_input_length=0, max_batch_size=self.batch_tokens, batch_type="tokens",
        )
        return [float(sum(result.log_probs)) for result in results]


def read_metadata(model_dir: Path) -> dict[str, Any]:
    """nmt.json of an export, or one NMTError naming the directory."""
    path = model_dir / METADATA_FILE
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise NMTError(f"{model_dir} holds a CTranslate2 model but no readable {METADATA_FILE} "
                       f"({error_summary(error)}); export it again with nmt-export.") from None
    if not isinstance(metadata, dict) or metadata.get("format") != METADATA_FORMAT or not (
            isinstance(metadata.get("max_positions"), int) and metadata["max_positions"] >= 2):
        raise NMTError(f"{path} is not an nmt-export description of format {METADATA_FORMAT}; "
                       "export the checkpoint again with this version of nmt-export.")
    return metadata


def read_tokenizer(model_dir: Path) -> Tokenizer:
    """The SentencePiece models an export carries, as the Tokenizer of the checkpoint it came from."""
    try:
        src_model, tgt_model = (model_dir / SRC_MODEL_FILE).read_bytes(), (model_dir / TGT_MODEL_FILE).read_bytes()
    except OSError as error:
        raise NMTError(f"{model_dir} lacks its SentencePiece models ({error_summary(error)}); "
                       "export the checkpoint again with nmt-export.") from None
    return Tokenizer(src_model=src_model, tgt_model=None if tgt_model == src_model else tgt_model)
