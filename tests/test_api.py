"""The Python API (nmt.load, nmt.train, nmt.config): its docstring examples run, and it does what the commands do."""

from __future__ import annotations

import doctest
import io
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf
from tiny_checkpoint import (  # noqa: F401 (one_cpu_thread: autouse fixture)
    PAIRS,
    RNN_MODEL_CONFIG,
    build_tiny_checkpoint,
    one_cpu_thread,
)

import nmt
import nmt.api
import nmt.inference.loading
from nmt.checkpoint import load_checkpoint
from nmt.cli.translate import translate as translate_command
from nmt.errors import NMTError
from nmt.inference.translation import Translation

SOURCES = [source for source, _ in PAIRS[:5]]
# A tiny sample corpus and model (see tests/cli/test_train_cli.py): seconds per run on one CPU thread.
TINY_RUN = [
    "data.sample_sizes.train=200", "data.sample_sizes.validation=10", "data.sample_sizes.test=10",
    "data.pronoun_test_size=0", "data.vocab_size=100", "model.d_model=16", "model.num_heads=2", "model.ff_dim=32",
    "model.num_encoder_layers=1", "model.num_decoder_layers=1", "trainer.max_steps=4", "trainer.threads=1",
    "trainer.tensorboard=false",
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return build_tiny_checkpoint(tmp_path_factory.mktemp("api"))


def command_output(*overrides: str, stdin: str = "") -> str:
    with initialize_config_module(config_module="nmt.configs", version_base=None):
        cfg = compose("translate", overrides=list(overrides))
    stdout = io.StringIO()
    translate_command(cfg, stdin=io.BytesIO(stdin.encode("utf-8")), stdout=stdout)
    return stdout.getvalue()


@pytest.mark.parametrize("module", [nmt.api, nmt.inference.loading], ids=lambda module: module.__name__)
def test_docstring_examples_run(module, checkpoint, tmp_path, monkeypatch, restore_torch_settings):
    monkeypatch.chdir(tmp_path)  # nmt.train's example writes data/ and outputs/ where it runs
    results = doctest.testmod(module, globs={"nmt": nmt, "checkpoint": checkpoint},
                              optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert results.attempted > 0
    assert results.failed == 0, f"{results.failed} docstring example(s) of {module.__name__} failed (output above)"


def test_translate_equals_nmt_translate_for_the_same_options(checkpoint):
    lines = [*SOURCES, ""]
    translator = nmt.load(checkpoint, beam_size=3, length_penalty=0.6, max_len_b=5)
    expected = command_output(f"ckpt={checkpoint}", "beam_size=3", "length_penalty=0.6", "max_len_b=5",
                              stdin="".join(line + "\n" for line in lines))
    assert "".join(text + "\n" for text in translator.translate(lines)) == expected


def test_defaults_are_nmt_translates(checkpoint):
    with initialize_config_module(config_module="nmt.configs", version_base=None):
        values = OmegaConf.to_container(compose("translate", overrides=[f"ckpt={checkpoint}"]), resolve=True)
    assert nmt.load(checkpoint).options == nmt.DecodingOptions.from_dict(values)


def test_a_misspelt_option_is_one_error_naming_the_valid_ones(checkpoint):
    with pytest.raises(NMTError, match=r"unknown config key beam_sise; valid keys are: beam_size, nbest"):
        nmt.load(checkpoint, beam_sise=2)
    with pytest.raises(NMTError, match=r"nbest=4 exceeds beam_size=2"):
        nmt.load(checkpoint, beam_size=2, nbest=4)
    with pytest.raises(NMTError, match=r"precision='16' is not a valid choice"):
        nmt.load(checkpoint, precision="16")


def test_one_string_instead_of_a_list_is_refused(checkpoint):
    with pytest.raises(NMTError, match=r"pass a list of sentences"):
        nmt.load(checkpoint).translate("the cat is black .")


def test_nbest_gives_nbest_translations_best_first(checkpoint):
    results = nmt.load(checkpoint, beam_size=4, nbest=3).translate_nbest([*SOURCES, ""])
    assert [len(found) for found in results] == [3] * len(SOURCES) + [1]  # an empty line: one empty translation
    for found in results[:-1]:
        assert all(isinstance(t, Translation) and t.text and t.tokens for t in found)
        scores = [t.score for t in found]
        assert scores == sorted(scores, reverse=True)
    assert [len(found) for found in nmt.load(checkpoint, beam_size=4).translate_nbest(SOURCES, nbest=4)] == [4] * 5


@pytest.mark.parametrize("family", ["transformer", "rnn"])
def test_attention_has_one_row_per_target_piece_and_one_column_per_source_piece(family, checkpoint, tmp_path):
    path = checkpoint if family == "transformer" else build_tiny_checkpoint(tmp_path, model_config=RNN_MODEL_CONFIG)
    layers_heads = (2, 2) if family == "transformer" else (1, 1)
    for found in nmt.load(path, beam_size=2, nbest=2).translate_nbest(SOURCES, return_attention=True):
        for translation in found:
            assert translation.attention.shape == (*layers_heads, len(translation.tgt_pieces),
                                                   len(translation.src_pieces))
            assert torch.allclose(translation.attention.sum(-1), torch.ones(translation.attention.shape[:-1]),
                                  atol=1e-4)


def test_score_is_the_log_probability_nmt_translate_gives_the_same_translation(checkpoint):
    source, target = PAIRS[3]
    # The prefix forces the target, and a zero length limit then forces EOS: nmt-translate prints its log P.
    line = command_output(f"ckpt={checkpoint}", f"text='{source}'", f"prefix='{target}'", "beam_size=2", "nbest=2",
                          "length_penalty=0", "max_len_a=0", "max_len_b=0")
    index, text, printed = line.strip().split(" ||| ")
    [score] = nmt.load(checkpoint).score([source], [target])
    assert (index, text) == ("0", target)
    assert score == pytest.approx(float(printed), abs=1e-4)


def test_with_options_shares_the_weights_and_refuses_load_time_options(checkpoint):
    loaded = nmt.load(checkpoint)
    greedy = loaded.with_options(beam_size=1)
    assert greedy.translator.model is loaded.translator.model
    assert greedy.translate(SOURCES) == nmt.load(checkpoint, beam_size=1).translate(SOURCES)
    assert loaded.with_options() is loaded
    assert loaded.with_options(loaded.options.replace(beam_size=2)).options.beam_size == 2  # a whole set at once
    with pytest.raises(NMTError, match=r"device='cuda' cannot change on a loaded model; load it again"):
        loaded.with_options(device="cuda")


def test_an_ensemble_is_a_list_of_paths(checkpoint):
    ensemble = nmt.load([checkpoint, checkpoint], beam_size=2)
    assert ensemble.paths == (checkpoint, checkpoint)
    assert ensemble.translate(SOURCES) == nmt.load(checkpoint, beam_size=2).translate(SOURCES)


def test_train_writes_the_run_nmt_train_writes(tmp_path, monkeypatch, restore_torch_settings):
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "runs" / "tiny"
    result = nmt.train([*TINY_RUN, f"hydra.run.dir={run_dir}"])  # no run_dir: nmt-train's choice
    assert result.step == 4 and result.checkpoint_dir == run_dir / "checkpoints"
    assert load_checkpoint(run_dir / "checkpoints" / "best.pt").data_config["name"] == "sample"
    assert "trainer.max_steps=4" in (run_dir / ".hydra" / "overrides.yaml").read_text()
    assert "max_steps: 4" in (run_dir / ".hydra" / "config.yaml").read_text()
    assert "step=4" in (run_dir / "train.log").read_text()
    assert nmt.load(result.checkpoint_dir / "best.pt", beam_size=1).step == 4


def test_train_refuses_what_nmt_train_refuses(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NMTError, match=r"do not compose with nmt-train's config: .*trainer.max_stesp"):
        nmt.train(["trainer.max_stesp=4"], run_dir=tmp_path / "run")
    with pytest.raises(NMTError, match=r"trainer.resume=true but .*last.pt does not exist"):
        nmt.train(["trainer.resume=true"], run_dir=tmp_path / "run")
    with pytest.raises(NMTError, match=r"command='trian' is not an nmt command"):
        nmt.config(command="trian")


def test_import_nmt_does_not_import_torch():
    code = "import sys, nmt; assert 'torch' not in sys.modules; print(nmt.__version__)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_every_name_of_the_api_is_reachable_as_nmt_name():
    import nmt.api

    assert nmt.__all__ == nmt.api.__all__  # nmt forwards only the names it lists
    assert all(getattr(nmt, name) is getattr(nmt.api, name) for name in nmt.api.__all__)


def test_an_export_loads_and_translates_as_its_checkpoint(checkpoint, tmp_path):
    pytest.importorskip("ctranslate2")
    from nmt.checkpoint import load_checkpoint as read
    from nmt.inference.export_ctranslate2 import export_ctranslate2

    directory = export_ctranslate2(read(checkpoint), tmp_path / "ct2", quantization="float32")
    exported = nmt.load(directory, beam_size=3, nbest=2)
    assert exported.step == 0 and (exported.source_language, exported.target_language) == ("en", "fr")
    from_checkpoint = nmt.load(checkpoint, beam_size=3, nbest=2)
    assert [[t.text for t in found] for found in exported.translate_nbest(SOURCES)] == [
        [t.text for t in found] for found in from_checkpoint.translate_nbest(SOURCES)]
    assert exported.with_options(beam_size=1, nbest=1).translate(SOURCES) == from_checkpoint.with_options(
        beam_size=1, nbest=1).translate(SOURCES)
    with pytest.raises(NMTError, match=r"max_len_b=3 cannot change on a CTranslate2 export; load it again"):
        exported.with_options(max_len_b=3)
