"""The shared data: the corpus as whitespace-separated SentencePiece pieces, written once for every tool."""

from __future__ import annotations

import argparse
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


@dataclass
class PieceData:
    """The corpus as whitespace-separated pieces, written once under <work>/data for every tool."""

    directory: Path
    train_src_lengths: np.ndarray
    train_tgt_lengths: np.ndarray
    test_sources: list[str]  # raw (cleaned) German, what nmt translates
    test_references: list[str]  # raw (cleaned) English, what every tool is scored against
    tokenizer: str  # "nmt" or "standalone"
    vocab_size: int


def prepare_pieces(args: argparse.Namespace) -> PieceData:
    """Write train/val/test piece files, the peers' vocabularies and the references under <work>/data."""
    directory = args.work_dir / "data"
    directory.mkdir(parents=True, exist_ok=True)
    if args.tokenizer == "nmt":
        splits, vocab_size = nmt_splits(args.corpus, args.nmt_overrides)
    else:
        splits, vocab_size = standalone_splits(args.corpus, vocab_size=args.vocab_size, work_dir=directory), args.vocab_size
    for name, (src, tgt, _, _) in splits.items():
        write_lines(directory / f"{name}.de", src)
        write_lines(directory / f"{name}.en", tgt)
    counts = Counter(piece for lines in splits["train"][:2] for line in lines for piece in line.split())
    ranked = [piece for piece, _ in counts.most_common()]
    write_lines(directory / "joey_vocab.txt", ranked)
    write_lines(directory / "onmt_vocab.txt", [f"{piece}\t{counts[piece]}" for piece in ranked])
    train_src, train_tgt = splits["train"][0], splits["train"][1]
    return PieceData(directory=directory,
                     train_src_lengths=np.array([len(line.split()) for line in train_src]),
                     train_tgt_lengths=np.array([len(line.split()) for line in train_tgt]),
                     test_sources=splits["test"][2], test_references=splits["test"][3],
                     tokenizer=args.tokenizer, vocab_size=vocab_size)


def nmt_splits(corpus_dir: Path, overrides: Sequence[str]) -> tuple[dict[str, tuple], int]:
    """split -> (src piece lines, tgt piece lines, src texts, tgt texts) from nmt's own pipeline, and V."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from nmt.data.corpus import CorpusConfig
    from nmt.data.pipeline import prepare_corpus
    from nmt.data.tokenizer import TokenizerConfig

    with initialize_config_module(config_module="nmt.configs", version_base=None):
        cfg = compose("config", overrides=nmt_data_overrides(corpus_dir, overrides))
    plain = lambda node: OmegaConf.to_container(node, resolve=True)  # noqa: E731
    corpus = prepare_corpus(CorpusConfig(**plain(cfg.data)), TokenizerConfig(**plain(cfg.tokenizer)),
                            data_dir=REPO / cfg.paths.data_dir)
    tokenizer = corpus.tokenizer
    splits = {}
    for split, name in (("train", "train"), ("validation", "val"), ("test", "test")):
        dataset = corpus.splits[split]
        splits[name] = ([" ".join(tokenizer.src_pieces(ids)) for ids in dataset["src_ids"]],
                        [" ".join(tokenizer.tgt_pieces(ids)) for ids in dataset["tgt_ids"]],
                        list(dataset["src"]), list(dataset["tgt"]))
    return splits, tokenizer.tgt_vocab_size


def nmt_data_overrides(corpus_dir: Path, extra: Sequence[str]) -> list[str]:
    return ["data=multi30k", f"data.local_dir={corpus_dir}", *extra]


def standalone_splits(corpus_dir: Path, *, vocab_size: int, work_dir: Path) -> dict[str, tuple]:
    """Like `nmt_splits`, with one joint unigram SentencePiece model trained here (peers-only runs)."""
    import sentencepiece as spm

    texts = {}
    for name, stem in (("train", "train"), ("val", "val"), ("test", "test_2016_flickr")):
        pairs = [(normalise(de), normalise(en)) for de, en in zip(read_gz_lines(corpus_dir / f"{stem}.de.gz"),
                                                                 read_gz_lines(corpus_dir / f"{stem}.en.gz"))]
        texts[name] = [(de, en) for de, en in pairs if de and en]
    model_path = work_dir / "spm.model"
    if not model_path.exists():
        sentences = [side for pair in texts["train"] for side in pair]
        with (work_dir / "spm.model").open("wb") as model_file:
            spm.SentencePieceTrainer.train(sentence_iterator=iter(sentences), model_writer=model_file,
                                           vocab_size=vocab_size, model_type="unigram", character_coverage=1.0,
                                           pad_id=0, unk_id=1, bos_id=2, eos_id=3, minloglevel=2)
    processor = spm.SentencePieceProcessor(model_file=str(model_path))
    encode = lambda lines: [" ".join(pieces) for pieces in processor.encode(lines, out_type=str)]  # noqa: E731
    return {name: (encode([de for de, _ in pairs]), encode([en for _, en in pairs]),
                   [de for de, _ in pairs], [en for _, en in pairs]) for name, pairs in texts.items()}


def normalise(text: str) -> str:
    """NFC and collapsed whitespace, as nmt's cleaning does; used only by the standalone route."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def read_gz_lines(path: Path) -> list[str]:
    import gzip
    with gzip.open(path, "rt", encoding="utf-8") as file:
        return [line.rstrip("\n") for line in file]


def write_lines(path: Path, lines: Sequence[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def detokenize(line: str) -> str:
    """Whitespace-separated SentencePiece pieces -> text, as SentencePiece decodes (specials dropped)."""
    pieces = [piece for piece in line.split() if not (piece.startswith("<") and piece.endswith(">"))]
    return "".join(pieces).replace("\u2581", " ").strip()

