"""Trainer settings: checked once, with errors that name the key; durations; RNG state round trip; the loss."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from nmt.errors import NMTError
from nmt.models import RNNSeq2Seq, Transformer
from nmt.training.config import TrainerConfig, configure_torch, parse_duration, rng_state, set_rng_state
from nmt.training.loss import label_smoothed_loss

DEFAULTS = yaml.safe_load((Path(__file__).parents[2] / "configs" / "trainer" / "default.yaml").read_text())


def test_default_yaml_builds_a_config_with_every_key():
    config = TrainerConfig.from_dict(dict(DEFAULTS))
    assert config.precision == "32"
    assert config.adam_betas == (0.9, 0.98)


def test_precision_given_as_an_integer_is_accepted():
    assert TrainerConfig.from_dict({**DEFAULTS, "precision": 32}).precision == "32"


@pytest.mark.parametrize(("key", "value", "message"), [
    ("lr_schedule", "cosine", r"trainer\.lr_schedule='cosine' is not a valid choice; valid choices are: auto, inv"),
    ("precision", "fp16", r"trainer\.precision='fp16' is not a valid choice"),
    ("metric", "ter", r"trainer\.metric='ter' is not a valid choice"),
    ("batch_tokens", 0, r"trainer\.batch_tokens=0 is too small; it must be 1 or more"),
    ("batch_tokens", "abc", r"trainer\.batch_tokens='abc' has the wrong type; expected int"),
    ("warmup_steps", 2.5, r"trainer\.warmup_steps=2\.5 has the wrong type; expected int"),
    ("threads", None, r"trainer\.threads=None has the wrong type; expected int"),
    ("plateau_patience", -1, r"trainer\.plateau_patience=-1 is too small; it must be 0 or more"),
    ("clip_grad_norm", -1.0, r"trainer\.clip_grad_norm=-1\.0 is too small"),
    ("weight_decay", float("nan"), r"trainer\.weight_decay=nan is not a finite number"),
    ("adam_eps", 0.0, r"trainer\.adam_eps=0\.0 must be a positive number"),
    ("adam_betas", [0.9], r"trainer\.adam_betas=\[0\.9\] has the wrong type; expected a list of 2 floats"),
    ("adam_betas", [0.9, 1.0], r"trainer\.adam_betas=\[0\.9, 1\.0\] must both be in \[0, 1\)"),
    ("val_max_len_b", -1, r"trainer\.val_max_len_b=-1 is too small"),
    ("label_smoothing", 1.0, r"trainer\.label_smoothing=1\.0 must be in \[0, 1\)"),
    ("max_time", "20 minutes", r"trainer\.max_time='20 minutes' is not a duration; write it as HH:MM:SS"),
    ("average_last", 4, r"trainer\.average_last=4 averages more checkpoints than the trainer\.keep_checkpoints=3 "
                        r"a run keeps; raise keep_checkpoints to 4"),
])
def test_bad_value_names_the_key_and_the_fix(key, value, message):
    with pytest.raises(NMTError, match=message):
        TrainerConfig.from_dict({**DEFAULTS, key: value})


def test_misspelt_key_is_refused_with_the_valid_ones():
    with pytest.raises(NMTError, match=r"unknown config key trainer\.max_step; valid keys are: .*max_steps"):
        TrainerConfig.from_dict({**DEFAULTS, "max_step": 10})


def test_training_that_could_never_stop_is_refused():
    with pytest.raises(NMTError, match="would never stop"):
        TrainerConfig.from_dict({**DEFAULTS, "max_epochs": 0, "max_steps": 0, "max_time": None, "patience": 0})


@pytest.mark.parametrize(("value", "seconds"), [("00:20:00", 1200.0), ("36:00:05", 129605.0), (1200, 1200.0),
                                               (None, None)])
def test_durations_parse_to_seconds(value, seconds):
    assert parse_duration(value) == seconds


def test_rng_state_round_trip_replays_every_generator():
    random.seed(3), np.random.seed(3), torch.manual_seed(3)
    state = rng_state()
    first = (random.random(), np.random.rand(), torch.rand(2))
    np.random.randn()  # leave numpy with a cached gaussian to restore too
    set_rng_state(state)
    second = (random.random(), np.random.rand(), torch.rand(2))
    assert first[:2] == second[:2]
    assert torch.equal(first[2], second[2])


def test_loss_matches_torch_cross_entropy_with_label_smoothing_and_ignores_padding():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 7)
    target = torch.tensor([[4, 5, 3], [6, 3, 0]])  # PAD_ID = 0 in the last position
    loss, nll = label_smoothed_loss(logits, target, smoothing=0.1)
    expected = torch.nn.functional.cross_entropy(logits.view(-1, 7), target.view(-1), ignore_index=0,
                                                 label_smoothing=0.1, reduction="sum")
    expected_nll = torch.nn.functional.cross_entropy(logits.view(-1, 7), target.view(-1), ignore_index=0,
                                                     reduction="sum")
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert nll.item() == pytest.approx(expected_nll.item(), rel=1e-5)


@pytest.mark.parametrize(("precision", "preset", "shapes_repeat", "expected"), [
    ("bf16", None, True, "1024"),  # a Transformer's shapes recur with one width: keep them all (oneDNN's default)
    ("bf16", None, False, "32"),  # an RNN's packed steps would pile per-shape kernels up to gigabytes
    ("bf16", "512", False, "512"),  # the user's own setting is kept
    ("32", None, False, None),  # float32 training leaves oneDNN as it is
])
def test_bf16_training_on_cpu_sizes_onednn_s_primitive_cache(monkeypatch, precision, preset, shapes_repeat, expected):
    # setenv first, so that monkeypatch restores the variable's original state after configure_torch wrote it
    monkeypatch.setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", preset or "")
    if preset is None:
        monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY")
    threads = torch.get_num_threads()
    try:
        configure_torch(TrainerConfig.from_dict({**DEFAULTS, "precision": precision}), torch.device("cpu"),
                        shapes_repeat=shapes_repeat)
    finally:
        torch.set_num_threads(threads)
    assert os.environ.get("ONEDNN_PRIMITIVE_CACHE_CAPACITY") == expected


def test_only_the_recurrent_models_say_their_matmul_shapes_vary():
    assert Transformer.matmul_shapes_repeat and not RNNSeq2Seq.matmul_shapes_repeat
