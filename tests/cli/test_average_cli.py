"""nmt-average: through `average(cfg)` with composed configs, user mistakes as one line and exit 2, one real run."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from tiny_checkpoint import build_tiny_checkpoint, one_cpu_thread  # noqa: F401 (one_cpu_thread: autouse fixture)

from nmt.checkpoint import load_checkpoint, save_checkpoint
from nmt.cli.average import average, main
from nmt.cli.common import report_user_errors


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A run directory whose checkpoints/ holds step-2, step-9 and step-10: weights all equal to the step number."""
    directory = tmp_path_factory.mktemp("average_cli")
    tiny = load_checkpoint(build_tiny_checkpoint(directory))
    for step in (2, 9, 10):
        state = {name: torch.full_like(tensor, float(step)) for name, tensor in tiny.model_state.items()}
        save_checkpoint(directory / "checkpoints" / f"step-{step}.pt",
                        replace(tiny, model_state=state, metrics={"step": step}, training_state={"step": step}))
    return directory


def config(*overrides: str):
    with initialize_config_module(config_module="nmt.configs", version_base=None):
        return compose("average", overrides=list(overrides))


def test_last_n_averages_the_highest_steps_and_says_what_and_where(run_dir, tmp_path):
    output = tmp_path / "avg.pt"
    sentence = average(config(f"run={run_dir}", "last=2", f"output={output}"))
    averaged = load_checkpoint(output)
    assert sentence == f"averaged the weights of 2 checkpoints (steps 9, 10) into {output}"
    assert averaged.training_state is None and averaged.metrics["averaged_steps"] == [9, 10]
    assert all(torch.equal(tensor, torch.full_like(tensor, 9.5)) for tensor in averaged.model_state.values())


def test_listed_checkpoints_are_averaged_in_the_order_given(run_dir, tmp_path):
    listed = [run_dir / "checkpoints" / "step-10.pt", run_dir / "checkpoints" / "step-2.pt"]
    sentence = average(config(f"ckpts=[{listed[0]},{listed[1]}]", f"output={tmp_path / 'avg.pt'}"))
    assert "2 checkpoints (steps 10, 2)" in sentence
    assert load_checkpoint(tmp_path / "avg.pt").metrics["averaged_checkpoints"] == [str(path) for path in listed]


@pytest.mark.parametrize(("overrides", "message"), [
    (["run={run}", "ckpts=[{run}/checkpoints/step-2.pt]", "output={tmp}/a.pt"], "both run="),
    (["run={run}", "last=0", "output={tmp}/a.pt"], "last=0 is too small"),
    (["run={run}", "last=4", "output={tmp}/a.pt"], "last=4 but {run}/checkpoints holds 3 periodic checkpoints"),
    (["run={run}", "last=1", "output={run}/checkpoints/step-10.pt"], "is one of the checkpoints being averaged"),
    (["ckpts=[{run}/checkpoints/step-2.pt,{run}/checkpoints/step-2.pt]", "output={tmp}/a.pt"], "twice"),
    (["output={tmp}/a.pt"], "nothing to average"),
    (["run={run}"], "no output given"),
    (["run={tmp}", "output={tmp}/a.pt"], "has no checkpoints/ directory"),
])
def test_user_mistakes_are_one_line_and_exit_2_writing_nothing(run_dir, tmp_path, capsys, overrides, message):
    cfg = config(*(override.format(run=run_dir, tmp=tmp_path) for override in overrides))
    with pytest.raises(SystemExit) as exit_info:
        report_user_errors(average)(cfg)
    stderr = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert stderr.startswith("error: ") and stderr.count("\n") == 1
    assert message.format(run=run_dir) in stderr
    assert not (tmp_path / "a.pt").exists()


def test_the_command_prints_one_sentence_on_stdout(run_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["nmt-average", f"run={run_dir}", "last=3", f"output={tmp_path / 'avg.pt'}"])
    main()
    assert capsys.readouterr().out == f"averaged the weights of 3 checkpoints (steps 2, 9, 10) into {tmp_path / 'avg.pt'}\n"
