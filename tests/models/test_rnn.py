"""RNN encoder-decoder: what each decoder learns, what attention adds, and config mistakes."""

from __future__ import annotations

import pytest
import torch

from model_fixtures import padded_batch, tiny_model, train_copy
from nmt.errors import NMTError
from nmt.models.rnn import RNNSeq2Seq

# Big enough to learn the copy task in a few hundred steps; no dropout so few steps suffice.
LEARNER = dict(dropout=0.0, emb_dim=32, encoder_hidden_dim=32, decoder_hidden_dim=64)


@pytest.mark.parametrize("preset", ["rnn_bahdanau", "rnn_luong"])
def test_attention_decoder_learns_to_copy_digits(preset):
    accuracy = train_copy(tiny_model(preset, **LEARNER), steps=200, lr=5e-3, min_len=3, max_len=7)
    assert accuracy >= 0.95


def test_attention_free_decoder_learns_to_copy_short_digit_strings():
    # Its only view of the source is the final encoder state: give that state room, and larger batches.
    model = tiny_model("rnn_plain", **{**LEARNER, "encoder_hidden_dim": 64})
    accuracy = train_copy(model, steps=300, lr=3e-3, batch_size=64, min_len=2, max_len=5)
    assert accuracy >= 0.95


def test_attention_beats_the_attention_free_baseline_on_long_strings():
    def accuracy(preset: str) -> float:
        return train_copy(tiny_model(preset, **LEARNER), steps=120, lr=1e-2, min_len=8, max_len=11)

    plain = accuracy("rnn_plain")
    assert accuracy("rnn_bahdanau") >= plain + 0.2
    assert accuracy("rnn_luong") >= plain + 0.2


@pytest.mark.parametrize("preset", ["rnn_bahdanau", "rnn_luong"])
def test_attention_keys_are_projected_once_per_sentence(preset, monkeypatch):
    model = tiny_model(preset)
    calls = []
    project_keys = model.attention.project_keys
    monkeypatch.setattr(model.attention, "project_keys", lambda key: calls.append(1) or project_keys(key))
    src, src_mask = padded_batch([[5, 6, 7, 3], [8, 3]])
    tgt_in, _ = padded_batch([[2, 5, 6, 7, 8, 9], [2, 8, 9]])
    with torch.no_grad():
        model(src, src_mask, tgt_in)
        state = model.encode(src, src_mask)
        for position in range(tgt_in.size(1)):
            _, state, _ = model.decode_step(tgt_in[:, position], state)
    assert len(calls) == 2  # one forward, one encode; none per step


def test_bridge_off_starts_the_decoder_from_zeros():
    model = tiny_model("rnn_bahdanau", bridge=False)
    src, src_mask = padded_batch([[5, 6, 7, 3]])
    assert torch.all(model.encode(src, src_mask).hidden == 0)
    assert model.bridge is None


def test_luong_input_feeding_carries_the_attentional_state():
    model = tiny_model("rnn_luong")
    src, src_mask = padded_batch([[5, 6, 7, 3]])
    with torch.no_grad():
        state = model.encode(src, src_mask)
        _, next_state, _ = model.decode_step(torch.tensor([2]), state)
    assert torch.all(state.feed == 0) and next_state.feed.abs().sum() > 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(score="dot"), "applies only to model.attention=luong"),
        (dict(input_feeding=True), "applies only to model.attention=luong"),
        (dict(cell="rnn"), "gru, lstm"),
        (dict(attention="local"), "bahdanau, luong, none"),
        (dict(tie_embeddings="decoder", emb_dim=16, decoder_hidden_dim=32), "must equal"),
        (dict(dropout=1.5), "model.dropout"),
        (dict(emb_dim=0), "model.emb_dim"),
    ],
)
def test_bahdanau_config_mistakes_are_one_clear_error(overrides, message):
    with pytest.raises(NMTError, match=message):
        tiny_model("rnn_bahdanau", **overrides)


def test_luong_without_a_score_lists_the_scores():
    with pytest.raises(NMTError, match="dot, general, concat"):
        tiny_model("rnn_luong", score=None)


def test_attention_free_model_without_bridge_is_refused():
    with pytest.raises(NMTError, match="model.bridge"):
        tiny_model("rnn_plain", bridge=False)


def test_tying_all_embeddings_shares_one_matrix():
    model = tiny_model("rnn_bahdanau", tie_embeddings="all", emb_dim=16, decoder_hidden_dim=16)
    assert isinstance(model, RNNSeq2Seq)
    assert model.src_embed.weight is model.tgt_embed.weight is model.output_proj.weight
