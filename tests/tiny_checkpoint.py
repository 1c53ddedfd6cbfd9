"""A tiny, self-contained checkpoint for the translation and entry-point tests.

SentencePiece is trained on a dozen fixture sentences and the Transformer
(D=16, learned positions, so it has a source limit) keeps its seeded random
weights: the tests check plumbing, order and formats, not translation quality.
The checkpoint's corpus is a local TSV corpus written next to it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nmt.checkpoint import Checkpoint, save_checkpoint
from nmt.data.tokenizer import TokenizerConfig, train_tokenizer
from nmt.models import build_model

PAIRS = [
    ("a man rides a bike .", "un homme fait du vélo ."),
    ("the little girl sleeps .", "la petite fille dort ."),
    ("two dogs run in the park .", "deux chiens courent dans le parc ."),
    ("she reads a book .", "elle lit un livre ."),
    ("the boys play football on the beach .", "les garçons jouent au football sur la plage ."),
    ("a woman sings .", "une femme chante ."),
    ("he drinks water because he is thirsty .", "il boit de l' eau parce qu' il a soif ."),
    ("the cat is black .", "le chat est noir ."),
    ("they eat bread and cheese .", "ils mangent du pain et du fromage ."),
    ("my friend lives in a small house .", "mon ami habite dans une petite maison ."),
    ("the river is cold .", "la rivière est froide ."),
    ("we walk to the market every morning .", "nous marchons au marché chaque matin ."),
]
MAX_POSITIONS = 64
MODEL_CONFIG = {
    "_target_": "nmt.models.transformer.Transformer",
    "d_model": 16, "num_heads": 2, "num_encoder_layers": 2, "num_decoder_layers": 2, "ff_dim": 32,
    "dropout": 0.1, "attention_dropout": 0.0, "activation_dropout": 0.0, "norm": "pre",
    "positions": "learned", "max_positions": MAX_POSITIONS, "scale_embeddings": True, "tie_embeddings": "decoder",
}
TOKENIZER_CONFIG = TokenizerConfig(model_type="unigram", vocab_size=90, joint=True, character_coverage=1.0,
                                   input_sentence_size=1000, seed=1, num_threads=1)
RNN_MODEL_CONFIG = {  # for ensembles of both families
    "_target_": "nmt.models.rnn.RNNSeq2Seq", "cell": "gru", "emb_dim": 16, "encoder_hidden_dim": 8,
    "encoder_layers": 1, "decoder_hidden_dim": 16, "decoder_layers": 1, "attention": "bahdanau", "bridge": True,
    "dropout": 0.1, "tie_embeddings": "none",
}


def write_corpus(directory: Path) -> Path:
    """train/valid/test TSV files of PAIRS (test: the last 6) in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    for stem, pairs in (("train", PAIRS), ("valid", PAIRS[:4]), ("test", PAIRS[-6:])):
        (directory / f"{stem}.tsv").write_text("".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")
    return directory


def build_tiny_checkpoint(
    directory: Path, *, model_config: dict = MODEL_CONFIG, tokenizer_config: TokenizerConfig = TOKENIZER_CONFIG
) -> Path:
    """Write corpus/ and checkpoints/best.pt under `directory`; returns the checkpoint path."""
    corpus_dir = write_corpus(directory / "corpus")
    tokenizer = train_tokenizer(tokenizer_config, src_sentences=[s for s, _ in PAIRS],
                                tgt_sentences=[t for _, t in PAIRS])
    torch.manual_seed(0)
    model = build_model(model_config, src_vocab_size=tokenizer.src_vocab_size, tgt_vocab_size=tokenizer.tgt_vocab_size)
    data_config = {
        "name": "tiny", "source": "local", "src_lang": "en", "tgt_lang": "fr", "local_dir": str(corpus_dir),
        "local_splits": {"train": "train", "validation": "valid", "test": "test"}, "local_format": "tsv",
        "vocab_size": tokenizer_config.vocab_size, "clean": {"max_len": 100, "max_ratio": 3.0, "dedup": False},
    }
    return save_checkpoint(directory / "checkpoints" / "best.pt", Checkpoint(
        model_state=model.state_dict(), model_config=model_config,
        src_vocab_size=tokenizer.src_vocab_size, tgt_vocab_size=tokenizer.tgt_vocab_size,
        tokenizer_state=tokenizer.to_state(), data_config=data_config,
        tokenizer_config=tokenizer_config.to_dict(), metrics={"step": 0},
    ))


@pytest.fixture(autouse=True, scope="module")
def one_cpu_thread():
    """A tiny model runs many tiny operations: with the cores shared by other processes,
    two OpenMP threads wait on each other far longer than one thread computes."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tiny_analysis_context(directory: Path, model_config: dict = MODEL_CONFIG, alignments=None):
    """An AnalysisContext over PAIRS with a tiny checkpoint of `model_config` written in `directory`."""
    from nmt.analysis.core import AnalysisContext, make_examples
    from nmt.inference.translation import load_for_translation

    path = build_tiny_checkpoint(directory, model_config=model_config)
    _, model, tokenizer = load_for_translation(path, device=torch.device("cpu"))
    examples = make_examples(tokenizer, [s for s, _ in PAIRS], [t for _, t in PAIRS], alignments)
    return AnalysisContext(model=model, tokenizer=tokenizer, examples=examples, device=torch.device("cpu"),
                           batch_tokens=60)
