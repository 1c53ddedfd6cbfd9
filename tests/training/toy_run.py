"""A toy reversal task small enough to train in seconds, shared by the loop and the distributed tests.

Also the worker the distributed tests start in each process (`train_rank`): it sets the
environment torchrun would set, joins the process group as `nmt-train` does and trains.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import torch
import yaml

from nmt.data.batching import TokenizedSplit
from nmt.data.tokenizer import TokenizerConfig, train_tokenizer
from nmt.models import build_model
from nmt.training.config import TrainerConfig, seed_everything
from nmt.training.distributed import ranks_from_environment, start_process_group, stop_process_group
from nmt.training.inputs import RunInputs
from nmt.training.loop import Trainer

DEFAULTS = yaml.safe_load((Path(__file__).parents[2] / "configs" / "trainer" / "default.yaml").read_text())
TINY_TRANSFORMER = {
    "_target_": "nmt.models.transformer.Transformer", "d_model": 32, "num_heads": 2, "num_encoder_layers": 1,
    "num_decoder_layers": 1, "ff_dim": 64, "dropout": 0.1, "attention_dropout": 0.0, "activation_dropout": 0.0,
    "norm": "pre", "positions": "sinusoidal", "max_positions": 64, "scale_embeddings": True,
    "tie_embeddings": "decoder",
}
TINY_RNN = {
    "_target_": "nmt.models.rnn.RNNSeq2Seq", "cell": "gru", "emb_dim": 16, "encoder_hidden_dim": 16,
    "encoder_layers": 1, "decoder_hidden_dim": 32, "decoder_layers": 1, "attention": "bahdanau", "bridge": True,
    "dropout": 0.1, "tie_embeddings": "none",
}
WORDS = ["red", "blue", "green", "black", "white", "small", "big", "old", "new", "fast", "slow", "happy"]


def reversal_pairs(count: int, *, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pairs = []
    for _ in range(count):
        words = [rng.choice(WORDS) for _ in range(rng.randint(2, 6))]
        pairs.append((" ".join(words), " ".join(reversed(words))))
    return pairs


def build_toy_inputs(num_train: int = 400, model_config: dict[str, Any] = TINY_TRANSFORMER) -> RunInputs:
    train, validation = reversal_pairs(num_train, seed=1), reversal_pairs(24, seed=2)
    tokenizer_config = TokenizerConfig(model_type="bpe", vocab_size=40, joint=True, character_coverage=1.0,
                                       input_sentence_size=10_000, seed=0, num_threads=1)
    tokenizer = train_tokenizer(tokenizer_config, src_sentences=[s for s, _ in train],
                                tgt_sentences=[t for _, t in train])

    def split(pairs):
        return TokenizedSplit.from_lists(tokenizer.encode_src([s for s, _ in pairs]),
                                         tokenizer.encode_tgt([t for _, t in pairs]))

    return RunInputs(train=split(train), validation=split(validation),
                     validation_sources=[s for s, _ in validation], validation_references=[t for _, t in validation],
                     tokenizer=tokenizer, model_config=model_config, data_config={"name": "toy"},
                     tokenizer_config=tokenizer_config.to_dict())


def trainer_config(**overrides) -> TrainerConfig:
    settings = {**DEFAULTS, "batch_tokens": 256, "lr": 3e-3, "warmup_steps": 10, "max_epochs": 0, "max_steps": 12,
                "validate_every": 4, "log_every": 2, "patience": 0, "tensorboard": False, "deterministic": True}
    return TrainerConfig.from_dict({**settings, **overrides})


def train_rank(rank: int, world_size: int, port: int, output_dir: str, num_train: int,
               model_config: dict[str, Any], overrides: dict[str, Any], resume: bool) -> None:
    """One training process of `world_size` (rank `rank`), as torchrun would start it."""
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world_size),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    config = trainer_config(**overrides)
    ranks = start_process_group(ranks_from_environment(), torch.device("cpu"), timeout_s=120)
    try:
        inputs = build_toy_inputs(num_train, model_config)
        seed_everything(config.seed)
        model = build_model(model_config, src_vocab_size=inputs.tokenizer.src_vocab_size,
                            tgt_vocab_size=inputs.tokenizer.tgt_vocab_size)
        resume_from = Path(output_dir) / "checkpoints" / "last.pt" if resume else None
        Trainer(model=model, inputs=inputs, config=config, device=torch.device("cpu"), output_dir=Path(output_dir),
                resume_from=resume_from, ranks=ranks).fit()
    finally:
        stop_process_group()
