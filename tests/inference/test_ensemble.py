"""Ensembles: the mixture worked out by hand, parity with a single model, RNN + Transformer, loading."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from scripted_model import Script, ScriptedModel, source, tiny_real_model, tokens_of
from tiny_checkpoint import RNN_MODEL_CONFIG, TOKENIZER_CONFIG, build_tiny_checkpoint, one_cpu_thread  # noqa: F401

from nmt.errors import NMTError
from nmt.inference.decoding import beam_search, greedy_search
from nmt.inference.ensemble import EnsembleModel, load_ensemble
from nmt.tokens import BOS_ID, EOS_ID

# Alone, A says 5 and B says 6; together 6 wins: (0.2 + 0.7) / 2 = 0.45 against (0.6 + 0.1) / 2 = 0.35.
SCRIPT_A: Script = {4: {(): {5: 0.6, 6: 0.2, EOS_ID: 0.1}, (6,): {EOS_ID: 0.5}}}
SCRIPT_B: Script = {4: {(): {5: 0.1, 6: 0.7, EOS_ID: 0.1}, (6,): {EOS_ID: 0.9}}}


def test_step_log_probs_are_the_log_of_the_mean_probability():
    first, second = ScriptedModel(SCRIPT_A), ScriptedModel(SCRIPT_B)
    ensemble = EnsembleModel([first, second])
    src, src_mask = source([4, 7])
    log_probs, _, attention = ensemble.decode_step(torch.tensor([BOS_ID]), ensemble.encode(src, src_mask))
    expected = {5: (0.6 + 0.1) / 2, 6: (0.2 + 0.7) / 2, EOS_ID: (0.1 + 0.1) / 2}
    for token, p in expected.items():
        assert float(log_probs[0, token]) == pytest.approx(math.log(p), abs=1e-6)
    by_hand = ((first._distribution(4, ()) + second._distribution(4, ())) / 2).log()
    assert torch.allclose(log_probs[0], by_hand, atol=1e-6)
    assert log_probs.dtype == torch.float32 and attention.shape == (1, 1, 1, 2)
    greedy = greedy_search(ensemble, src, src_mask, max_len_a=0.0, max_len_b=3)[0]
    assert greedy.tokens == [6]
    assert greedy.score == pytest.approx(math.log(0.45) + math.log((0.5 + 0.9) / 2), abs=1e-5)


@pytest.mark.parametrize("preset", ["transformer", "rnn_bahdanau"])
def test_an_ensemble_of_a_model_with_itself_decodes_as_the_model(preset):
    model = tiny_real_model(preset)
    ensemble = EnsembleModel([model, model])
    src, src_mask = source([4, 5, 6, 7, 8, EOS_ID], [9, 10, EOS_ID], [11, 12, 13, EOS_ID])
    lengths = {"max_len_a": 1.0, "max_len_b": 3}
    alone, together = greedy_search(model, src, src_mask, **lengths), greedy_search(ensemble, src, src_mask, **lengths)
    assert tokens_of(together) == tokens_of(alone)
    assert [h.score for h in together] == pytest.approx([h.score for h in alone], abs=1e-5)
    beam = dict(beam_size=3, length_penalty=1.0, nbest=3, **lengths)
    for single, mixed in zip(beam_search(model, src, src_mask, **beam), beam_search(ensemble, src, src_mask, **beam)):
        assert tokens_of(mixed) == tokens_of(single)
        assert [h.score for h in mixed] == pytest.approx([h.score for h in single], abs=1e-5)


def test_an_rnn_and_a_transformer_decode_together():
    transformer = tiny_real_model("transformer", seed=1)
    rnn = tiny_real_model("rnn_luong", seed=2)
    ensemble = EnsembleModel([rnn, transformer])
    assert ensemble.max_src_len == transformer.max_src_len and ensemble.max_tgt_len == transformer.max_tgt_len
    sentences = [[4, 5, 6, 7, EOS_ID], [8, 9, EOS_ID]]
    src, src_mask = source(*sentences)
    batched = beam_search(ensemble, src, src_mask, beam_size=3, length_penalty=1.0, max_len_a=1.0, max_len_b=3,
                          nbest=2, return_attention=True)
    for sentence, together in zip(sentences, batched):
        alone = beam_search(ensemble, *source(sentence), beam_size=3, length_penalty=1.0, max_len_a=1.0,
                            max_len_b=3, nbest=2)[0]
        assert tokens_of(together) == tokens_of(alone)
        for hypothesis in together:  # one averaged map, a distribution over the real source positions
            assert hypothesis.attention.shape == (1, 1, len(hypothesis.tokens) + 1, len(sentence))
            assert torch.allclose(hypothesis.attention.sum(dim=-1), torch.ones(1, 1, len(hypothesis.tokens) + 1))
    # Teacher forcing gives the numbers of stepping.
    tgt_in = torch.tensor([[BOS_ID, 7, 8, 9], [BOS_ID, 10, 11, 12]])
    forced = ensemble(src, src_mask, tgt_in)                                         # (B, T, V)
    state, stepped = ensemble.encode(src, src_mask), []
    for position in range(tgt_in.size(1)):
        log_probs, state, weights = ensemble.decode_step(tgt_in[:, position], state, need_weights=False)
        assert weights is None
        stepped.append(log_probs)
    assert torch.allclose(forced, torch.stack(stepped, dim=1), atol=1e-5)


def test_checkpoints_load_as_one_ensemble_only_with_the_same_tokenizer(tmp_path):
    transformer = build_tiny_checkpoint(tmp_path / "transformer")
    rnn = build_tiny_checkpoint(tmp_path / "rnn", model_config=RNN_MODEL_CONFIG)
    checkpoint, model, _ = load_ensemble([transformer, rnn], device=torch.device("cpu"))
    assert isinstance(model, EnsembleModel) and len(model.members) == 2
    assert checkpoint.model_config["_target_"].endswith("Transformer")  # the first member's checkpoint
    assert not isinstance(load_ensemble([rnn], device=torch.device("cpu"))[1], EnsembleModel)
    other = build_tiny_checkpoint(tmp_path / "other", tokenizer_config=replace(TOKENIZER_CONFIG, vocab_size=80))
    with pytest.raises(NMTError, match=rf"^checkpoints {transformer} and {other} use different SentencePiece"):
        load_ensemble([transformer, other], device=torch.device("cpu"))
