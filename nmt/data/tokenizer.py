"""SentencePiece subword tokenization (Kudo & Richardson 2018), joint or per language.

Every model reserves the special ids of `nmt.tokens`: pad=0, unk=1, bos=2, eos=3. `encode_*`
returns ids without BOS/EOS; batching adds them. The model protos travel inside checkpoints
through `Tokenizer.to_state()` (plain str/bool/bytes, loadable with
`torch.load(weights_only=True)`), so a checkpoint alone is enough to translate.
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

# SentencePiece builds its seed pieces with its own OpenMP runtime, whose idle threads spin by
# default; on a machine shared with other work the spinning thread takes the CPU its partner
# needs (training took 1.7-3x longer under load). Waiting passively gives the same model. The
# runtime reads the policy once, when it loads, so it is set for this import only (unless the
# user set one) and never reaches torch's OpenMP or child processes.
_USER_WAIT_POLICY = os.environ.get("OMP_WAIT_POLICY")
os.environ["OMP_WAIT_POLICY"] = _USER_WAIT_POLICY or "PASSIVE"
import sentencepiece as spm

if _USER_WAIT_POLICY is None:
    del os.environ["OMP_WAIT_POLICY"]

from nmt.data.validation import check_at_least, check_fields, from_mapping
from nmt.errors import NMTError, error_summary
from nmt.tokens import BOS_ID, BOS_PIECE, EOS_ID, EOS_PIECE, PAD_ID, PAD_PIECE, UNK_ID, UNK_PIECE

log = logging.getLogger(__name__)

STATE_FORMAT = "sentencepiece/1"
JOINT_MODEL, SRC_MODEL, TGT_MODEL = "joint.model", "src.model", "tgt.model"


@dataclass(frozen=True, kw_only=True)
class TokenizerConfig:
    """SentencePiece training settings (the Hydra `tokenizer` group)."""

    model_type: Literal["unigram", "bpe"]  # Kudo 2018 unigram LM, or Sennrich et al. 2016 BPE
    vocab_size: int  # pieces per model, special ids included; a soft limit on tiny corpora
    joint: bool  # one model for both languages (shared vocabulary), or one per language
    character_coverage: float  # share of characters covered by pieces; rarer ones become <unk>
    input_sentence_size: int  # at most this many train pairs feed training, sampled with `seed`
    seed: int
    num_threads: int  # SentencePiece's result depends on it, so it is fixed, not "all cores"

    def __post_init__(self) -> None:
        check_fields(self, prefix="tokenizer")
        if self.vocab_size <= len(PIECES):
            raise NMTError(f"tokenizer.vocab_size={self.vocab_size} must exceed the {len(PIECES)} special pieces")
        if not 0.0 < self.character_coverage <= 1.0:
            raise NMTError(f"tokenizer.character_coverage={self.character_coverage} must be in (0, 1]")
        check_at_least(self, 1, "input_sentence_size", "num_threads", prefix="tokenizer")
        if not 0 <= self.seed < 2**32:  # SentencePiece's generator takes an unsigned 32-bit seed
            raise NMTError(f"tokenizer.seed={self.seed} must be in [0, 2^32), e.g. 1")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TokenizerConfig:
        """Build from the resolved `tokenizer` group; a misspelt key is an `NMTError`."""
        return from_mapping(cls, values, prefix="tokenizer")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PIECES = {PAD_ID: PAD_PIECE, UNK_ID: UNK_PIECE, BOS_ID: BOS_PIECE, EOS_ID: EOS_PIECE}


def train_sentencepiece(sentences: Sequence[str], *, config: TokenizerConfig, corpus: str = "the train split") -> bytes:
    """Train one SentencePiece model in memory on `sentences`; returns the model proto.

    `corpus` names the sentences in messages. A corpus too small for `vocab_size` pieces
    gives a smaller model and a warning with both numbers; a `vocab_size` below the pieces
    its characters need is an `NMTError`.
    """
    if not sentences:
        raise NMTError("cannot train SentencePiece: the train split is empty after cleaning")
    spm.set_random_generator_seed(config.seed)
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=model,
            model_type=config.model_type,
            vocab_size=config.vocab_size,
            character_coverage=config.character_coverage,
            num_threads=config.num_threads,
            pad_id=PAD_ID, unk_id=UNK_ID, bos_id=BOS_ID, eos_id=EOS_ID,
            pad_piece=PAD_PIECE, unk_piece=UNK_PIECE, bos_piece=BOS_PIECE, eos_piece=EOS_PIECE,
            # A small corpus may not support vocab_size pieces; train what it supports
            # instead of failing, and report the size the model really has.
            hard_vocab_limit=False,
            # The caller already sampled deterministically; SentencePiece's own sampling is off.
            input_sentence_size=0,
            shuffle_input_sentence=False,
            minloglevel=2,
        )
    except RuntimeError as error:
        raise NMTError(_training_error(error, config=config, corpus=corpus)) from None
    size = spm.SentencePieceProcessor(model_proto=model.getvalue()).get_piece_size()
    if size < config.vocab_size:
        log.warning("tokenizer.vocab_size=%d but %s supports only %d pieces; the model has %d "
                    "(set data.vocab_size to at most %d to silence this)", config.vocab_size, corpus, size, size, size)
    return model.getvalue()


def _training_error(error: RuntimeError, *, config: TokenizerConfig, corpus: str) -> str:
    """SentencePiece's INTERNAL error as our sentence; the one users meet is "vocab_size below the characters"."""
    needed = re.search(r"smaller than required_chars\. (\d+) vs (\d+)", str(error))
    if needed:
        return (f"tokenizer.vocab_size={config.vocab_size} is below the {needed.group(2)} pieces {corpus} needs "
                f"(one per character kept by tokenizer.character_coverage={config.character_coverage}, plus "
                f"{len(PIECES)} special pieces); set data.vocab_size to at least {needed.group(2)}, or lower "
                "tokenizer.character_coverage")
    return f"SentencePiece could not train on {corpus} ({error_summary(error)}); check the tokenizer.* settings"


def train_tokenizer(
    config: TokenizerConfig, *, src_sentences: Sequence[str], tgt_sentences: Sequence[str]
) -> Tokenizer:
    """Train a joint model on both sides, or one model per side, on the given train sentences."""
    if config.joint:
        log.info("training a joint %s SentencePiece model on %d sentences", config.model_type, len(src_sentences) + len(tgt_sentences))
        return Tokenizer(src_model=train_sentencepiece([*src_sentences, *tgt_sentences], config=config))
    log.info("training %s SentencePiece models on %d source and target sentences", config.model_type, len(src_sentences))
    return Tokenizer(
        src_model=train_sentencepiece(src_sentences, config=config, corpus="the source side of the train split"),
        tgt_model=train_sentencepiece(tgt_sentences, config=config, corpus="the target side of the train split"),
    )


class Tokenizer:
    """Source and target SentencePiece processors (the same one when joint)."""

    def __init__(self, *, src_model: bytes, tgt_model: bytes | None = None) -> None:
        self.joint = tgt_model is None
        self._src_model, self._tgt_model = src_model, tgt_model
        self._src = _processor(src_model)
        self._tgt = self._src if tgt_model is None else _processor(tgt_model)

    @property
    def src_vocab_size(self) -> int:
        return self._src.get_piece_size()

    @property
    def tgt_vocab_size(self) -> int:
        return self._tgt.get_piece_size()

    def encode_src(self, texts: list[str], *, num_threads: int = -1) -> list[list[int]]:
        """Piece ids of each source text, without BOS/EOS; `num_threads` -1 is one thread per core."""
        return self._src.encode(list(texts), out_type=int, num_threads=num_threads)

    def encode_tgt(self, texts: list[str], *, num_threads: int = -1) -> list[list[int]]:
        """Piece ids of each target text, without BOS/EOS; `num_threads` -1 is one thread per core."""
        return self._tgt.encode(list(texts), out_type=int, num_threads=num_threads)

    def decode_tgt(self, ids: Sequence[int]) -> str:
        """Detokenized text of target ids: stops at the first EOS, skips PAD and BOS."""
        ids = [int(i) for i in ids]
        if EOS_ID in ids:
            ids = ids[: ids.index(EOS_ID)]
        return self._tgt.decode([i for i in ids if i not in (PAD_ID, BOS_ID)])

    def src_pieces(self, ids: Sequence[int]) -> list[str]:
        """Piece strings of source ids (for attention plots); special ids keep their pieces."""
        return [self._src.id_to_piece(int(i)) for i in ids]

    def tgt_pieces(self, ids: Sequence[int]) -> list[str]:
        return [self._tgt.id_to_piece(int(i)) for i in ids]

    def to_state(self) -> dict[str, Any]:
        """Plain dict of str/bool/bytes holding the model protos; `from_state` inverts it."""
        state: dict[str, Any] = {"format": STATE_FORMAT, "joint": self.joint, "src_model": self._src_model}
        if not self.joint:
            state["tgt_model"] = self._tgt_model
        return state

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its state (SentencePiece processors do not pickle): it crosses into other processes."""
        return (Tokenizer.from_state, (self.to_state(),))

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Tokenizer:
        if state.get("format") != STATE_FORMAT:
            raise NMTError(
                f"tokenizer state has format {state.get('format')!r}, expected {STATE_FORMAT!r}; "
                "the checkpoint was written by an incompatible version"
            )
        return cls(src_model=state["src_model"], tgt_model=None if state["joint"] else state["tgt_model"])

    def save(self, directory: Path) -> None:
        """Write joint.model, or src.model and tgt.model (usable with any SentencePiece tool)."""
        directory.mkdir(parents=True, exist_ok=True)
        if self.joint:
            (directory / JOINT_MODEL).write_bytes(self._src_model)
        else:
            (directory / SRC_MODEL).write_bytes(self._src_model)
            (directory / TGT_MODEL).write_bytes(self._tgt_model)  # type: ignore[arg-type]

    @classmethod
    def load(cls, directory: Path) -> Tokenizer:
        if (directory / JOINT_MODEL).is_file():
            return cls(src_model=(directory / JOINT_MODEL).read_bytes())
        return cls(src_model=(directory / SRC_MODEL).read_bytes(), tgt_model=(directory / TGT_MODEL).read_bytes())


def _processor(model: bytes) -> spm.SentencePieceProcessor:
    processor = spm.SentencePieceProcessor(model_proto=model)
    found = [processor.id_to_piece(i) if i < processor.get_piece_size() else None for i in PIECES]
    if found != list(PIECES.values()):
        raise NMTError(f"the SentencePiece model has {found} at ids {list(PIECES)} where nmt reserves "
                       f"{list(PIECES.values())}; use a model trained by nmt-prepare")
    return processor
