"""Every command checks its numeric and choice keys before any work: one NMTError naming the key.

The configs are composed as the commands compose them (Hydra parses `beam_size=abc` to a str and
`beam_size=2.5` to a float), and the checkpoint and data directory named here do not exist: a row
that got past the config checks would fail on them instead, with another message.
"""

from __future__ import annotations

import importlib
import io
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from nmt.cli.common import data_overrides_need_a_preset
from nmt.cli.evaluate import evaluate
from nmt.cli.prepare import prepare
from nmt.cli.train import train
from nmt.cli.translate import translate
from nmt.errors import NMTError

MISSING_CHECKPOINT = Path(__file__).parent / "no-such-run" / "best.pt"
CONFIG_NAMES = {"prepare": "prepare", "train": "config", "evaluate": "evaluate", "translate": "translate"}


def run(command: str, *overrides: str, data_dir: Path) -> None:
    """`command` in-process on MISSING_CHECKPOINT and an empty `data_dir` (never created unless work starts)."""
    fixed = {"evaluate": [f"ckpt={MISSING_CHECKPOINT}"], "translate": [f"ckpt={MISSING_CHECKPOINT}"],
             # deterministic=false: a train call that passes the trainer checks leaves torch's global flags alone
             "train": ["trainer.deterministic=false"], "prepare": []}[command]
    with initialize_config_module(config_module="nmt.configs", version_base=None):
        paths = [f"paths.data_dir={data_dir}"] if command != "translate" else []
        cfg = compose(CONFIG_NAMES[command], overrides=[*fixed, *paths, *overrides])
    if command == "train":
        train(cfg, output_dir=data_dir.parent / "run")
    elif command == "translate":
        translate(cfg, stdin=io.BytesIO(), stdout=io.StringIO())
    else:
        {"prepare": prepare, "evaluate": evaluate}[command](cfg)


@pytest.mark.parametrize(("command", "override", "message"), [
    # the decoding options nmt-evaluate and nmt-translate share (DecodingOptions)
    ("translate", "beam_size=abc", "beam_size='abc' has the wrong type; expected int"),
    ("translate", "beam_size=2.5", "beam_size=2.5 has the wrong type; expected int"),
    ("translate", "beam_size=0", "beam_size=0 is too small; it must be 1 or more"),
    ("translate", "nbest=6", "nbest=6 exceeds beam_size=5"),
    ("translate", "length_penalty=-0.5", "length_penalty=-0.5 is too small; it must be 0 or more"),
    ("translate", "length_penalty=nan", "length_penalty=nan is not a finite number"),
    ("translate", "max_len_a=-1", "max_len_a=-1.0 is too small"),
    ("translate", "max_len_b=1.5", "max_len_b=1.5 has the wrong type; expected int"),
    ("translate", "max_src_tokens=0", "max_src_tokens=0 is too small"),
    ("translate", "batch_tokens=0", "batch_tokens=0 is too small"),
    ("translate", "threads=auto", "threads='auto' has the wrong type; expected int"),
    ("translate", "threads=-1", "threads=-1 is too small"),
    ("translate", "precision=16", "precision=16 is not a valid choice; valid choices are: 32, bf16"),
    ("translate", "device=tpu", "device=tpu is not a device; use auto, cpu, cuda or cuda:N"),
    ("evaluate", "beam_size=abc", "beam_size='abc' has the wrong type; expected int"),
    ("evaluate", "precision=fp16", "precision='fp16' is not a valid choice"),
    ("evaluate", "device=cudaa", "device=cudaa is not a device"),
    # keys of one command
    ("translate", "plot=attention.txt", "plot=attention.txt is not an image file matplotlib can write"),
    ("translate", "plot_layer=last", "plot_layer='last' has the wrong type; expected int"),
    ("translate", f"output={Path(__file__).parent}", f"output={Path(__file__).parent} is a directory"),
    ("translate", "input=123", "input=123 has the wrong type; expected str or null"),
    ("evaluate", "split=dev", "split='dev' is not a valid choice; valid choices are: train, validation, test"),
    ("evaluate", "max_sentences=0", "max_sentences=0 must be a positive number of sentences or null"),
    ("evaluate", "max_sentences=ten", "max_sentences='ten' has the wrong type; expected int or null"),
    ("evaluate", "length_buckets=[20,10]", "length_buckets=[20, 10] must be increasing positive word counts"),
    ("evaluate", "length_buckets=10", "length_buckets=10 has the wrong type; expected a list of ints"),
    ("evaluate", f"output={__file__}", f"output={__file__} is a file"),
    ("evaluate", "data=local", "data=local needs data.local_dir=DIR"),
    ("evaluate", "paths.data_dir=5", "paths.data_dir=5 has the wrong type; expected str"),
    # nmt-train: trainer (TrainerConfig), data, tokenizer and model keys
    ("train", "trainer.batch_tokens=abc", "trainer.batch_tokens='abc' has the wrong type; expected int"),
    ("train", "trainer.lr_schedule=cosine", "trainer.lr_schedule='cosine' is not a valid choice"),
    ("train", "trainer.adam_betas=[0.9]", "trainer.adam_betas=[0.9] has the wrong type; expected a list of 2 floats"),
    ("train", "trainer.threads=null", "trainer.threads=None has the wrong type; expected int"),
    ("train", "trainer.device=tpu", "trainer.device='tpu' is not a valid choice; valid choices are: auto, cpu, cuda"),
    ("train", "trainer.min_lr=-1e-6", "trainer.min_lr=-1e-06 is too small"),
    ("train", "data.clean.max_len=0", "data.clean.max_len=0 must be at least 1"),
    ("train", "model.d_model=abc", "model.d_model='abc' is not valid: it must be a whole number >= 1"),
    # nmt-prepare: data and tokenizer keys
    ("prepare", "tokenizer.seed=-1", "tokenizer.seed=-1 must be in [0, 2^32)"),
    ("prepare", "tokenizer.num_threads=0", "tokenizer.num_threads=0 is too small; it must be 1 or more"),
    ("prepare", "data.vocab_size=many", "data.vocab_size='many' has the wrong type; expected int"),
    ("prepare", "data.source=hubb", "data.source='hubb' is not a valid choice"),
    ("prepare", "paths.data_dir=5", "paths.data_dir=5 has the wrong type; expected str"),
])
def test_bad_value_is_one_sentence_naming_the_key_before_any_work(command, override, message, tmp_path):
    with pytest.raises(NMTError) as raised:
        run(command, override, data_dir=tmp_path / "data")
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "data").exists() and not (tmp_path / "run").exists()


def test_good_values_of_every_type_pass_the_checks(tmp_path):
    """Numbers where Hydra gives ints (length_penalty=1, precision=32) and cuda:N pass; the missing file fails next."""
    for command in ("translate", "evaluate"):
        with pytest.raises(NMTError, match="does not exist"):
            run(command, "length_penalty=1", "precision=32", "max_src_tokens=100", "threads=0", "beam_size=1",
                *(["nbest=1", "plot=a.pdf", "text=12"] if command == "translate" else ["split=test"]),
                data_dir=tmp_path / "data")


def test_translate_checks_its_options_before_reading_the_checkpoint(tmp_path):
    unreadable = tmp_path / "bad.pt"
    unreadable.write_bytes(b"not a checkpoint")
    with pytest.raises(NMTError, match=r"^beam_size='abc'"):
        run("translate", f"ckpt={unreadable}", "beam_size=abc", data_dir=tmp_path / "data")
    with pytest.raises(NMTError, match=r"^checkpoint .*bad\.pt"):  # the same call with good options reads it
        run("translate", f"ckpt={unreadable}", data_dir=tmp_path / "data")


def test_evaluate_checks_split_and_corpus_before_reading_the_checkpoint(tmp_path):
    with pytest.raises(NMTError, match=r"^split='dev'"):
        run("evaluate", "split=dev", "data=local", f"data.local_dir={tmp_path}", data_dir=tmp_path / "data")
    with pytest.raises(NMTError, match=r"^data\.src_lang and data\.tgt_lang are both 'de'"):
        run("evaluate", "data=local", f"data.local_dir={tmp_path}", "data.tgt_lang=de", data_dir=tmp_path / "data")


def test_train_checks_every_group_before_preparing_data(tmp_path):
    with pytest.raises(NMTError, match=r"^tokenizer\.seed=-1"):
        run("train", "tokenizer.seed=-1", data_dir=tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_prepare_checks_the_tokenizer_before_reading_the_corpus(tmp_path):
    # Before the checks, tokenizer.seed=-1 was a TypeError from SentencePiece after cleaning the corpus.
    with pytest.raises(NMTError, match=r"^tokenizer\.seed=-1"):
        run("prepare", "data=local", f"data.local_dir={tmp_path / 'nowhere'}", "tokenizer.seed=-1",
            data_dir=tmp_path / "data")


@pytest.mark.parametrize("module", ["nmt.cli.evaluate", "nmt.cli.analyze"])
def test_a_data_key_without_a_data_preset_is_one_line_naming_the_fix(module, monkeypatch, capsys):
    main = importlib.import_module(module).main
    monkeypatch.setattr(sys, "argv", [module, f"ckpt={MISSING_CHECKPOINT}", "data.local_dir=corpora/m30k"])
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        "error: data.local_dir=corpora/m30k changes a corpus preset, but none is chosen (the checkpoint's own "
        "corpus is used); add one, e.g. data=multi30k data.local_dir=corpora/m30k\n")


@pytest.mark.parametrize("arguments", [["ckpt=a.pt"], ["ckpt=a.pt", "data=multi30k", "data.local_dir=m30k"],
                                       ["+data=multi30k", "data.local_dir=m30k"]])
def test_a_data_key_with_a_preset_or_no_data_key_reaches_the_command(arguments, monkeypatch):
    calls = []
    monkeypatch.setattr(sys, "argv", ["nmt-evaluate", *arguments])
    data_overrides_need_a_preset(lambda: calls.append(sys.argv[1:]))()
    assert calls == [arguments]


@pytest.mark.parametrize(("model", "shapes_repeat"), [("transformer", True), ("rnn_bahdanau", False)])
def test_train_sizes_onednn_s_cache_by_the_model_it_will_build(model, shapes_repeat, monkeypatch, tmp_path):
    seen = []

    def stop_after_configuring(config, device, *, shapes_repeat: bool) -> None:
        seen.append(shapes_repeat)
        raise NMTError("configured")

    monkeypatch.setattr("nmt.cli.train.configure_torch", stop_after_configuring)
    with pytest.raises(NMTError, match="configured"):
        run("train", f"model={model}", "trainer.precision=bf16", data_dir=tmp_path / "data")
    assert seen == [shapes_repeat]
