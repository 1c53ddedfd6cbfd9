"""nmt-prepare as a user runs it: presets compose, the command works from any directory,
prints its summary, writes only the cache, and reports mistakes in one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from nmt.cli.prepare import prepare
from nmt.data.corpus import CorpusConfig
from nmt.data.tokenizer import TokenizerConfig
from nmt.errors import NMTError

PRESETS = ("sample", "multi30k", "wmt14", "iwslt2017", "local")


def run_prepare(*overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "nmt.cli.prepare", *overrides], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("preset", PRESETS)
def test_every_data_preset_composes_into_valid_configs(preset):
    overrides = [f"data={preset}"] + (["data.local_dir=corpus"] if preset == "local" else [])
    with initialize_config_module(config_module="nmt.configs", version_base=None):
        cfg = compose(config_name="prepare", overrides=overrides)
    from omegaconf import OmegaConf

    corpus = CorpusConfig.from_dict(OmegaConf.to_container(cfg.data, resolve=True))
    tokenizer = TokenizerConfig.from_dict(OmegaConf.to_container(cfg.tokenizer, resolve=True))
    assert corpus.name == preset
    assert tokenizer.vocab_size == corpus.vocab_size  # the preset's size reaches the tokenizer


def test_prepare_builds_configs_from_a_composed_config(corpus_dir, tmp_path):
    overrides = [
        "data=local", f"data.local_dir={corpus_dir}", "data.local_splits.validation=valid",
        "data.vocab_size=60", "tokenizer.num_threads=1", f"paths.data_dir={tmp_path / 'data'}",
    ]
    with initialize_config_module(config_module="nmt.configs", version_base=None):
        cfg = compose(config_name="prepare", overrides=overrides)
    prepared = prepare(cfg)
    assert len(prepared.splits["validation"]) == 20
    assert prepared.cache_dir.is_relative_to(tmp_path / "data")
    with initialize_config_module(config_module="nmt.configs", version_base=None):
        cfg = compose(config_name="prepare", overrides=[*overrides, "+data.srclang=de"])
    with pytest.raises(NMTError, match=r"unknown config key data\.srclang"):
        prepare(cfg)


def test_command_prepares_from_another_directory_and_writes_only_the_cache(corpus_dir, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_prepare("data=local", f"data.local_dir={corpus_dir}", "data.local_splits.validation=valid",
                         "data.vocab_size=60", "tokenizer.num_threads=1", "paths.data_dir=cache", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("corpus      local de->en")
    assert [line.split()[1] for line in result.stdout.splitlines() if line.startswith("train ")] == ["300"]
    assert [path.name for path in elsewhere.iterdir()] == ["cache"]  # no outputs/, .hydra/ or log file


def test_help_lists_the_presets_and_cfg_job_shows_the_data_group(tmp_path):
    help_text = run_prepare("--help", cwd=tmp_path).stdout
    assert "data: iwslt2017, local, multi30k, sample, wmt14" in help_text
    job = run_prepare("--cfg", "job", "data=multi30k", cwd=tmp_path).stdout
    assert "hub_name: bentrevett/multi30k" in job and "vocab_size: ${data.vocab_size}" in job


def test_user_mistake_is_one_line_on_stderr_and_exit_status_2(tmp_path):
    result = run_prepare("data=local", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: data=local needs data.local_dir=DIR, a directory of {split}.{lang}[.gz], TSV or JSONL files"
    ]
    assert not list(tmp_path.iterdir())


# nmt-prepare (or nmt-train, which prepares the corpus first) whose cleaning stage, reached once the corpus
# is read into the scratch folder's Arrow files, says so on stderr and waits: the moment to send it a signal,
# the same on every run.
SLOW_PREPARE = """
import sys, time
import nmt.data.pipeline
from nmt.cli import {command}

def clean_splits_slowly(*args, **kwargs):
    print("cleaning", file=sys.stderr, flush=True)
    time.sleep(60)
    raise AssertionError("the signal did not stop the command")

nmt.data.pipeline.clean_splits = clean_splits_slowly
{command}.main()
"""


@pytest.mark.parametrize("command", ["prepare", "train"])
def test_sigterm_while_preparing_removes_the_scratch_folder_and_says_it_was_interrupted(corpus_dir, tmp_path,
                                                                                       command):
    script, data = tmp_path / "slow_prepare.py", tmp_path / "data"
    script.write_text(SLOW_PREPARE.format(command=command), encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    run_dir = [f"hydra.run.dir={tmp_path / 'run'}"] if command == "train" else []
    victim = subprocess.Popen(
        [sys.executable, str(script), "data=local", f"data.local_dir={corpus_dir}",
         "data.local_splits.validation=valid", "data.vocab_size=60", f"paths.data_dir={data}", *run_dir],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        before = []
        for line in victim.stderr:  # ends at "cleaning", or at EOF if the command failed first
            before.append(line)
            if line.strip() == "cleaning":
                break
        assert before and before[-1].strip() == "cleaning", "".join(before)
        scratch = list(data.glob(".*.tmp"))
        assert len(scratch) == 1 and any(scratch[0].rglob("*.arrow"))  # the corpus read into it
        start = time.monotonic()
        victim.send_signal(signal.SIGTERM)
        stdout, after = victim.communicate(timeout=30)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()
    assert victim.returncode == 128 + signal.SIGTERM, "".join(before) + after
    assert after.splitlines() == ["interrupted by SIGTERM"]
    assert command == "train" or stdout == ""  # nmt-train's log goes to stdout (and train.log)
    assert time.monotonic() - start < 20  # stopped where it was, not after the stage
    assert list(data.iterdir()) == []  # no scratch folder, no half-made cache
