"""Checkpoint averaging: the mean of the weights, exact on copies, refused across models, last N by step number."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from tiny_checkpoint import PAIRS, build_tiny_checkpoint, one_cpu_thread  # noqa: F401 (one_cpu_thread: autouse fixture)

from nmt.averaging import average_checkpoints, last_periodic_checkpoints
from nmt.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from nmt.errors import NMTError
from nmt.inference.translation import Translator, load_for_translation


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Checkpoint:
    return load_checkpoint(build_tiny_checkpoint(tmp_path_factory.mktemp("averaging")))


def with_random_weights(checkpoint: Checkpoint, *, seed: int, step: int) -> Checkpoint:
    generator = torch.Generator().manual_seed(seed)
    state = {name: torch.randn(tensor.shape, generator=generator).to(tensor.dtype)
             for name, tensor in checkpoint.model_state.items()}
    return replace(checkpoint, model_state=state, metrics={"step": step},
                   training_state={"step": step, "optimizer": {"state": {}}})


def write(directory: Path, name: str, checkpoint: Checkpoint) -> Path:
    return save_checkpoint(directory / name, checkpoint)


def test_two_checkpoints_average_to_their_elementwise_mean(tiny, tmp_path):
    first, second = with_random_weights(tiny, seed=1, step=10), with_random_weights(tiny, seed=2, step=20)
    averaged = average_checkpoints([write(tmp_path, "a.pt", first), write(tmp_path, "b.pt", second)])
    for name, tensor in averaged.model_state.items():
        expected = ((first.model_state[name].double() + second.model_state[name].double()) / 2).float()
        assert tensor.dtype == torch.float32 and torch.equal(tensor, expected), name


def test_copies_of_one_checkpoint_average_back_to_it_exactly(tiny, tmp_path):
    original = with_random_weights(tiny, seed=3, step=7)
    paths = [write(tmp_path, f"copy-{index}.pt", original) for index in range(3)]
    averaged = average_checkpoints(paths)
    assert averaged.model_state.keys() == original.model_state.keys()
    assert all(torch.equal(averaged.model_state[name], tensor) for name, tensor in original.model_state.items())


def test_tied_weights_stay_one_tensor_in_the_average(tiny, tmp_path):
    def tied_pairs(state):
        return {(a, b) for a in state for b in state if a < b and state[a].data_ptr() == state[b].data_ptr()}

    assert tied_pairs(tiny.model_state)  # the tiny Transformer ties its target embedding and output projection
    averaged = average_checkpoints([write(tmp_path, f"{i}.pt", tiny) for i in range(2)])
    assert tied_pairs(averaged.model_state) == tied_pairs(tiny.model_state)


def test_the_average_is_translate_only_and_records_the_averaged_steps(tiny, tmp_path):
    paths = [write(tmp_path, f"step-{step}.pt", with_random_weights(tiny, seed=step, step=step)) for step in (5, 9)]
    averaged = average_checkpoints(paths)
    assert averaged.training_state is None
    assert averaged.metrics == {"step": 9, "averaged_steps": [5, 9], "averaged_checkpoints": [str(p) for p in paths]}


def test_the_average_loads_for_translation_and_translates(tiny, tmp_path):
    paths = [write(tmp_path, f"{seed}.pt", with_random_weights(tiny, seed=seed, step=seed)) for seed in (1, 2)]
    saved = save_checkpoint(tmp_path / "avg.pt", average_checkpoints(paths))
    _, model, tokenizer = load_for_translation(saved, device=torch.device("cpu"))
    translator = Translator(model, tokenizer, beam_size=2, length_penalty=1.0, max_len_a=1.0, max_len_b=3,
                            batch_tokens=256)
    assert len(translator.translate([PAIRS[0][0], PAIRS[1][0]])) == 2


def test_bfloat16_weights_stay_bfloat16_and_equal_integer_buffers_are_kept(tiny, tmp_path):
    state = {**tiny.model_state, "extra.half": torch.ones(3, dtype=torch.bfloat16),
             "extra.count": torch.tensor([4, 2]), "extra.flags": torch.tensor([True, False])}
    averaged = average_checkpoints([write(tmp_path, f"{i}.pt", replace(tiny, model_state=state)) for i in range(2)])
    assert averaged.model_state["extra.half"].dtype == torch.bfloat16
    assert torch.equal(averaged.model_state["extra.count"], torch.tensor([4, 2]))
    assert torch.equal(averaged.model_state["extra.flags"], torch.tensor([True, False]))


def test_integer_buffers_that_differ_are_refused_naming_the_buffer(tiny, tmp_path):
    paths = [write(tmp_path, f"{count}.pt", replace(tiny, model_state={**tiny.model_state,
                                                                        "extra.count": torch.tensor([count])}))
             for count in (1, 2)]
    with pytest.raises(NMTError, match=r"buffer extra\.count"):
        average_checkpoints(paths)


@pytest.mark.parametrize(("field", "change", "named"), [
    ("model_config", lambda c: {**c.model_config, "dropout": 0.3}, "model_config.dropout=0.3"),
    ("data_config", lambda c: {**c.data_config, "clean": {**c.data_config["clean"], "max_len": 5}},
     "data_config.clean.max_len=5"),
    ("tokenizer_config", lambda c: {**c.tokenizer_config, "seed": 2}, "tokenizer_config.seed=2"),
    ("tokenizer_state", lambda c: {**c.tokenizer_state, "src_model": b"other"}, "tokenizer_state.src_model=<5 bytes>"),
    ("tgt_vocab_size", lambda c: c.tgt_vocab_size + 1, "tgt_vocab_size="),
])
def test_checkpoints_of_different_models_are_refused_naming_the_key(tiny, tmp_path, field, change, named):
    other = replace(tiny, **{field: change(tiny)})
    with pytest.raises(NMTError, match=r"one model") as error:
        average_checkpoints([write(tmp_path, "a.pt", tiny), write(tmp_path, "b.pt", other)])
    assert named in str(error.value) and "\n" not in str(error.value)


def test_last_n_picks_the_highest_step_numbers_not_the_last_names_or_times(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    for age, name in enumerate(["step-9.pt", "step-10.pt", "step-100.pt", "step-2.pt", "last.pt", "step-x.pt"]):
        (checkpoints / name).touch()
        os.utime(checkpoints / name, (1_000_000 - age, 1_000_000 - age))  # newest first: step-10 older than step-2
    assert [path.name for path in last_periodic_checkpoints(tmp_path, last=3)] == ["step-9.pt", "step-10.pt",
                                                                                   "step-100.pt"]


def test_last_n_beyond_the_kept_checkpoints_names_how_many_exist(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    for step in (4, 8):
        (tmp_path / "checkpoints" / f"step-{step}.pt").touch()
    with pytest.raises(NMTError, match=r"last=3 but .* holds 2 periodic checkpoints \(step-4.pt, step-8.pt\)"):
        last_periodic_checkpoints(tmp_path, last=3)
