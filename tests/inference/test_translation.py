from __future__ import annotations

import logging

import pytest
import torch
from tiny_checkpoint import MAX_POSITIONS, PAIRS, build_tiny_checkpoint, one_cpu_thread  # noqa: F401 (autouse)

from nmt.device import resolve_device
from nmt.errors import NMTError
from nmt.inference.sampling import Sampling
from nmt.inference.translation import Translator, load_for_translation

SOURCES = [s for s, _ in PAIRS]


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    path = build_tiny_checkpoint(tmp_path_factory.mktemp("translation"))
    _, model, tokenizer = load_for_translation(path, device=torch.device("cpu"))
    return model, tokenizer


def make_translator(parts, **overrides) -> Translator:
    model, tokenizer = parts
    settings = dict(beam_size=1, length_penalty=1.0, max_len_a=1.0, max_len_b=5, batch_tokens=40)
    return Translator(model, tokenizer, **{**settings, **overrides})


@pytest.mark.parametrize("beam_size", [1, 3])
def test_batch_translation_equals_one_line_at_a_time_in_input_order(parts, beam_size):
    # batch_tokens=40 splits the 12 lines over several length-sorted batches.
    translator = make_translator(parts, beam_size=beam_size)
    together = translator.translate(SOURCES)
    alone = [translator.translate([line])[0] for line in SOURCES]
    assert together == alone
    assert len(set(together)) > 1  # different inputs, different outputs: the order is really tested


def test_empty_lines_give_empty_translations(parts):
    translator = make_translator(parts, beam_size=2)
    outputs = translator.translate(["", SOURCES[0], "   ", SOURCES[1]])
    assert outputs[0] == "" and outputs[2] == ""
    assert outputs[1] == translator.translate([SOURCES[0]])[0]
    assert translator.translate([]) == []


def test_too_long_line_is_truncated_with_a_warning(parts, caplog):
    translator = make_translator(parts, max_len_a=0.5)
    long_line = " ".join(SOURCES * 3)
    with caplog.at_level(logging.WARNING, logger="nmt.inference.translation"):
        [[translation]] = translator.translate_nbest([long_line], return_attention=True)
    assert "line 1" in caplog.text and f"limit of {MAX_POSITIONS - 1}" in caplog.text
    assert translation.attention.shape[-1] == MAX_POSITIONS  # 63 pieces + EOS


def test_max_src_tokens_caps_sources_below_the_model_limit(parts, caplog):
    translator = make_translator(parts, max_src_tokens=3)
    with caplog.at_level(logging.WARNING, logger="nmt.inference.translation"):
        [[translation]] = translator.translate_nbest([SOURCES[4]], return_attention=True)
    assert translation.src_pieces[-1] == "</s>" and len(translation.src_pieces) == 4
    assert "limit of 3" in caplog.text


def test_nbest_translations_carry_scores_pieces_and_attention(parts):
    translator = make_translator(parts, beam_size=3)
    results = translator.translate_nbest(SOURCES[:2], nbest=3, return_attention=True)
    for line, nbest in zip(SOURCES[:2], results):
        assert len(nbest) == 3
        assert [t.score for t in nbest] == sorted((t.score for t in nbest), reverse=True)
        best = nbest[0]
        assert best.text == translator.translate([line])[0]
        assert best.attention.shape == (2, 2, len(best.tgt_pieces), len(best.src_pieces))  # (L, H, T', S)
        assert best.tgt_pieces[-1] == "</s>" and best.src_pieces[-1] == "</s>"


def test_sampled_translations_are_nbest_per_line_and_do_not_depend_on_the_batch(parts):
    # beam_size=1 and nbest=4: nbest counts samples, beam_size is ignored; batch_tokens=40 splits the lines.
    translator = make_translator(parts, sampling=Sampling(temperature=2.0, seed=3))
    together = translator.translate_nbest(SOURCES[:6], nbest=4)
    alone = [translator.translate_nbest([line], nbest=4)[0] for line in SOURCES[:6]]
    assert [[t.text for t in samples] for samples in together] == [[t.text for t in samples] for samples in alone]
    assert all(len(samples) == 4 for samples in together)
    assert len({t.text for t in together[0]}) > 1
    with pytest.raises(NMTError, match=r"^nbest=0 must be at least 1"):
        translator.translate_nbest(SOURCES[:1], nbest=0)


def test_scores_of_given_targets_do_not_depend_on_the_batch(parts):
    translator = make_translator(parts, batch_tokens=30)
    targets = [t for _, t in PAIRS]
    together = translator.score(SOURCES, targets)
    alone = [translator.score([s], [t])[0] for s, t in zip(SOURCES, targets)]
    assert together == pytest.approx(alone, abs=1e-4)
    assert all(score < 0 for score in together)
    with pytest.raises(NMTError, match="2 sources for 1 targets"):
        translator.score(SOURCES[:2], targets[:1])


def test_translation_runs_in_eval_mode_and_restores_the_training_mode(parts):
    model, _ = parts
    translator = make_translator(parts)
    expected = translator.translate(SOURCES[:3])
    model.train()  # dropout on: the output would change if translation did not switch it off
    try:
        assert translator.translate(SOURCES[:3]) == expected
        assert model.training
    finally:
        model.eval()


@pytest.mark.parametrize("beam_size", [1, 3])
def test_bf16_precision_decodes_with_bf16_weights(parts, beam_size, monkeypatch):
    model, _ = parts
    seen = []
    real_decode_step = type(model).decode_step

    def recording_decode_step(self, *args, **kwargs):
        seen.append((next(self.parameters()).dtype, torch.is_autocast_enabled("cpu")))
        return real_decode_step(self, *args, **kwargs)

    monkeypatch.setattr(type(model), "decode_step", recording_decode_step)
    bf16 = make_translator(parts, beam_size=beam_size, precision="bf16").translate(SOURCES)
    assert seen and set(seen) == {(torch.bfloat16, False)}  # weights cast once, no per-op autocast
    assert next(model.parameters()).dtype == torch.float32  # the caller's model is left as it was
    seen.clear()
    fp32 = make_translator(parts, beam_size=beam_size, precision=32).translate(SOURCES)  # YAML gives 32 as an int
    assert seen and set(seen) == {(torch.float32, False)}
    assert len(bf16) == len(fp32) and sum(a == b for a, b in zip(bf16, fp32)) >= len(SOURCES) // 2


def test_bad_settings_and_checkpoints_are_user_errors(parts, tmp_path):
    with pytest.raises(NMTError, match="nbest=4"):
        make_translator(parts, beam_size=2).translate_nbest(["x"], nbest=4)
    with pytest.raises(NMTError, match="batch_tokens=0"):
        make_translator(parts, batch_tokens=0)
    with pytest.raises(NMTError, match="precision='16'"):
        make_translator(parts, precision="16")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(NMTError, match="bad.pt"):
        load_for_translation(bad, device=torch.device("cpu"))
    with pytest.raises(NMTError, match="device=tpu"):
        resolve_device("tpu")
    assert resolve_device("cpu") == torch.device("cpu")


# "la va" ends inside a word: the model goes on from its pieces. "" leaves line 2 unconstrained.
PREFIXES = ["la petite", "", "un homme", "la va", "deux chiens courent"]


@pytest.mark.parametrize(("settings", "nbest"), [({"beam_size": 1}, 1), ({"beam_size": 5}, 5),
                                                 ({"sampling": Sampling(seed=1)}, 3)])
def test_every_translation_starts_with_its_prefix_and_does_not_depend_on_the_batch(parts, settings, nbest):
    translator = make_translator(parts, **settings)
    _, tokenizer = parts
    lines = SOURCES[:len(PREFIXES)]
    together = translator.translate_nbest(lines, nbest=nbest, prefixes=PREFIXES)
    for line, prefix, translations in zip(lines, PREFIXES, together):
        alone = translator.translate_nbest([line], nbest=nbest, prefixes=[prefix])[0]
        assert [t.text for t in translations] == [t.text for t in alone]
        assert [t.score for t in translations] == pytest.approx([t.score for t in alone], abs=1e-4)
        prefix_ids = tokenizer.encode_tgt([prefix])[0]
        assert len(translations) == nbest
        assert all(t.text.startswith(prefix) and t.tokens[:len(prefix_ids)] == prefix_ids for t in translations)
    unconstrained = translator.translate_nbest([lines[1]], nbest=nbest)[0]
    assert [t.text for t in together[1]] == [t.text for t in unconstrained]
    assert any(not text.startswith(p) for text, p in zip(translator.translate(lines), PREFIXES))  # really forced


def test_a_prefix_beyond_the_target_positions_is_truncated_with_a_warning(parts, caplog):
    _, tokenizer = parts
    long_prefix = " ".join(target for _, target in PAIRS)
    cap = MAX_POSITIONS - 1  # BOS takes one position
    with caplog.at_level(logging.WARNING, logger="nmt.inference.translation"):
        [[translation]] = make_translator(parts).translate_nbest([SOURCES[0]], prefixes=[long_prefix])
    assert "line 1" in caplog.text and f"target prefix pieces, more than the limit of {cap}" in caplog.text
    assert translation.tokens == tokenizer.encode_tgt([long_prefix])[0][:cap]  # the prefix fills every position
    with pytest.raises(NMTError, match="1 prefixes for 2 lines"):
        make_translator(parts).translate_nbest(SOURCES[:2], prefixes=["la"])
