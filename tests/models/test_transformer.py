"""Transformer: key/value cache, positions, tied embeddings, and learning a toy task."""

from __future__ import annotations

import math

import pytest
import torch

from model_fixtures import padded_batch, tiny_model, train_copy
from nmt.errors import NMTError
from nmt.models.transformer import Transformer, extend_cache, sinusoidal_table


def sample():
    src, src_mask = padded_batch([[5, 6, 7, 8, 9, 10, 3], [11, 12, 3]])
    tgt_in, _ = padded_batch([[2, 9, 8, 7, 6, 5, 4], [2, 12, 11]])
    return src, src_mask, tgt_in


def test_transformer_learns_to_copy_digits():
    model = tiny_model("transformer", d_model=32, ff_dim=64, dropout=0.0, attention_dropout=0.0)
    assert train_copy(model, steps=200, lr=5e-3, min_len=3, max_len=7) >= 0.95


def test_self_attention_cache_grows_one_position_per_step_and_cross_cache_is_reused():
    model = tiny_model("transformer")
    src, src_mask, tgt_in = sample()
    with torch.no_grad():
        state = model.encode(src, src_mask)
        cross_keys = state.cross_keys
        for position in range(3):
            _, state, _ = model.decode_step(tgt_in[:, position], state)
            assert all(keys.shape == (2, 2, position + 1, 8) for keys in state.self_keys)
    assert state.cross_keys is cross_keys  # projected once in encode, carried along


def test_beams_share_one_copy_of_their_sentences_source_side():
    model = tiny_model("transformer").eval()
    src, src_mask = padded_batch([[5, 6, 7, 3], [11, 12, 3], [8, 3]])
    beams = 3
    tokens = torch.tensor([4, 5, 6, 7, 8, 9, 10, 11, 12])  # a different token in every beam
    with torch.no_grad():
        state = model.encode(src, src_mask).select(torch.arange(3).repeat_interleave(beams))
        assert (state.rows_per_source, state.cross_keys[0].size(0), state.self_rows.numel()) == (3, 3, 9)
        logits, state, weights = model.decode_step(tokens, state)
        for beam in range(beams):  # the same as decoding each beam's rows on their own, one row per sentence
            alone, _, alone_weights = model.decode_step(tokens[beam::beams], model.encode(src, src_mask))
            torch.testing.assert_close(logits[beam::beams], alone, atol=1e-5, rtol=0)
            torch.testing.assert_close(weights[beam::beams], alone_weights, atol=1e-6, rtol=0)
        # sentence 1 finishes; beams of sentences 0 and 2 are reordered within their sentence
        state = state.select(torch.tensor([2, 0, 0, 6, 8, 7]))
        assert (state.rows_per_source, state.cross_keys[0].size(0)) == (3, 2)
        assert torch.equal(state.src_mask, src_mask[[0, 2]])
        irregular = state.select(torch.tensor([0, 1, 3]))  # runs of 2 and 1 rows: one copy per row
        assert (irregular.rows_per_source, irregular.cross_keys[0].size(0)) == (1, 3)
    # each beam's attention is over its own sentence's real positions
    assert torch.all(weights[3:6, ..., 3:] == 0) and torch.all(weights[6:, ..., 2:] == 0)
    assert torch.all(weights[6:, ..., :2] > 0)
    assert torch.allclose(weights.sum(dim=-1), torch.ones(9, 2, 2))


def test_sinusoidal_positions_follow_the_paper_formula():
    table = sinusoidal_table(50, 16)
    position, i = 37, 3
    assert table[position, 2 * i].item() == pytest.approx(math.sin(position / 10000 ** (2 * i / 16)), abs=1e-5)
    assert table[position, 2 * i + 1].item() == pytest.approx(math.cos(position / 10000 ** (2 * i / 16)), abs=1e-5)


def test_sinusoidal_positions_go_past_the_precomputed_table():
    short_table = tiny_model("transformer", max_positions=4)
    long_table = tiny_model("transformer", max_positions=64)
    src, src_mask, tgt_in = sample()
    assert short_table.max_src_len is None
    with torch.no_grad():
        torch.testing.assert_close(short_table(src, src_mask, tgt_in), long_table(src, src_mask, tgt_in),
                                   atol=1e-6, rtol=0)


def test_learned_positions_bound_the_source_length():
    model = tiny_model("transformer", positions="learned", max_positions=5)
    src, src_mask, tgt_in = sample()
    assert model.max_src_len == 5
    with pytest.raises(NMTError, match="model.max_positions=5"):
        model(src, src_mask, tgt_in)


@pytest.mark.parametrize(("tie", "shared_output", "shared_source"),
                         [("none", False, False), ("decoder", True, False), ("all", True, True)])
def test_tie_embeddings_shares_the_chosen_matrices(tie, shared_output, shared_source):
    model = tiny_model("transformer", tie_embeddings=tie)
    assert isinstance(model, Transformer)
    assert (model.output_proj.weight is model.tgt_embed.weight) == shared_output
    assert (model.src_embed.weight is model.tgt_embed.weight) == shared_source


def test_tying_all_embeddings_needs_one_vocabulary():
    with pytest.raises(NMTError, match="joint"):
        Transformer(src_vocab_size=10, tgt_vocab_size=12, d_model=16, num_heads=2, num_encoder_layers=1,
                    num_decoder_layers=1, ff_dim=32, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
                    norm="pre", positions="sinusoidal", max_positions=16, scale_embeddings=True, tie_embeddings="all")


@pytest.mark.parametrize(("key", "value", "message"),
                         [("norm", "middle", "pre, post"), ("positions", "rotary", "sinusoidal, learned"),
                          ("tie_embeddings", "yes", "none, decoder, all"), ("attention_dropout", 2.0, "[0, 1)")])
def test_transformer_config_mistakes_list_the_valid_values(key, value, message):
    with pytest.raises(NMTError, match=f"model.{key}=.*{message.replace('[', '.').replace(')', '.')}"):
        tiny_model("transformer", **{key: value})


def test_initialisation_is_xavier_for_projections_and_scaled_normal_for_embeddings():
    model = tiny_model("transformer", d_model=64, ff_dim=256, num_heads=4)
    query_block = model.encoder_layers[0].self_attn.in_proj.weight[:64]
    assert query_block.abs().max() <= math.sqrt(6 / (64 + 64)) + 1e-6  # Xavier bound per (D, D) block
    assert query_block.abs().max() > 0.8 * math.sqrt(6 / (64 + 64))
    embedding_std = model.tgt_embed.weight[4:].std().item()
    assert embedding_std == pytest.approx(64**-0.5, rel=0.1)
    assert torch.all(model.tgt_embed.weight[0] == 0)


def test_extend_cache_gathers_the_selected_rows_and_appends_in_the_new_positions_dtype():
    cache = torch.randn(3, 2, 4, 5)  # (B0, H, t, Dh)
    new = torch.randn(4, 2, 1, 5).bfloat16()  # (B, H, 1, Dh)
    rows = torch.tensor([2, 2, 0, 1])
    extended = extend_cache(cache, rows, new)
    assert extended.dtype == torch.bfloat16
    torch.testing.assert_close(extended, torch.cat([cache[rows].bfloat16(), new], dim=2), rtol=0, atol=0)
    torch.testing.assert_close(extend_cache(cache, None, new[:3]), torch.cat([cache.bfloat16(), new[:3]], dim=2))


def test_reorders_held_for_the_next_step_compose_and_leave_earlier_states_intact():
    model = tiny_model("transformer").eval()
    src, src_mask = padded_batch([[5, 6, 7, 3], [11, 12, 3]])
    with torch.no_grad():
        start = model.encode(src, src_mask).select(torch.tensor([0, 0, 1, 1]))  # 2 beams per sentence
        _, first, _ = model.decode_step(torch.tensor([4, 5, 6, 7]), start)
        keys_before = first.self_keys[0].clone()
        # two selects in a row act as their composition: [1, 0, 3, 2] then [0, 0, 2, 3] is [1, 1, 3, 2]
        twice = first.select(torch.tensor([1, 0, 3, 2])).select(torch.tensor([0, 0, 2, 3]))
        once = first.select(torch.tensor([1, 1, 3, 2]))
        tokens = torch.tensor([8, 9, 10, 11])
        logits, _, _ = model.decode_step(tokens, twice)
        expected, _, _ = model.decode_step(tokens, once)
        assert torch.equal(first.self_keys[0], keys_before)  # decoding from a selection copies, never writes back
        torch.testing.assert_close(logits, expected, atol=0, rtol=0)
        assert not torch.allclose(expected[0], expected[2])  # the rows really differ
        again, _, _ = model.decode_step(tokens, once)  # the same state decodes twice alike
        torch.testing.assert_close(again, expected, atol=0, rtol=0)


def test_under_bf16_autocast_the_self_attention_cache_stays_in_the_projections_dtype():
    model = tiny_model("transformer").eval()
    src, src_mask = padded_batch([[5, 6, 7, 3], [8, 3]])
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        state = model.encode(src, src_mask)
        for _ in range(2):
            _, state, _ = model.decode_step(torch.tensor([4, 5]), state)
    assert {keys.dtype for keys in (*state.self_keys, *state.self_values)} == {torch.bfloat16}
