"""nmt-train: every experiment composes, train(cfg) runs on a tiny sample corpus, SIGKILL + resume is exact."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from nmt.checkpoint import load_checkpoint
from nmt.cli.train import train
from nmt.errors import NMTError
from nmt.models import build_model

REPO = Path(__file__).parents[2]
EXPERIMENTS = sorted(path.stem for path in (REPO / "configs" / "experiment").glob("*.yaml"))
# A tiny sample corpus and model: seconds per run on one CPU thread.
TINY = [
    "data.sample_sizes.train=300", "data.sample_sizes.validation=20", "data.sample_sizes.test=20",
    "data.pronoun_test_size=0", "data.vocab_size=120",
    "model.d_model=32", "model.num_heads=2", "model.num_encoder_layers=1", "model.num_decoder_layers=1",
    "model.ff_dim=64", "trainer.batch_tokens=512", "trainer.warmup_steps=10", "trainer.lr=3e-3",
    "trainer.max_epochs=0", "trainer.log_every=5", "trainer.threads=1", "trainer.tensorboard=false",
]


pytestmark = pytest.mark.usefixtures("restore_torch_settings")  # train(cfg) sets process-wide torch settings


def compose_config(overrides: list[str]):
    with initialize_config_module(config_module="nmt.configs", version_base=None):
        return compose(config_name="config", overrides=overrides)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_and_builds_its_model(experiment):
    cfg = compose_config([f"experiment={experiment}"])
    model_config = OmegaConf.to_container(cfg.model, resolve=True)
    model = build_model(model_config, src_vocab_size=cfg.data.vocab_size, tgt_vocab_size=cfg.data.vocab_size)
    assert model.num_parameters() > 0
    assert cfg.trainer.lr > 0


def test_multi30k_experiments_translate_german_to_english():
    for experiment in (name for name in EXPERIMENTS if name.startswith("multi30k")):
        cfg = compose_config([f"experiment={experiment}"])
        assert (cfg.data.name, cfg.data.src_lang, cfg.data.tgt_lang) == ("multi30k", "de", "en")


def test_cfg_job_shows_the_recipe_values_and_the_command_line_override(tmp_path):
    shown = subprocess.run([sys.executable, "-m", "nmt.cli.train", "model=rnn_luong", "trainer.lr=5e-4", "--cfg", "job"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120, check=True).stdout
    cfg = OmegaConf.create(shown)
    recipe = OmegaConf.load(REPO / "configs" / "recipe" / "sample_rnn.yaml")
    group = OmegaConf.load(REPO / "configs" / "model" / "rnn_luong.yaml")
    assert cfg.model.decoder_hidden_dim == recipe.model.decoder_hidden_dim != group.decoder_hidden_dim
    assert cfg.trainer.max_epochs == recipe.trainer.max_epochs
    assert cfg.trainer.lr == 5e-4  # the command line beats the recipe's lr


def test_train_on_a_tiny_sample_corpus_writes_checkpoints_and_metrics(tmp_path):
    cfg = compose_config([*TINY, f"paths.data_dir={tmp_path / 'data'}", "trainer.max_steps=30",
                          "trainer.validate_every=15"])
    result = train(cfg, output_dir=tmp_path / "run")
    assert result.step == 30
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [record["step"] for record in records] == [15, 30]
    assert records[1]["val_loss"] < records[0]["val_loss"]
    assert (tmp_path / "run" / "learning_curves.png").read_bytes().startswith(b"\x89PNG")
    checkpoint = load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")
    assert checkpoint.model_config["_target_"] == "nmt.models.transformer.Transformer"
    assert checkpoint.data_config["name"] == "sample"
    assert checkpoint.tokenizer_state


def test_average_last_writes_the_mean_of_the_last_checkpoints_and_warns_when_fewer_were_saved(tmp_path, caplog):
    cfg = compose_config([*TINY, f"paths.data_dir={tmp_path / 'data'}", "trainer.max_steps=30",
                          "trainer.validate_every=10", "trainer.keep_checkpoints=5", "trainer.average_last=4"])
    with caplog.at_level("WARNING"):
        train(cfg, output_dir=tmp_path / "run")
    assert "trainer.average_last=4 but the run saved 3 step-N.pt checkpoints" in caplog.text
    checkpoints = tmp_path / "run" / "checkpoints"
    average = load_checkpoint(checkpoints / "average.pt")
    assert average.metrics["averaged_steps"] == [10, 20, 30]
    assert average.training_state is None  # translate-only, like best.pt
    steps = [load_checkpoint(checkpoints / f"step-{step}.pt").model_state for step in (10, 20, 30)]
    name = next(name for name, tensor in average.model_state.items() if tensor.is_floating_point())
    assert torch.allclose(average.model_state[name], sum(state[name] for state in steps) / 3, atol=1e-6)
    # the same directory resumed from step 10 to a run of 20 updates: step-30.pt is another timeline's
    cfg = compose_config([*TINY, f"paths.data_dir={tmp_path / 'data'}", "trainer.max_steps=20",
                          "trainer.validate_every=10", "trainer.keep_checkpoints=5", "trainer.average_last=2",
                          f"trainer.resume={checkpoints / 'step-10.pt'}"])
    train(cfg, output_dir=tmp_path / "run")
    assert load_checkpoint(checkpoints / "average.pt").metrics["averaged_steps"] == [10, 20]


def test_resume_true_without_a_previous_run_says_where_it_looked(tmp_path):
    cfg = compose_config([*TINY, f"paths.data_dir={tmp_path / 'data'}", "trainer.resume=true"])
    with pytest.raises(NMTError, match=r"trainer\.resume=true but .*last\.pt does not exist; pass hydra\.run\.dir"):
        train(cfg, output_dir=tmp_path / "fresh")


def run_cli(*overrides: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.Popen([sys.executable, "-m", "nmt.cli.train", *overrides], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple[list[str], Path]:
    """One uninterrupted 40-update run for every kill/signal test to compare with: (its overrides, its run dir).

    The data directory in the overrides is shared, so later runs reuse the prepared corpus.
    """
    root = tmp_path_factory.mktemp("uninterrupted")
    common = [*TINY, f"paths.data_dir={root / 'data'}", "trainer.max_steps=40", "trainer.validate_every=20",
              "trainer.checkpoint_every=3"]
    whole = run_cli(*common, f"hydra.run.dir={root / 'whole'}", cwd=root)
    assert whole.wait(timeout=300) == 0, whole.stdout.read()
    return common, root / "whole"


def assert_same_final_weights(run_dir: Path, reference_dir: Path) -> None:
    a = load_checkpoint(reference_dir / "checkpoints" / "last.pt")
    b = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert b.training_state["step"] == a.training_state["step"]
    for name, tensor in a.model_state.items():
        assert torch.equal(tensor, b.model_state[name]), name
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == [json.loads(line)["step"] for line in (reference_dir / "metrics.jsonl").read_text().splitlines()]


def iter_lines_until(process: subprocess.Popen, text: str):
    """The process's output lines up to and including the first that holds `text`."""
    for line in process.stdout:
        yield line
        if text in line:
            return
    raise AssertionError(f"the run ended before printing {text!r}")


def test_run_killed_with_sigkill_and_resumed_ends_bitwise_equal_to_an_uninterrupted_run(tmp_path, uninterrupted):
    common, whole_dir = uninterrupted
    killed_dir = tmp_path / "killed"
    victim = run_cli(*common, f"hydra.run.dir={killed_dir}", cwd=tmp_path)
    last = killed_dir / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 120
    while not last.exists() and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    killed_at = load_checkpoint(last).training_state["step"]
    assert killed_at < 40

    resumed = run_cli(*common, f"hydra.run.dir={killed_dir}", "trainer.resume=true", cwd=tmp_path)
    output = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, output
    assert_same_final_weights(killed_dir, whole_dir)


def test_sigterm_saves_the_interrupted_step_exits_143_and_the_resumed_run_ends_bitwise_equal(tmp_path, uninterrupted):
    common, whole_dir = uninterrupted
    run_dir = tmp_path / "interrupted"
    resume = compose_config([*common, "trainer.resume=true"])
    victim = run_cli(*common, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    try:
        output = "".join(iter_lines_until(victim, "step=5 "))
        victim.send_signal(signal.SIGSTOP)  # hold it mid-run, its run directory locked, while a second run tries
        with pytest.raises(NMTError, match=rf"in use by another nmt-train \(pid {victim.pid} on .*\); wait for it"):
            train(resume, output_dir=run_dir)
        victim.send_signal(signal.SIGTERM)
        victim.send_signal(signal.SIGCONT)
        output += victim.communicate(timeout=120)[0]
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.communicate()
    assert victim.returncode == 128 + signal.SIGTERM, output
    assert "Traceback" not in output
    match = re.search(r"interrupted by SIGTERM at step (\d+); resume with hydra\.run\.dir=(\S+) trainer\.resume=true",
                      output)
    assert match is not None, output
    assert Path(match.group(2)) == run_dir.resolve()
    step = int(match.group(1))
    assert 5 <= step < 40
    assert load_checkpoint(run_dir / "checkpoints" / "last.pt").training_state["step"] == step
    assert not (run_dir / ".lock").exists()

    assert train(resume, output_dir=run_dir).step == 40  # in this process: the SIGKILL test resumes in another
    assert_same_final_weights(run_dir, whole_dir)


def test_multirun_gives_each_model_its_own_run_directory(tmp_path):
    sweep = tmp_path / "sweep"
    process = run_cli("-m", "model=rnn_plain,rnn_bahdanau", *[o for o in TINY if not o.startswith("model.")],
                      f"paths.data_dir={tmp_path / 'data'}", "trainer.max_steps=2",
                      "trainer.validate_every=2", "trainer.val_max_sentences=4",
                      f"hydra.sweep.dir={sweep}", "hydra.sweep.subdir=${hydra.job.num}", cwd=tmp_path)
    output = process.communicate(timeout=300)[0]
    assert process.returncode == 0, output
    attention = [load_checkpoint(sweep / str(job) / "checkpoints" / "last.pt").model_config["attention"]
                 for job in (0, 1)]
    assert attention == ["none", "bahdanau"]
    assert all((sweep / str(job) / "metrics.jsonl").is_file() for job in (0, 1))


def test_user_mistake_on_the_command_line_is_one_line_without_traceback(tmp_path):
    process = run_cli(*TINY, f"paths.data_dir={tmp_path / 'data'}", "trainer.lr_schedule=cosine",
                      f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 2
    assert "error: trainer.lr_schedule='cosine' is not a valid choice; valid choices are: auto, inverse_sqrt" in output
    assert "Traceback" not in output


def test_a_bad_model_key_fails_before_any_data_is_prepared(tmp_path):
    data_dir = tmp_path / "data"
    cfg = compose_config([*TINY, f"paths.data_dir={data_dir}", "model.norm=middle"])
    with pytest.raises(NMTError, match="model.norm='middle' is not valid: choose one of pre, post"):
        train(cfg, output_dir=tmp_path / "run")
    assert not data_dir.exists() or not any(data_dir.iterdir())


def test_torchrun_trains_on_two_processes_with_rank_0_writing_the_run(tmp_path):
    """The command users type: torchrun -m nmt.cli.train (gloo on CPU, one thread per rank, a shared cache)."""
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "nmt.cli.train", *TINY, f"paths.data_dir={tmp_path / 'data'}", "trainer.max_steps=6",
               "trainer.validate_every=3", f"hydra.run.dir={run_dir}"]
    completed = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                               env={**os.environ, "PYTHONHASHSEED": "0"})
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.count("trained 6 steps") == 1  # rank 0 reports; the other rank stays quiet
    assert "rank 1 of 2 joined the gloo process group" not in completed.stderr  # rank 1 logs warnings only
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [record["step"] for record in records] == [3, 6]
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt").training_state
    assert state["world_size"] == 2 and state["step"] == 6
    assert len(list((tmp_path / "data").iterdir())) >= 1  # the corpus cache, built once by rank 0
