"""build_model: presets become models, and config mistakes become one sentence listing the fix."""

from __future__ import annotations

import pytest

from model_fixtures import PRESET_DIR, load_preset, tiny_model
from nmt.errors import NMTError
from nmt.models import MODEL_CLASSES, build_model

PRESETS = ["transformer", "rnn_bahdanau", "rnn_luong", "rnn_plain"]


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_builds_the_class_it_names(preset):
    config = load_preset(preset)
    model = build_model(config, src_vocab_size=100, tgt_vocab_size=100)
    assert type(model) is MODEL_CLASSES[config["_target_"]]
    assert model.num_parameters() == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_key_is_commented(preset):
    lines = (PRESET_DIR / f"{preset}.yaml").read_text().splitlines()
    uncommented = [line for line in lines if line and not line.startswith("#") and "#" not in line
                   and not line.startswith("_target_")]
    assert uncommented == []


@pytest.mark.parametrize("score", ["dot", "general", "concat"])
def test_luong_preset_takes_every_score(score):
    model = tiny_model("rnn_luong", score=score)
    assert model.attention.score == score


def test_transformer_preset_is_the_benchmark_size():
    model = build_model(load_preset("transformer"), src_vocab_size=100, tgt_vocab_size=100)
    assert len(model.encoder_layers) == len(model.decoder_layers) == 3
    assert model.d_model == 256 and model.num_heads == 4 and model.pre_norm
    assert model.output_proj.weight is model.tgt_embed.weight


def test_unknown_target_lists_the_models():
    with pytest.raises(NMTError, match="nmt.models.rnn.RNNSeq2Seq, nmt.models.transformer.Transformer"):
        build_model({**load_preset("transformer"), "_target_": "os.system"}, src_vocab_size=10, tgt_vocab_size=10)


def test_misspelt_key_names_it_and_lists_the_valid_keys():
    config = {**load_preset("transformer"), "num_head": 4}
    with pytest.raises(NMTError, match=r"model\.num_head is not an option.*num_heads"):
        build_model(config, src_vocab_size=10, tgt_vocab_size=10)


def test_missing_key_is_named():
    config = load_preset("rnn_bahdanau")
    del config["dropout"]
    with pytest.raises(NMTError, match="lacks dropout"):
        build_model(config, src_vocab_size=10, tgt_vocab_size=10)


def test_vocabulary_size_in_the_config_is_refused():
    config = {**load_preset("rnn_plain"), "tgt_vocab_size": 10}
    with pytest.raises(NMTError, match="model.tgt_vocab_size is set from the tokenizer"):
        build_model(config, src_vocab_size=10, tgt_vocab_size=10)
