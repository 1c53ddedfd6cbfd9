"""Ancestral sampling against a scripted model whose next-token distributions are set by hand.

Sentence 4's first token is 5, 6 or 7 with probabilities 0.5, 0.3 and 0.2 (nothing else),
then EOS: 2,000 samples of it show the frequencies, the temperature and the filters.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import pytest
import torch
from scripted_model import Script, ScriptedModel, prefix_ids, source, tokens_of

from nmt.errors import NMTError
from nmt.inference.sampling import Sampling, filtered_probs, sample
from nmt.tokens import BOS_ID, EOS_ID, PAD_ID

FIRST = {5: 0.5, 6: 0.3, 7: 0.2}
ONE_TOKEN_THEN_EOS: Script = {4: {(): FIRST}}
NUM_SAMPLES = 2000
TOLERANCE = 0.035  # more than 3 standard deviations of a frequency from 2,000 draws (at most 0.0112)


def first_token_frequencies(**settings) -> dict[int, float]:
    model = ScriptedModel(ONE_TOKEN_THEN_EOS, default={EOS_ID: 1.0})
    samples = sample(model, *source([4, 8]), num_samples=NUM_SAMPLES, sampling=Sampling(**settings),
                     max_len_a=0.0, max_len_b=3)[0]
    assert all(len(h.tokens) == 1 for h in samples)
    counts = Counter(h.tokens[0] for h in samples)
    return {token: count / NUM_SAMPLES for token, count in counts.items()}


def reshaped(temperature: float) -> dict[int, float]:
    """FIRST under a temperature, worked out directly: p_i^(1/T) / sum_j p_j^(1/T)."""
    powered = {token: p ** (1 / temperature) for token, p in FIRST.items()}
    return {token: value / sum(powered.values()) for token, value in powered.items()}


def assert_close(frequencies: dict[int, float], expected: dict[int, float]) -> None:
    assert set(frequencies) <= set(expected)
    for token, p in expected.items():
        assert frequencies.get(token, 0.0) == pytest.approx(p, abs=TOLERANCE), (token, frequencies)


def test_sample_frequencies_match_the_model_distribution():
    assert_close(first_token_frequencies(seed=1), FIRST)


def test_temperature_below_one_sharpens_and_above_one_flattens():
    sharp, plain, flat = (first_token_frequencies(temperature=t, seed=2) for t in (0.5, 1.0, 2.0))
    assert_close(sharp, reshaped(0.5))
    assert_close(flat, reshaped(2.0))
    assert sharp[5] > plain[5] > flat[5] and sharp[7] < plain[7] < flat[7]


def test_top_k_keeps_the_k_most_probable_tokens_renormalised():
    assert_close(first_token_frequencies(top_k=2, seed=3), {5: 0.5 / 0.8, 6: 0.3 / 0.8})
    assert set(first_token_frequencies(top_k=1, seed=3)) == {5}


def test_top_p_keeps_the_smallest_set_reaching_the_mass():
    # 0.5 < 0.75 <= 0.5 + 0.3: the nucleus is {5, 6}; 0.45 <= 0.5: {5} alone
    assert_close(first_token_frequencies(top_p=0.75, seed=4), {5: 0.5 / 0.8, 6: 0.3 / 0.8})
    assert set(first_token_frequencies(top_p=0.45, seed=4)) == {5}


def nucleus(probs: torch.Tensor, top_p: float) -> set[int]:
    """The fewest most probable tokens whose mass reaches top_p, worked out one token at a time."""
    chosen, mass = set(), 0.0
    for token in probs.argsort(descending=True).tolist():
        if mass >= top_p:
            break
        chosen.add(token)
        mass += float(probs[token])
    return chosen


@pytest.mark.parametrize("settings", [{"top_k": 3}, {"top_p": 0.6}], ids=["top_k", "top_p"])
def test_every_token_of_a_longer_sample_comes_from_the_filtered_set(settings):
    model = ScriptedModel(eos_bias=0.3)  # a random distribution for every prefix
    samples = sample(model, *source([4, 5], [6]), num_samples=50, sampling=Sampling(seed=5, **settings),
                     max_len_a=0.0, max_len_b=6)
    for sentence, hypotheses in zip((4, 6), samples):
        for hypothesis in hypotheses:
            for position, token in enumerate([*hypothesis.tokens, EOS_ID]):
                probs = model._distribution(sentence, tuple(hypothesis.tokens[:position]))
                if position == 6:  # at the length limit EOS is forced
                    break
                allowed = (set(probs.topk(settings["top_k"]).indices.tolist()) if "top_k" in settings
                           else nucleus(probs, settings["top_p"]))
                assert token in allowed


def test_filtered_probabilities_renormalise_over_the_kept_tokens():
    log_probs = torch.tensor([[math.log(0.5), math.log(0.3), math.log(0.2)]])
    probs = filtered_probs(log_probs, Sampling(top_k=2))
    assert probs.tolist()[0] == pytest.approx([0.625, 0.375, 0.0])


def test_the_same_seed_gives_the_same_samples_whatever_the_batch():
    model = ScriptedModel(eos_bias=0.3)
    sentences = [[4, 5, 6], [7], [8, 9]]
    draw = {"num_samples": 5, "max_len_a": 1.0, "max_len_b": 3}
    batched = sample(model, *source(*sentences), sampling=Sampling(seed=7, temperature=1.5), **draw)
    again = sample(model, *source(*sentences), sampling=Sampling(seed=7, temperature=1.5), **draw)
    other_seed = sample(model, *source(*sentences), sampling=Sampling(seed=8, temperature=1.5), **draw)
    assert [tokens_of(h) for h in batched] == [tokens_of(h) for h in again]
    assert [tokens_of(h) for h in batched] != [tokens_of(h) for h in other_seed]
    for sentence, together in zip(sentences, batched):
        alone = sample(model, *source(sentence), sampling=Sampling(seed=7, temperature=1.5), **draw)[0]
        assert tokens_of(together) == tokens_of(alone)
    assert len({tuple(h.tokens) for h in batched[0]}) > 1  # the samples of one sentence differ


def test_nothing_follows_eos_and_scores_are_the_model_log_probability():
    model = ScriptedModel(eos_bias=0.4)
    src, src_mask = source([4, 5, 6, 7], [5])
    samples = sample(model, src, src_mask, num_samples=20, sampling=Sampling(temperature=3.0, seed=9),
                     max_len_a=1.0, max_len_b=2, return_attention=True)
    steps = 0
    for sentence, limit, hypotheses in zip((4, 5), (6, 3), samples):
        assert len(hypotheses) == 20
        for hypothesis in hypotheses:
            assert not {PAD_ID, BOS_ID, EOS_ID} & set(hypothesis.tokens) and len(hypothesis.tokens) <= limit
            sequence = [*hypothesis.tokens, EOS_ID]
            expected = sum(math.log(model._distribution(sentence, tuple(sequence[:i]))[token])
                           for i, token in enumerate(sequence))
            assert hypothesis.score == pytest.approx(expected, abs=1e-4)  # temperature 1, not 3
            assert hypothesis.attention.shape == (1, 1, len(sequence), 4 if sentence == 4 else 1)
            steps += len(sequence)
    assert model.steps == steps  # a row leaves the batch at its EOS: no step ever follows it


def test_bad_sampling_settings_are_user_errors():
    for temperature in (0, 5e-324, 1e300):  # outside, float32 over- or underflows
        with pytest.raises(NMTError, match=rf"^{re.escape(f'temperature={temperature}')} must be from 0.01 to 100"):
            Sampling(temperature=temperature)
    with pytest.raises(NMTError, match=r"^top_k=-1 must be 0 \(off\)"):
        Sampling(top_k=-1)
    for top_p in (0.0, 1e-300, 1.5):
        with pytest.raises(NMTError, match=rf"^top_p={top_p} must be from 0.001 to 1"):
            Sampling(top_p=top_p)
    with pytest.raises(NMTError, match=r"^nbest=0 must be at least 1"):
        sample(ScriptedModel(), *source([4]), num_samples=0, sampling=Sampling(), max_len_a=1.0, max_len_b=1)


def test_every_sample_starts_with_its_prefix_and_does_not_depend_on_the_batch():
    model = ScriptedModel(eos_bias=0.5)
    sentences, prefixes = [[4, 5, 6], [7, 8], [9]], [[9, 8], [], [5]]
    settings = dict(num_samples=6, sampling=Sampling(temperature=1.5, seed=2), max_len_a=1.0, max_len_b=3)
    together = sample(model, *source(*sentences), prefix=prefix_ids(*prefixes), **settings)
    for sentence, prefix, samples in zip(sentences, prefixes, together):
        alone = sample(model, *source(sentence), prefix=prefix_ids(prefix) if prefix else None, **settings)[0]
        assert tokens_of(samples) == tokens_of(alone)
        assert [h.score for h in samples] == pytest.approx([h.score for h in alone], abs=1e-5)
        assert all(h.tokens[:len(prefix)] == prefix for h in samples)
        assert len({tuple(h.tokens) for h in samples}) > 1  # the continuations are still drawn
