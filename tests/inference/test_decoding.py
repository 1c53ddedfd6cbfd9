"""Greedy and beam search against a scripted model whose probabilities are set by hand.

The scripted model (scripted_model.py) looks up the next-token distribution by
(sentence, prefix), so beams, length penalties and limits can be worked out on paper.
"""

from __future__ import annotations

import math

import pytest
import torch
from scripted_model import (
    TINY,
    VOCAB_SIZE,
    Script,
    ScriptedModel,
    prefix_ids,
    source,
    tiny_real_model,
    tokens_of,
)

from nmt.errors import NMTError
from nmt.inference import decoding
from nmt.inference.decoding import (
    _advance,
    beam_search,
    greedy_search,
    kept_rows,
    length_penalty_gnmt,
    max_lengths,
    sequence_log_probs,
    shed_multiple,
)
from nmt.inference.sampling import Sampling, sample
from nmt.tokens import BOS_ID, EOS_ID, PAD_ID

# A beam of 2 finds [6] (0.45 * 0.9 = 0.405) where greedy takes 5 (0.55) and ends at 0.55 * 0.6 = 0.33.
GREEDY_TRAP: Script = {4: {(): {5: 0.55, 6: 0.45}, (5,): {EOS_ID: 0.6, 9: 0.4}, (6,): {EOS_ID: 0.9}}}
LOOP_ON_9 = {9: 0.99}  # unlisted prefixes continue with token 9 and almost never end


def test_beam_finds_the_better_sequence_greedy_misses():
    model = ScriptedModel(GREEDY_TRAP, default=LOOP_ON_9)
    src, src_mask = source([4, 7, 7])
    greedy = greedy_search(model, src, src_mask, max_len_a=0.0, max_len_b=5)
    beam = beam_search(model, src, src_mask, beam_size=2, length_penalty=0.0, max_len_a=0.0, max_len_b=5)
    assert greedy[0].tokens == [5]
    assert greedy[0].score == pytest.approx(math.log(0.55 * 0.6), abs=1e-5)
    assert beam[0][0].tokens == [6]
    assert beam[0][0].score == pytest.approx(math.log(0.45 * 0.9), abs=1e-5)


def test_beam_size_one_equals_greedy():
    model = ScriptedModel(eos_bias=0.7)
    src, src_mask = source([4, 5, 6, 7], [5, 8], [6, 9, 9, 9, 9, 9], [7])
    greedy = greedy_search(model, src, src_mask, max_len_a=1.0, max_len_b=3)
    beam = beam_search(model, src, src_mask, beam_size=1, length_penalty=0.0, max_len_a=1.0, max_len_b=3)
    assert tokens_of(greedy) == [nbest[0].tokens for nbest in beam]
    assert [h.score for h in greedy] == pytest.approx([nbest[0].score for nbest in beam], abs=1e-5)


def test_batched_beam_equals_one_sentence_at_a_time():
    model = ScriptedModel(eos_bias=0.5)
    sentences = [[4, 5, 6, 7], [5, 8], [6, 9, 9, 9, 9, 9], [7], [8, 4, 4]]
    src, src_mask = source(*sentences)
    batched = beam_search(model, src, src_mask, beam_size=3, length_penalty=1.0,
                          max_len_a=1.0, max_len_b=2, nbest=3, return_attention=True)
    for sentence, together in zip(sentences, batched):
        alone = beam_search(model, *source(sentence), beam_size=3, length_penalty=1.0,
                            max_len_a=1.0, max_len_b=2, nbest=3, return_attention=True)[0]
        assert tokens_of(together) == tokens_of(alone)
        assert [h.score for h in together] == pytest.approx([h.score for h in alone], abs=1e-5)
        for a, b in zip(together, alone):
            assert torch.equal(a.attention, b.attention)


def test_batched_greedy_equals_one_sentence_at_a_time():
    model = ScriptedModel(eos_bias=0.5)
    sentences = [[4, 5, 6, 7], [5, 8], [6, 9, 9, 9, 9, 9]]
    batched = greedy_search(model, *source(*sentences), max_len_a=1.0, max_len_b=2)
    alone = [greedy_search(model, *source(s), max_len_a=1.0, max_len_b=2)[0] for s in sentences]
    assert tokens_of(batched) == tokens_of(alone)


def test_length_penalty_ranks_as_worked_out_by_hand():
    # short = 5 EOS:      p = 0.55 * 0.6              = 0.33,   2 tokens with EOS
    # long  = 6 7 8 EOS:  p = 0.45 * 0.8 * 0.8 * 0.7  = 0.2016, 4 tokens with EOS
    # alpha = 0: log 0.33 = -1.109 beats log 0.2016 = -1.601
    # alpha = 2: -1.109 / (7/6)^2 = -0.815 loses to -1.601 / (9/6)^2 = -0.712
    script: Script = {4: {(): {5: 0.55, 6: 0.45}, (5,): {EOS_ID: 0.6, 9: 0.4},
                          (6,): {7: 0.8}, (6, 7): {8: 0.8}, (6, 7, 8): {EOS_ID: 0.7}}}
    model = ScriptedModel(script, default=LOOP_ON_9)
    src, src_mask = source([4, 7, 7])
    kwargs = dict(beam_size=2, max_len_a=0.0, max_len_b=6, nbest=2)
    raw = beam_search(model, src, src_mask, length_penalty=0.0, **kwargs)[0]
    normalized = beam_search(model, src, src_mask, length_penalty=2.0, **kwargs)[0]
    assert tokens_of(raw) == [[5], [6, 7, 8]]
    assert tokens_of(normalized) == [[6, 7, 8], [5]]
    assert normalized[0].score == pytest.approx(math.log(0.2016) / 1.5**2, abs=1e-5)
    assert normalized[1].score == pytest.approx(math.log(0.33) / (7 / 6) ** 2, abs=1e-5)


def test_gnmt_length_penalty_formula():
    assert length_penalty_gnmt(1, 0.0) == 1.0
    assert length_penalty_gnmt(1, 1.0) == 1.0
    assert length_penalty_gnmt(7, 0.5) == pytest.approx(math.sqrt(2.0))


def test_max_length_is_respected_per_sentence():
    model = ScriptedModel(default=LOOP_ON_9)  # never wants to stop
    src, src_mask = source([4, 5, 6, 7], [5, 8], [6])
    expected = [int(0.5 * n + 3) for n in (4, 2, 1)]
    assert max_lengths(src_mask, max_len_a=0.5, max_len_b=3).tolist() == expected
    greedy = greedy_search(model, src, src_mask, max_len_a=0.5, max_len_b=3)
    beam = beam_search(model, src, src_mask, beam_size=3, length_penalty=1.0, max_len_a=0.5, max_len_b=3, nbest=3)
    assert [len(h.tokens) for h in greedy] == expected
    for nbest, limit in zip(beam, expected):
        assert all(len(h.tokens) <= limit for h in nbest)
        assert len(nbest[0].tokens) == limit


def test_a_model_with_fixed_target_positions_caps_the_length():
    model = ScriptedModel(default=LOOP_ON_9, max_tgt_len=4)  # inputs BOS, t1, t2, t3: 3 tokens before EOS
    src, src_mask = source([4, 5, 6, 7])
    assert len(greedy_search(model, src, src_mask, max_len_a=2.0, max_len_b=5)[0].tokens) == 3
    beam = beam_search(model, src, src_mask, beam_size=2, length_penalty=1.0, max_len_a=2.0, max_len_b=5)
    assert len(beam[0][0].tokens) == 3


def test_nothing_follows_eos_and_specials_are_never_generated():
    script: Script = {4: {(): {PAD_ID: 0.5, BOS_ID: 0.3, 5: 0.1}}}
    model = ScriptedModel(script, default={EOS_ID: 0.9})
    src, src_mask = source([4, 4], [5, 6, 7])
    for hypotheses in [greedy_search(model, src, src_mask, max_len_a=1.0, max_len_b=5),
                       *beam_search(model, src, src_mask, beam_size=4, length_penalty=1.0,
                                    max_len_a=1.0, max_len_b=5, nbest=4)]:
        hypotheses = hypotheses if isinstance(hypotheses, list) else [hypotheses]
        for hypothesis in hypotheses:
            assert not {PAD_ID, BOS_ID, EOS_ID} & set(hypothesis.tokens)


def test_scores_are_the_log_probability_of_the_tokens_then_eos():
    from nmt.data.batching import collate

    model = ScriptedModel(eos_bias=0.6)
    sentences = [[4, 5, 6, 7], [5, 8], [6, 9, 9]]
    hypotheses = greedy_search(model, *source(*sentences), max_len_a=1.0, max_len_b=2)
    batch = collate(sentences, tokens_of(hypotheses), list(range(len(sentences))))
    assert sequence_log_probs(model, batch).tolist() == pytest.approx([h.score for h in hypotheses], abs=1e-5)


def test_nbest_lists_are_sorted_distinct_and_of_the_requested_size():
    model = ScriptedModel(eos_bias=0.4)
    beam = beam_search(model, *source([4, 5, 6], [7, 8]), beam_size=4, length_penalty=1.0,
                       max_len_a=1.0, max_len_b=3, nbest=4)
    for nbest in beam:
        scores = [h.score for h in nbest]
        assert len(nbest) == 4
        assert scores == sorted(scores, reverse=True)
        assert len({tuple(h.tokens) for h in nbest}) == 4


def test_attention_covers_each_hypothesis_and_only_its_real_source():
    model = ScriptedModel(eos_bias=0.5)
    src, src_mask = source([4, 5, 6, 7, 8], [5, 8])
    greedy = greedy_search(model, src, src_mask, max_len_a=1.0, max_len_b=2, return_attention=True)
    beam = beam_search(model, src, src_mask, beam_size=2, length_penalty=1.0,
                       max_len_a=1.0, max_len_b=2, nbest=2, return_attention=True)
    for hypotheses in (greedy, [h for nbest in beam for h in nbest]):
        for hypothesis, src_len in zip(hypotheses, [5, 2] if hypotheses is greedy else [5, 5, 2, 2]):
            attention = hypothesis.attention
            assert attention.shape == (1, 1, len(hypothesis.tokens) + 1, src_len)
            assert torch.allclose(attention.sum(dim=-1), torch.ones(1, 1, len(hypothesis.tokens) + 1))
    assert greedy_search(model, src, src_mask, max_len_a=1.0, max_len_b=2)[0].attention is None


def test_a_beam_wider_than_the_vocabulary_returns_every_hypothesis_exactly_scored():
    # With at most one token before EOS there are 8 translations: EOS alone, or one of the 7
    # tokens other than PAD, BOS and EOS then EOS. A beam of 12 has more slots than the first
    # step has candidates (10 ids), so it must keep all 8, each with its exact log-probability.
    model = ScriptedModel()
    src, src_mask = source([4, 5])
    beam = beam_search(model, src, src_mask, beam_size=12, length_penalty=0.0, max_len_a=0.0, max_len_b=1, nbest=8)
    first = model._distribution(4, ()).log()
    expected = {(): float(first[EOS_ID])}
    for token in set(range(VOCAB_SIZE)) - {PAD_ID, BOS_ID, EOS_ID}:
        expected[(token,)] = float(first[token] + model._distribution(4, (token,)).log()[EOS_ID])
    found = {tuple(h.tokens): h.score for h in beam[0]}
    assert found.keys() == expected.keys()
    assert [found[key] for key in expected] == pytest.approx(list(expected.values()), abs=1e-5)
    assert [h.score for h in beam[0]] == pytest.approx(sorted(expected.values(), reverse=True), abs=1e-5)


def test_finished_sentences_stop_costing_decoder_steps():
    # Sentence 4 has its 2 finished hypotheses (EOS, then 5 EOS) after 2 steps;
    # sentence 5 loops on token 9 up to its limit: 6 tokens then the forced EOS, 7 steps.
    script: Script = {4: {(): {EOS_ID: 0.5, 5: 0.5}, (5,): {EOS_ID: 1.0}}}
    for logits_dtype, rows in ((torch.float32, (1 + 2) + (1 + 6 * 2)), (torch.bfloat16, 2 + 6 * 2 * 2)):
        model = ScriptedModel(script, default=LOOP_ON_9, logits_dtype=logits_dtype)
        beam = beam_search(model, *source([4], [5]), beam_size=2, length_penalty=0.0, max_len_a=0.0, max_len_b=6)
        assert tokens_of(beam[0]) == [[]]
        assert beam[1][0].tokens == [9] * 6
        # One row per sentence at the first step (every beam is BOS), then K = 2: 2 steps for sentence 4 and
        # 7 for sentence 5; in bf16 on a CPU sentence 4 rides along (the batch shrinks by whole multiples of 16).
        assert model.steps == rows


@pytest.mark.parametrize("finished, multiple, kept", [
    ([False, True, False, True, True], 1, [0, 2]),
    ([False, True, False, True, True], 4, [0, 1, 2, 3]),  # 2 unfinished, rounded up by the first finished ones
    ([False, True, False, True, True], 16, None),  # never more than the batch: nothing leaves
    ([True, True, True], 16, []),  # all finished: the batch ends
    ([False] * 5, 4, None),
    ([True] * 4 + [False] * 5, 4, [0, 1, 2, 4, 5, 6, 7, 8]),
])
def test_a_batch_sheds_finished_rows_down_to_a_multiple(finished, multiple, kept):
    rows = kept_rows(torch.tensor(finished), multiple)
    assert (None if rows is None else rows.tolist()) == kept


def test_only_bf16_on_a_cpu_sheds_by_multiples():
    assert shed_multiple(torch.zeros(2, 3, dtype=torch.bfloat16)) == decoding.SENTENCE_MULTIPLE
    assert shed_multiple(torch.zeros(2, 3)) == 1  # float32 builds no kernel per shape: riders would only cost


@pytest.mark.parametrize("search", ["greedy", "beam", "sample"])
def test_riding_rows_change_no_output_and_every_batch_after_the_first_is_a_multiple(monkeypatch, search):
    sentences = [[4 + i % 6, 4 + i % 5, 4 + i % 3] for i in range(22)]  # a random tree per first token
    outputs, batches = [], []
    for multiple in (1, 4):
        monkeypatch.setattr(decoding, "SENTENCE_MULTIPLE", multiple)
        model = ScriptedModel(eos_bias=0.5, logits_dtype=torch.bfloat16)
        if search == "greedy":
            found = [greedy_search(model, *source(*sentences), max_len_a=1.0, max_len_b=4)]
        elif search == "sample":
            found = sample(model, *source(*sentences), num_samples=2, sampling=Sampling(seed=3), max_len_a=1.0,
                           max_len_b=4)
        else:  # a strong length penalty: a rider's later, longer EOS would outrank the hypotheses it had
            found = beam_search(model, *source(*sentences), beam_size=3, length_penalty=5.0, max_len_a=1.0,
                                max_len_b=4, nbest=3)
        outputs.append([[(h.tokens, round(h.score, 5)) for h in hypotheses] for hypotheses in found])
        batches.append(model.batch_rows)
    assert outputs[0] == outputs[1]
    # beam search sheds sentences of K = 3 rows; sampling's 2 samples per sentence are rows of their own
    unit, first = {"greedy": (1, 22), "beam": (3, 66), "sample": (1, 44)}[search]

    def off_multiple(rows: list[int]) -> list[int]:
        return [count for count in rows[1:] if count % (4 * unit) and count != first]  # after the first step

    assert off_multiple(batches[0]) and not off_multiple(batches[1])  # each finished row left at once; now whole 4s


def test_bad_search_settings_are_user_errors():
    model = ScriptedModel()
    src, src_mask = source([4])
    with pytest.raises(NMTError, match="beam_size=0"):
        beam_search(model, src, src_mask, beam_size=0, length_penalty=1.0, max_len_a=1.0, max_len_b=1)
    with pytest.raises(NMTError, match="nbest=3"):
        beam_search(model, src, src_mask, beam_size=2, length_penalty=1.0, max_len_a=1.0, max_len_b=1, nbest=3)
    with pytest.raises(NMTError, match="max_len_a=-1"):
        greedy_search(model, src, src_mask, max_len_a=-1.0, max_len_b=1)


@pytest.mark.parametrize("preset", sorted(TINY))
def test_real_models_decode_the_same_alone_and_in_a_padded_batch(preset):
    model = tiny_real_model(preset)
    sentences = [[4, 5, 6, 7, 8, 9, EOS_ID], [10, 11, EOS_ID], [12, 13, 14, 15, EOS_ID]]
    src, src_mask = source(*sentences)
    kwargs = dict(max_len_a=1.0, max_len_b=3)
    greedy = greedy_search(model, src, src_mask, **kwargs)
    beam_one = beam_search(model, src, src_mask, beam_size=1, length_penalty=0.0, **kwargs)
    assert tokens_of(greedy) == [nbest[0].tokens for nbest in beam_one]
    batched = beam_search(model, src, src_mask, beam_size=3, length_penalty=1.0, nbest=2, **kwargs)
    for sentence, together in zip(sentences, batched):
        alone = beam_search(model, *source(sentence), beam_size=3, length_penalty=1.0, nbest=2, **kwargs)[0]
        assert tokens_of(together) == tokens_of(alone)
        assert [h.score for h in together] == pytest.approx([h.score for h in alone], abs=1e-4)


# Unconstrained, sentence 4 starts with 5. Forced to start with 6, greedy goes on with 7 (0.55) and ends at
# 0.4 * 0.55 * 0.5 = 0.11, where a beam of 2 finds 8 then EOS: 0.4 * 0.45 * 0.9 = 0.162.
AFTER_PREFIX: Script = {4: {(): {5: 0.6, 6: 0.4}, (5,): {EOS_ID: 0.9}, (6,): {7: 0.55, 8: 0.45},
                            (6, 7): {EOS_ID: 0.5}, (6, 8): {EOS_ID: 0.9}}}


def test_a_prefix_is_forced_and_the_search_continues_after_it():
    model = ScriptedModel(AFTER_PREFIX, default=LOOP_ON_9)
    src, src_mask = source([4, 7, 7])
    lengths = dict(max_len_a=0.0, max_len_b=5)
    assert greedy_search(model, src, src_mask, **lengths)[0].tokens == [5]
    greedy = greedy_search(model, src, src_mask, prefix=prefix_ids([6]), **lengths)[0]
    beam = beam_search(model, src, src_mask, beam_size=2, length_penalty=0.0, prefix=prefix_ids([6]), **lengths)[0]
    assert greedy.tokens == [6, 7]
    assert greedy.score == pytest.approx(math.log(0.4 * 0.55 * 0.5), abs=1e-5)
    assert beam[0].tokens == [6, 8]
    assert beam[0].score == pytest.approx(math.log(0.4 * 0.45 * 0.9), abs=1e-5)


def test_scores_with_a_prefix_are_the_log_probability_of_the_whole_output():
    from nmt.data.batching import collate

    model = ScriptedModel(eos_bias=0.6)
    sentences, prefixes = [[4, 5, 6, 7], [5, 8], [6, 9, 9]], [[7, 8], [9], []]
    kwargs = dict(max_len_a=1.0, max_len_b=2, prefix=prefix_ids(*prefixes))
    greedy = greedy_search(model, *source(*sentences), **kwargs)
    beam = beam_search(model, *source(*sentences), beam_size=3, length_penalty=0.0, nbest=3, **kwargs)
    found = [*zip(sentences, prefixes, greedy),
             *((s, p, h) for s, p, nbest in zip(sentences, prefixes, beam) for h in nbest)]
    assert all(h.tokens[:len(p)] == p for _, p, h in found)
    batch = collate([s for s, _, _ in found], [h.tokens for _, _, h in found], range(len(found)))
    assert sequence_log_probs(model, batch).tolist() == pytest.approx([h.score for _, _, h in found], abs=1e-5)


def test_every_beam_hypothesis_starts_with_the_prefix_and_the_nbest_stay_distinct():
    model = ScriptedModel(eos_bias=0.4)
    beam = beam_search(model, *source([4, 5, 6], [7, 8]), beam_size=4, length_penalty=1.0,
                       max_len_a=1.0, max_len_b=3, nbest=4, prefix=prefix_ids([5, 6, 7], [9]))
    for nbest, prefix in zip(beam, ([5, 6, 7], [9])):
        scores = [h.score for h in nbest]
        assert len(nbest) == 4 and len({tuple(h.tokens) for h in nbest}) == 4
        assert scores == sorted(scores, reverse=True)
        assert all(h.tokens[:len(prefix)] == prefix for h in nbest)


def test_prefixes_of_different_lengths_in_a_batch_decode_as_each_row_alone():
    model = ScriptedModel(eos_bias=0.5)
    sentences = [[4, 5, 6, 7], [5, 8], [6, 9, 9, 9, 9, 9], [7]]
    prefixes = [[9, 8, 7], [], [6], [5, 5]]  # the empty one is unconstrained
    src, src_mask = source(*sentences)
    kwargs = dict(max_len_a=1.0, max_len_b=2)
    beam = dict(beam_size=3, length_penalty=1.0, nbest=3, return_attention=True)
    greedy_batch = greedy_search(model, src, src_mask, prefix=prefix_ids(*prefixes), return_attention=True, **kwargs)
    beam_batch = beam_search(model, src, src_mask, prefix=prefix_ids(*prefixes), **beam, **kwargs)
    for sentence, prefix, greedy, nbest in zip(sentences, prefixes, greedy_batch, beam_batch):
        alone_prefix = prefix_ids(prefix) if prefix else None
        greedy_alone = greedy_search(model, *source(sentence), prefix=alone_prefix, return_attention=True, **kwargs)[0]
        nbest_alone = beam_search(model, *source(sentence), prefix=alone_prefix, **beam, **kwargs)[0]
        assert greedy.tokens == greedy_alone.tokens and greedy.tokens[:len(prefix)] == prefix
        assert greedy.score == pytest.approx(greedy_alone.score, abs=1e-5)
        assert torch.equal(greedy.attention, greedy_alone.attention)
        assert tokens_of(nbest) == tokens_of(nbest_alone)
        assert [h.score for h in nbest] == pytest.approx([h.score for h in nbest_alone], abs=1e-5)


def test_an_empty_prefix_leaves_the_search_unconstrained():
    model = ScriptedModel(eos_bias=0.5)
    src, src_mask = source([4, 5, 6, 7], [5, 8])
    kwargs = dict(max_len_a=1.0, max_len_b=2)
    for free in (prefix_ids([], []), torch.zeros((2, 0), dtype=torch.long)):
        greedy, unconstrained = (greedy_search(model, src, src_mask, prefix=p, **kwargs) for p in (free, None))
        assert [(h.tokens, h.score) for h in greedy] == [(h.tokens, h.score) for h in unconstrained]
        beam, unconstrained = (beam_search(model, src, src_mask, beam_size=3, length_penalty=1.0, nbest=3, prefix=p,
                                           **kwargs) for p in (free, None))
        assert [[(h.tokens, h.score) for h in n] for n in beam] == [[(h.tokens, h.score) for h in n]
                                                                    for n in unconstrained]


def test_a_prefix_longer_than_the_length_limit_comes_out_whole():
    model = ScriptedModel(default={EOS_ID: 0.9})  # wants to end at once
    src, src_mask = source([4, 5], [6])
    prefix = prefix_ids([5, 6, 7, 8], [9])
    kwargs = dict(max_len_a=0.0, max_len_b=1, prefix=prefix)
    assert max_lengths(src_mask, max_len_a=0.0, max_len_b=1, prefix=prefix).tolist() == [4, 1]
    greedy = greedy_search(model, src, src_mask, **kwargs)
    beam = beam_search(model, src, src_mask, beam_size=3, length_penalty=1.0, nbest=3, **kwargs)
    assert tokens_of(greedy) == [[5, 6, 7, 8], [9]]
    assert tokens_of(beam[0]) == [[5, 6, 7, 8]]  # EOS is forced after the prefix: one hypothesis only
    assert tokens_of(beam[1])[0] == [9] and all(len(h.tokens) <= 2 for h in beam[1])


def test_a_prefix_beyond_the_target_positions_of_the_model_is_a_user_error():
    model = ScriptedModel(default=LOOP_ON_9, max_tgt_len=4)  # at most 3 tokens before EOS
    with pytest.raises(NMTError, match="a target prefix of 4 tokens is longer than the 3 target tokens"):
        greedy_search(model, *source([4]), max_len_a=1.0, max_len_b=2, prefix=prefix_ids([5, 6, 7, 8]))
    fitting = greedy_search(model, *source([4]), max_len_a=1.0, max_len_b=2, prefix=prefix_ids([5, 6, 7]))
    assert fitting[0].tokens == [5, 6, 7]


@pytest.mark.parametrize("seed", range(200))
def test_advance_picks_the_best_continuations_of_the_whole_beam_block(seed):
    # Reference: add every beam's score to its row, then the 2K best of the flattened (W * V) block.
    generator = torch.Generator().manual_seed(seed)
    sentences, width, vocab, beam = 3, int(torch.randint(1, 4, (1,), generator=generator)), \
        int(torch.randint(2, 9, (1,), generator=generator)), int(torch.randint(1, 5, (1,), generator=generator))
    log_probs = torch.randn(sentences * width, vocab, generator=generator).log_softmax(-1)
    log_probs[torch.rand(log_probs.shape, generator=generator) < 0.3] = float("-inf")  # constrained tokens
    log_probs = log_probs.round(decimals=1)  # ties
    scores = torch.randn(sentences, width, generator=generator).round(decimals=1)
    scores[torch.rand(scores.shape, generator=generator) < 0.2] = float("-inf")  # empty beam slots
    total = (log_probs.view(sentences, width, vocab) + scores.unsqueeze(2)).view(sentences, -1)
    expected = total.topk(min(2 * beam, width * vocab), dim=1).values
    row_scores, row_tokens = log_probs.topk(min(2 * beam, vocab), dim=1)  # each row's best, as the searches pass them
    cand_scores, cand_beams, cand_tokens = _advance(scores, row_scores, row_tokens, beam_size=beam)
    assert torch.equal(cand_scores[:, :expected.size(1)], expected)
    assert torch.isinf(cand_scores[:, expected.size(1):]).all()  # padding when W * V < 2K
    finite = torch.isfinite(cand_scores)
    rows = torch.arange(sentences).unsqueeze(1) * width + cand_beams
    rebuilt = log_probs[rows, cand_tokens] + scores.gather(1, cand_beams)  # each candidate is what it says
    assert torch.equal(rebuilt[finite], cand_scores[finite])
    for sentence in range(sentences):
        picked = [(b, t) for b, t, f in zip(cand_beams[sentence].tolist(), cand_tokens[sentence].tolist(),
                                            finite[sentence].tolist()) if f]
        assert len(picked) == len(set(picked))  # no continuation twice
