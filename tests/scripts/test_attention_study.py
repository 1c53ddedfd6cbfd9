"""The attention study runner: its plan, how it finds finished and interrupted runs, the commands it
starts, and the report it writes from scores. Nothing here trains: run directories are fabricated
with the files nmt-train and nmt-evaluate write."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import attention_study
from study import execute as execute_module
from study.budgets import QUICK, SAMPLE, merge_overrides, multi30k_budget
from study.cost import affine_fit, decoding_step_cost
from study.experiments import EXPERIMENTS, plan, select_experiments
from study.figures import lines, new_figure, save
from study.results import Spread, compare, paired_differences, read_scores, spread, verdict
from study.runs import Run, remaining_commands, run_state

from nmt.data.corpus import CorpusConfig
from nmt.errors import NMTError
from nmt.models import build_model
from nmt.training.config import TrainerConfig

CONFIGURATIONS = {"rnn_plain", "rnn_bahdanau", "rnn_luong-general-feed", "transformer-heads4",
                  "rnn_luong-dot-feed", "rnn_luong-dot-nofeed", "rnn_luong-general-nofeed", "rnn_luong-concat-feed",
                  "rnn_luong-concat-nofeed", "transformer-heads1", "transformer-heads2", "transformer-heads8"}
LENGTH_RUNS = {"rnn_plain", "rnn_bahdanau", "rnn_luong-general-feed", "transformer-heads4"}
TEST_BUCKETS = {"1-10": 400, "11-20": 500, "21-30": 100, "31-40": 0, "41-50": 0, "51+": 0}
LONG_BUCKETS = {"1-10": 0, "11-20": 0, "21-30": 20, "31-40": 100, "41-50": 200, "51+": 180}


def planned(tmp_path: Path, experiments=None, seeds=(1, 2), budget=SAMPLE) -> list[Run]:
    return plan(select_experiments(experiments), budget=budget, seeds=list(seeds), runs_dir=tmp_path)


def by_name(runs: list[Run]) -> dict[str, Run]:
    return {run.name: run for run in runs}


def scores_report(split: str, bleu: float, bucket_bleu: dict[str, float], pronouns: dict[str, float] | None) -> dict:
    """A scores.json as nmt-evaluate writes it (the keys the study reads); accuracies as fractions."""
    counts = TEST_BUCKETS if split == "test" else LONG_BUCKETS
    return {"split": split, "bleu": {"score": bleu, "signature": "", "detail": ""},
            "bleu_by_length": [{"source_words": label, "sentences": count, "bleu": bucket_bleu[label] if count else None}
                               for label, count in counts.items()],
            "pronoun_accuracy": None if pronouns is None else {
                "accuracy": pronouns["all"] / 100, "pairs": 400,
                "per_pronoun": {word: {"accuracy": pronouns[word] / 100, "pairs": 100}
                                for word in ("il", "elle", "ils", "elles")}}}


def finish(run: Run, *, bleu: float, short: float | None = None, long: float | None = None,
           pronouns: dict[str, float] | None = None, updates: int = 900) -> None:
    """Write what a finished, scored run leaves: checkpoints, learning curves, metrics.jsonl, scores.json."""
    checkpoints = run.directory / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    for name in ("last.pt", "best.pt"):
        (checkpoints / name).write_bytes(b"")
    (run.directory / "learning_curves.png").write_bytes(b"")
    lines = [{"step": updates // 2, "elapsed_s": 120.0, "val_bleu": bleu - 5}, {"step": updates, "elapsed_s": 240.0}]
    (run.directory / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines) + '{"step": 9')
    short, long = bleu if short is None else short, bleu if long is None else long
    bucket_bleu = {"1-10": short, "11-20": (short + long) / 2, "21-30": (short + long) / 2, "31-40": long,
                   "41-50": long, "51+": long}
    for split in run.splits:
        report = scores_report(split, bleu if split == "test" else long, bucket_bleu,
                               pronouns if split == "test" else None)
        run.scores_path(split).write_text(json.dumps(report), encoding="utf-8")


# ----------------------------------------------------------------------------- the plan


def test_plan_trains_each_configuration_once_per_seed_and_scores_length_runs_on_the_long_split(tmp_path):
    runs = planned(tmp_path)
    assert {run.name for run in runs} == {f"{name}-seed{seed}" for name in CONFIGURATIONS for seed in (1, 2)}
    assert len(runs) == 24
    for run in runs:
        assert run.directory == tmp_path / "sample" / run.name
        assert run.splits == (("test", "long_test") if run.variant.name in LENGTH_RUNS else ("test",))
    assert {run.variant.name for run in planned(tmp_path, ["cost"])} == set()


def test_each_experiment_sets_its_keys_once_on_top_of_the_budget(tmp_path):
    runs = by_name(planned(tmp_path, seeds=[1]))
    dot = runs["rnn_luong-dot-nofeed-seed1"].overrides
    assert "model=rnn_luong" in dot and "model.score=dot" in dot and "model.input_feeding=false" in dot
    assert "model.score=general" in runs["rnn_luong-general-feed-seed1"].overrides
    one_head = runs["transformer-heads1-seed1"].overrides
    assert [o for o in one_head if o.startswith("model.num_heads=")] == ["model.num_heads=1"]
    assert "model.d_model=128" in one_head and "trainer.lr_schedule=inverse_sqrt" in one_head
    plain = runs["rnn_plain-seed1"].overrides
    assert {"model=rnn_plain", "data.long_test_size=500", "data.long_train_share=0.1",
            "trainer.max_steps=1000"} <= set(plain)
    for run in runs.values():
        keys = [override.partition("=")[0] for override in run.overrides]
        assert len(keys) == len(set(keys)), run.name
    assert merge_overrides(["a=1", "b=2"], ["a=3"]) == ("a=3", "b=2")


def test_multi30k_budget_uses_the_experiment_files_and_has_no_long_or_pronoun_split(tmp_path):
    budget = multi30k_budget("corpora/m30k")
    runs = by_name(planned(tmp_path, seeds=[3], budget=budget))
    assert runs["rnn_bahdanau-seed3"].splits == ("test",)
    overrides = runs["transformer-heads2-seed3"].overrides
    # The commands run from the repository root: a relative directory is made absolute first.
    assert overrides[:2] == ("experiment=multi30k_transformer", f"data.local_dir='{Path.cwd() / 'corpora' / 'm30k'}'")
    assert "model.num_heads=2" in overrides and "trainer.max_time=00:20:00" in overrides
    results = attention_study.collect(list(runs.values()), budget=budget, seeds=[3], cost_path=tmp_path / "none")
    assert "Not applicable" in select_experiments(["pronouns"])[0].analyse(results).notes[0]


@pytest.mark.parametrize("budget", [SAMPLE, multi30k_budget("corpora/m30k"), QUICK], ids=["sample", "multi30k", "quick"])
def test_every_planned_run_composes_and_builds_its_model(tmp_path, budget):
    runs = {run.variant.name: run for run in planned(tmp_path, seeds=[1], budget=budget)}
    with initialize_config_module(config_module="nmt.configs", version_base=None):
        for name, run in runs.items():
            cfg = compose(config_name="config", overrides=[*run.overrides, "trainer.seed=1"])
            model_config = OmegaConf.to_container(cfg.model, resolve=True)
            TrainerConfig.from_dict(OmegaConf.to_container(cfg.trainer, resolve=True))  # every key and type valid
            CorpusConfig.from_dict(OmegaConf.to_container(cfg.data, resolve=True))
            with torch.device("meta"):
                build_model(model_config, src_vocab_size=100, tgt_vocab_size=100)
            expected = dict(override.split("=") for override in run.variant.overrides)
            assert {key: str(cfg.model[key.removeprefix("model.")]).lower() for key in expected} == expected, name
            assert cfg.data.name == budget.corpus and (cfg.trainer.max_time is not None or cfg.trainer.max_steps > 0)
            assert cfg.data.get("local_dir") in (None, str(Path.cwd() / "corpora" / "m30k"))


# ----------------------------------------------------------------------------- states and commands


def test_finished_interrupted_and_new_runs_are_told_apart_from_what_the_commands_wrote(tmp_path):
    runs = by_name(planned(tmp_path, ["bahdanau"], seeds=[1]))
    done, trained, interrupted, new = (runs[f"{name}-seed1"] for name in sorted(LENGTH_RUNS))
    finish(done, bleu=80.0)
    finish(trained, bleu=80.0)
    trained.scores_path("long_test").unlink()
    (interrupted.directory / "checkpoints").mkdir(parents=True)
    (interrupted.directory / "checkpoints" / "last.pt").write_bytes(b"")
    (interrupted.directory / "checkpoints" / "best.pt").write_bytes(b"")  # best.pt of an earlier validation
    assert [run_state(run) for run in (done, trained, interrupted, new)] == ["done", "trained", "interrupted", "new"]
    data_dir = tmp_path / "data"
    assert remaining_commands(done, threads=1, data_dir=data_dir) == []
    assert [what for what, _ in remaining_commands(trained, threads=1, data_dir=data_dir)] == ["evaluate long_test"]
    resumed = remaining_commands(interrupted, threads=1, data_dir=data_dir)
    assert [what for what, _ in resumed] == ["resume training", "evaluate test", "evaluate long_test"]
    assert resumed[0][1][-1] == "trainer.resume=true"
    fresh = remaining_commands(new, threads=1, data_dir=data_dir)
    assert fresh[0][0] == "train" and not any("resume" in arg for arg in fresh[0][1])


def test_train_and_evaluate_commands_name_the_run_directory_and_the_scores_file_nmt_evaluate_writes(tmp_path):
    run = by_name(planned(tmp_path / "my runs", ["vaswani"], seeds=[2]))["transformer-heads8-seed2"]
    (train_what, train), (evaluate_what, evaluate) = remaining_commands(run, threads=3, data_dir=tmp_path / "data")
    assert train[:3] == [sys.executable, "-m", "nmt.cli.train"] and train_what == "train"
    assert f"hydra.run.dir='{tmp_path / 'my runs' / 'sample' / 'transformer-heads8-seed2'}'" in train
    assert {"trainer.seed=2", "trainer.threads=3", f"paths.data_dir='{tmp_path / 'data'}'"} <= set(train)
    assert evaluate[:3] == [sys.executable, "-m", "nmt.cli.evaluate"] and evaluate_what == "evaluate test"
    assert f"ckpt='{run.checkpoint}'" in evaluate
    assert {"split=test", "beam_size=5", "length_buckets=[10,20,30,40,50]", "threads=3"} <= set(evaluate)
    # nmt-evaluate names its output <ckpt stem>.<corpus>.<split>.beam<K>.scores.json beside the checkpoint.
    assert run.scores_path("test") == run.directory / "checkpoints" / "best.sample.test.beam5.scores.json"


def test_run_reuses_finished_runs_and_resumes_interrupted_ones(tmp_path, monkeypatch, capsys):
    runs = by_name(planned(tmp_path, ["vaswani"], seeds=[1]))
    finish(runs["transformer-heads2-seed1"], bleu=70.0)
    finish(runs["transformer-heads4-seed1"], bleu=70.0)
    runs["transformer-heads4-seed1"].scores_path("test").unlink()
    (runs["transformer-heads1-seed1"].directory / "checkpoints").mkdir(parents=True)
    (runs["transformer-heads1-seed1"].directory / "checkpoints" / "last.pt").write_bytes(b"")
    started: list[list[str]] = []
    monkeypatch.setattr(execute_module.Executor, "command", lambda self, command, log: started.append(command) or 0)

    status = attention_study.main(["run", "--runs-dir", str(tmp_path), "--experiments", "vaswani", "--seeds", "1"])

    assert status == 0
    assert started[0][2] == "nmt.cli.prepare" and "data.long_train_share=0.1" in started[0]
    commands = {(next(a for a in c if a.startswith(("hydra.run.dir=", "ckpt="))), c[2]) for c in started[1:]}
    directory = {name: str(run.directory) for name, run in runs.items()}
    assert commands == {
        (f"hydra.run.dir='{directory['transformer-heads1-seed1']}'", "nmt.cli.train"),
        (f"ckpt='{directory['transformer-heads1-seed1']}/checkpoints/best.pt'", "nmt.cli.evaluate"),
        (f"ckpt='{directory['transformer-heads4-seed1']}/checkpoints/best.pt'", "nmt.cli.evaluate"),
        (f"hydra.run.dir='{directory['transformer-heads8-seed1']}'", "nmt.cli.train"),
        (f"ckpt='{directory['transformer-heads8-seed1']}/checkpoints/best.pt'", "nmt.cli.evaluate")}
    resumed = next(c for c in started if f"hydra.run.dir='{directory['transformer-heads1-seed1']}'" in c)
    fresh = next(c for c in started if f"hydra.run.dir='{directory['transformer-heads8-seed1']}'" in c)
    assert "trainer.resume=true" in resumed and "trainer.resume=true" not in fresh
    assert f"trainer.threads={execute_module.threads_per_job(2)}" in fresh
    assert "1 of 4 runs done; 3 to finish with --jobs 2" in capsys.readouterr().out


def test_a_failed_command_ends_its_run_and_an_interrupted_one_stops_the_others(tmp_path, monkeypatch):
    runs = planned(tmp_path, ["vaswani"], seeds=[1])
    scripted = {"nmt.cli.prepare": 0, "heads1": 2, "heads2": 130}
    seen: list[str] = []

    def command(self, command, log_path):
        key = command[2] if command[2] == "nmt.cli.prepare" else log_path.parent.name.split("-")[1]
        seen.append(key)
        return scripted.get(key, 0)

    monkeypatch.setattr(execute_module.Executor, "command", command)
    outcomes = execute_module.execute(runs, budget=SAMPLE, jobs=1, data_dir=tmp_path / "data", say=lambda line: None)

    failed = {outcome.run.variant.name: outcome.failed for outcome in outcomes}
    assert failed["transformer-heads1"].startswith("train: exit status 2 (see ")
    assert failed["transformer-heads2"].startswith("train: exit status 130")
    assert failed["transformer-heads4"] == "train: not started (stopping)"  # after the Ctrl-C, nothing new starts
    assert seen == ["nmt.cli.prepare", "heads1", "heads2"]  # heads1's evaluation never ran


def test_quick_runs_every_experiment_with_the_quick_budget_and_reports_into_the_runs_directory(
        tmp_path, monkeypatch, capsys):
    runs_dir = tmp_path / "runs"
    runs = {str(run.checkpoint): run for run in planned(runs_dir, seeds=[1], budget=QUICK)}
    started: list[list[str]] = []

    def command(self, command, log_path):  # evaluating a run finishes it, with the files the commands write
        started.append(command)
        checkpoint = next((a.removeprefix("ckpt=").strip("'") for a in command if a.startswith("ckpt=")), None)
        if checkpoint is not None:
            finish(runs[checkpoint], bleu=50.0, pronouns={"all": 50.0, "il": 50.0, "elle": 50.0, "ils": 50.0,
                                                         "elles": 50.0})
        return 0

    measured: list[tuple] = []
    monkeypatch.setattr(execute_module.Executor, "command", command)
    monkeypatch.setattr(attention_study, "measure_cost",
                        lambda lengths, repeats: measured.append((lengths, repeats)) or fake_cost(list(lengths), repeats))

    assert attention_study.main(["quick", "--runs-dir", str(runs_dir)]) == 0

    assert measured == [((32, 64, 128), 1)] and (runs_dir / "attention_cost-quick.json").is_file()
    assert not (runs_dir / "attention_cost.json").exists()  # the real budgets' measurement is left alone
    trained = [c for c in started if c[2] == "nmt.cli.train"]
    assert len(trained) == len(CONFIGURATIONS) == len(runs)  # every configuration once, one seed
    assert all("trainer.max_steps=150" in c and "data.sample_sizes.train=4000" in c for c in trained)
    assert all(f"hydra.run.dir='{runs_dir / 'quick'}" in next(a for a in c if a.startswith("hydra.run.dir="))
               for c in trained)
    text = (runs_dir / "attention_study-quick.md").read_text(encoding="utf-8")
    assert "from 12 of 12 runs finished" in text and "--budget quick --seeds 1" in text
    assert (runs_dir / "figures-quick" / "attention_study-attention_cost.png").is_file()
    out = capsys.readouterr().out
    assert "0 of 12 runs done; 12 to finish with --jobs 2" in out and "quick study: 12 runs, " in out


def test_list_prints_every_run_with_its_overrides_and_state(tmp_path, capsys):
    finish(by_name(planned(tmp_path, ["luong"], seeds=[1]))["rnn_luong-dot-feed-seed1"], bleu=60.0)
    assert attention_study.main(["list", "--runs-dir", str(tmp_path), "--experiments", "luong", "--seeds", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("budget sample: 6 runs (1 done, 5 new)")
    assert "done        rnn_luong-dot-feed-seed1  [luong]" in out
    assert "model.score=dot model.input_feeding=true" in out and out.count("nmt-train ") == 6


@pytest.mark.parametrize(("args", "message"), [
    (["--experiments", "bahdanou"], "--experiments bahdanou is not an experiment; choose among bahdanau, luong"),
    (["--seeds", "1", "1"], "--seeds 1 1 must name at least one seed, each once"),
    (["--multi30k-dir", "m30k"], "--multi30k-dir is for --budget multi30k"),
])
def test_user_mistakes_are_one_error_line_and_status_2(tmp_path, capsys, args, message):
    assert attention_study.main(["list", "--runs-dir", str(tmp_path), *args]) == 2
    assert capsys.readouterr().err.startswith(f"error: {message}")


def test_a_runs_directory_hydra_cannot_carry_is_refused(tmp_path, capsys):
    assert attention_study.main(["list", "--runs-dir", str(tmp_path / "it's")]) == 2
    assert "contains a quote or a backslash" in capsys.readouterr().err


# ----------------------------------------------------------------------------- spreads, ties, verdicts


def test_a_difference_within_the_spread_of_either_row_is_a_tie():
    wide, narrow = spread([70.0, 72.0]), spread([71.0, 71.5])
    assert (wide.mean, wide.low, wide.high, wide.count) == (71.0, 70.0, 72.0, 2)
    assert compare(wide, narrow) == "tie"  # 0.25 apart, spreads 2.0 and 0.5
    assert compare(spread([80.0, 81.0]), spread([70.0, 71.0])) == "higher"
    assert compare(spread([60.0]), spread([60.5])) == "lower"  # one seed each: no spread, any difference counts
    assert verdict(spread([60.0]), spread([60.5]), expected="higher") == "does not hold"
    assert verdict(wide, narrow, expected="higher") == "tie" and verdict(None, narrow, expected="lower") == "not measured"
    assert spread([None, 3.0]) == Spread(3.0, 3.0, 3.0, 1) and spread([]) is None
    assert Spread(26.75, 25.9, 27.4, 2).text() == "26.8 (25.9–27.4)" and Spread(1.0, 1.0, 1.0, 1).text() == "1.0 (1 seed)"


def test_scores_are_read_per_run_with_length_buckets_from_the_split_that_has_them(tmp_path):
    plain, attention = (by_name(planned(tmp_path, ["bahdanau"]))[f"{name}-seed{seed}"]
                        for name, seed in (("rnn_plain", 1), ("rnn_bahdanau", 1)))
    finish(plain, bleu=50.0, short=60.0, long=20.0, updates=800)
    finish(attention, bleu=80.0, short=82.0, long=78.0)
    scores = read_scores(plain)
    assert scores.bleu == {"test": 50.0, "long_test": 20.0} and scores.updates == 800  # a cut last line is skipped
    assert scores.length_bleu["1-10"] == (400, 60.0) and scores.length_bleu["21-30"] == (100, 40.0)
    assert scores.length_bleu["51+"] == (180, 20.0) and next(iter(scores.length_bleu)) == "1-10"
    gap = paired_differences([read_scores(attention)], [scores], lambda s: s.length_bleu["51+"][1])
    assert gap == Spread(58.0, 58.0, 58.0, 1)
    assert read_scores(by_name(planned(tmp_path, ["bahdanau"]))["rnn_plain-seed2"]) is None


def test_decoding_cost_is_measured_per_attention_and_length_with_the_state_it_keeps():
    rows = decoding_step_cost([8, 16], repeats=1, steps=2)
    assert [(row["attention"], row["src_len"]) for row in rows] == [
        (name, length) for length in (8, 16) for name in ("additive", "multiplicative", "sdpa")]
    state = {(row["attention"], row["src_len"]): row["state_mb"] for row in rows}
    assert state["additive", 8] == 32 * 8 * (512 + 512) * 4 / 2**20  # projected keys + values, float32
    assert state["sdpa", 16] == 2 * 32 * 16 * 256 * 4 / 2**20  # K and V of 4 heads x 64
    assert all(row["ms_per_step"] > 0 for row in rows)
    assert affine_fit([32, 64, 128], [13.0, 16.0, 22.0]) == pytest.approx((0.09375, 1.0))  # 10 MB + 3/32 MB per token
    assert affine_fit([32, 64, 128, 256], [32**2, 64**2, 128**2, 256**2])[1] < 0.99  # quadratic


# ----------------------------------------------------------------------------- the report


def fabricate_study(tmp_path: Path) -> list[Run]:
    """Two seeds of every run, with numbers chosen so that each verdict is known in advance."""
    runs = planned(tmp_path)
    luong = {"dot": 70.0, "general": 70.5, "concat": 60.0}
    heads = {"1": 70.0, "2": 71.0, "4": 71.0, "8": 70.5}
    for run in runs:
        name, jitter = run.variant.name, (run.seed - 1.5) * 2  # seeds 1 and 2: -1 and +1
        pronouns = {"all": 50.0 + jitter, "il": 93.0, "elle": 20.0, "ils": 10.0, "elles": 77.0}
        if name == "rnn_plain":
            finish(run, bleu=50.0 + jitter, short=60.0 + jitter, long=20.0 + jitter, pronouns=pronouns)
        elif name.startswith("rnn_luong"):
            score, feeding = name.split("-")[1:]
            bleu = luong[score] + (3.0 if feeding == "feed" else 0.0) + jitter / 4
            finish(run, bleu=bleu, short=bleu + 2, long=bleu - 10, pronouns={**pronouns, "all": 80.0})
        elif name.startswith("transformer"):
            resolved = {word: 97.0 + jitter for word in ("all", "il", "elle", "ils", "elles")}
            finish(run, bleu=heads[name[-1]] + jitter / 2, short=92.0, long=88.0, pronouns=resolved)
        else:  # rnn_bahdanau: the gap to rnn_plain grows from 22 at 1-10 words to 58 at 51+
            finish(run, bleu=80.0 + jitter, short=82.0 + jitter, long=78.0 + jitter, pronouns={**pronouns, "all": 85.0})
    return runs


def fake_cost(lengths: list[int], repeats: int = 3) -> dict:
    """A cost measurement as `measure_cost` returns it, multiplicative the cheapest, every cost linear in length."""
    return {"lengths": lengths, "repeats": repeats, "threads": 1,
            "training": [{"attention": a, "src_len": n, "ms": n * f, "saved_mb": n * f / 8}
                         for n in lengths for a, f in (("additive", 4.0), ("multiplicative", 1.0), ("sdpa", 1.5))],
            "decoding": [{"attention": a, "src_len": n, "ms_per_step": n * f / 100, "state_mb": n * f / 64}
                         for n in lengths for a, f in (("additive", 2.0), ("multiplicative", 1.0), ("sdpa", 1.0))]}


def test_report_shows_paper_numbers_verdicts_ties_and_writes_its_figures(tmp_path, capsys):
    fabricate_study(tmp_path / "runs")
    (tmp_path / "runs" / "attention_study_cost.json").write_text("")  # an unrelated file is ignored
    (tmp_path / "runs" / SAMPLE.cost_file).write_text(json.dumps(fake_cost([32, 64, 128])))
    output = tmp_path / "reports" / "attention_study.md"

    assert attention_study.main(["report", "--runs-dir", str(tmp_path / "runs"), "--output", str(output)]) == 0

    text = output.read_text(encoding="utf-8")
    assert "Written by `python scripts/attention_study.py report --runs-dir RUNS --budget sample --seeds 1 2` from 24 " \
           "of 24 runs finished" in text and "Seeds: 1, 2." in text and str(tmp_path) not in text
    for number in ("26.75", "17.82", "+1.3", "16.8 → 18.1", "24.9", "25.8", "scores near chance", "O(n²·d)"):
        assert number in text, number
    expected = {
        "Attention beats no attention (RNNsearch 26.75 against RNNencdec 17.82 BLEU)": "holds",
        "The gap grows with sentence length (Fig. 2)": "holds",
        "With attention, BLEU does not drop on long sentences (no deterioration at 50+ words)": "does not hold",
        "Input feeding helps (Table 1: +1.3 BLEU)": "holds",
        "concat is the weakest score (reported as performing poorly, left out of Table 4)": "holds",
        "dot beats general with global attention (Table 4: 18.6 against 17.3 BLEU)": "tie",
        "One head is worse than eight (Table 3 (A): 24.9 against 25.8 BLEU)": "tie",
        "Attention helps resolve the pronoun: the best attention model beats the no-attention baseline": "holds",
        "Some architecture reaches 95 % on every pronoun": "holds",
    }
    for statement, outcome in expected.items():
        assert f"| {statement} | {outcome} |" in text, statement
    assert "reached by transformer-heads4" in text
    assert "| general | 73.5 (73.2–73.8) | 70.5 (70.2–70.8) | 3.0 (3.0–3.0) |" in text
    assert "Dot-product (multiplicative) attention is faster and more space-efficient" in text
    assert "**Holds**: With the target positions fixed, memory grows linearly" in text
    figures = sorted(path.name for path in (output.parent / "figures").iterdir())
    assert figures == sorted(f"attention_study-{stem}.{suffix}" for suffix in ("png", "svg") for stem in (
        "bahdanau_bleu_by_length", "luong_scores_input_feeding", "vaswani_heads", "pronoun_accuracy", "attention_cost"))
    assert all((output.parent / "figures" / name).stat().st_size > 1000 for name in figures)
    assert "](figures/attention_study-vaswani_heads.png)" in text
    assert "wrote " + str(output) in capsys.readouterr().out


def test_report_names_the_runs_still_missing_and_says_what_was_not_measured(tmp_path):
    runs = planned(tmp_path / "runs", ["vaswani", "cost"], seeds=[1, 2])
    finish(runs[0], bleu=70.0)
    output = tmp_path / "report.md"
    assert attention_study.main(["report", "--runs-dir", str(tmp_path / "runs"), "--experiments", "vaswani", "cost",
                                 "--output", str(output)]) == 0
    text = output.read_text(encoding="utf-8")
    assert "from 1 of 8 runs finished" in text and "With one seed" not in text
    assert "Not finished yet, left out of the numbers: transformer-heads1-seed2, transformer-heads2-seed1" in text
    assert "| One head is worse than eight (Table 3 (A): 24.9 against 25.8 BLEU) | not measured |" in text
    assert "Not measured yet: `run --experiments cost` measures it" in text
    assert attention_study.main(["report", "--runs-dir", str(tmp_path / "runs"), "--experiments", "vaswani",
                                 "--seeds", "1", "--output", str(output)]) == 0
    assert "With one seed there is no range, so every difference counts." in output.read_text(encoding="utf-8")
    assert [experiment.name for experiment in EXPERIMENTS] == ["bahdanau", "luong", "vaswani", "pronouns", "cost"]


def test_report_before_any_run_has_finished_has_tables_and_no_figures(tmp_path):
    output = tmp_path / "report.md"
    assert attention_study.main(["report", "--runs-dir", str(tmp_path / "runs"), "--output", str(output)]) == 0
    text = output.read_text(encoding="utf-8")
    assert "from 0 of 24 runs finished." in text and text.count("| not measured |") == 8  # every claim but the cost ones
    assert not (tmp_path / "figures").exists() and "![" not in text


def test_saved_figures_are_the_same_bytes_for_the_same_numbers(tmp_path):
    def draw(directory: Path) -> list[bytes]:
        figure, (axes,) = new_figure()
        lines(axes, [1, 2], {"model": [spread([1.0, 2.0]), spread([2.0, 4.0])]}, xlabel="x", ylabel="y")
        return [path.read_bytes() for path in save(figure, directory, "figure")]

    first, second = draw(tmp_path / "a"), draw(tmp_path / "b")
    assert first == second and first[1].startswith(b"<?xml")


def test_report_of_a_bad_scores_file_names_it(tmp_path):
    run = planned(tmp_path, ["vaswani"], seeds=[1])[0]
    finish(run, bleu=70.0)
    run.scores_path("test").write_text("{not json")
    with pytest.raises(NMTError, match=r"cannot read .*best\.sample\.test\.beam5\.scores\.json"):
        read_scores(run)
