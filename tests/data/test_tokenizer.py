"""SentencePiece: fixed special ids, round trips, determinism, joint/separate, checkpoint state."""

from __future__ import annotations

import io
import logging
import os
import pickle
import subprocess
import sys

import pytest
import torch

from nmt.data.tokenizer import Tokenizer, TokenizerConfig, train_tokenizer
from nmt.errors import NMTError
from nmt.tokens import BOS_ID, EOS_ID, PAD_ID, UNK_ID


def config(**overrides) -> TokenizerConfig:
    values = dict(model_type="unigram", vocab_size=60, joint=True, character_coverage=1.0,
                  input_sentence_size=1000, seed=1, num_threads=1)
    values.update(overrides)
    return TokenizerConfig(**values)


@pytest.fixture(scope="module")
def sentences() -> tuple[list[str], list[str]]:
    import random

    rng = random.Random(0)
    german = "der hund die katze ein kind sieht spielt läuft im park am strand rot blau".split()
    english = "the dog the cat a child sees plays runs in the park on the beach red blue".split()
    src, tgt = [], []
    for _ in range(300):
        positions = [rng.randrange(len(german)) for _ in range(rng.randint(3, 8))]
        src.append(" ".join(german[i] for i in positions))
        tgt.append(" ".join(english[i] for i in positions))
    return src, tgt


@pytest.fixture(scope="module")
def joint(sentences) -> Tokenizer:
    return train_tokenizer(config(), src_sentences=sentences[0], tgt_sentences=sentences[1])


def test_special_ids_are_fixed_in_every_model(joint, sentences):
    separate = train_tokenizer(config(joint=False, model_type="bpe"), src_sentences=sentences[0], tgt_sentences=sentences[1])
    for pieces in (joint.src_pieces, separate.src_pieces, separate.tgt_pieces):
        assert pieces([PAD_ID, UNK_ID, BOS_ID, EOS_ID]) == ["<pad>", "<unk>", "<s>", "</s>"]


def test_encoding_has_no_bos_or_eos_and_decoding_restores_the_text(joint):
    text = "der hund spielt im park"
    (ids,) = joint.encode_tgt([text])
    assert BOS_ID not in ids and EOS_ID not in ids and PAD_ID not in ids
    assert joint.decode_tgt(ids) == text
    assert joint.encode_src([text]) == [ids]  # joint: one model for both sides


def test_decode_tgt_stops_at_eos_and_skips_pad_and_bos(joint):
    (ids,) = joint.encode_tgt(["die katze läuft"])
    (after,) = joint.encode_tgt(["am strand"])
    assert joint.decode_tgt([BOS_ID, *ids, EOS_ID, *after, PAD_ID]) == "die katze läuft"
    assert joint.decode_tgt([BOS_ID, PAD_ID, *ids, PAD_ID]) == "die katze läuft"


def test_unknown_characters_map_to_unk(joint):
    (ids,) = joint.encode_src(["der 🐕 hund"])
    assert UNK_ID in ids


def test_separate_models_have_their_own_vocabularies(sentences):
    separate = train_tokenizer(config(joint=False, vocab_size=40), src_sentences=sentences[0], tgt_sentences=sentences[1])
    assert not separate.joint
    (src_ids,) = separate.encode_src(["der hund"])
    (tgt_ids,) = separate.encode_tgt(["der hund"])
    assert src_ids != tgt_ids  # "der" is a source word: the target model spells it in pieces
    assert separate.src_vocab_size <= 40 and separate.tgt_vocab_size <= 40


def test_training_is_deterministic(sentences, joint):
    again = train_tokenizer(config(), src_sentences=sentences[0], tgt_sentences=sentences[1])
    assert again.to_state() == joint.to_state()


def test_state_survives_a_weights_only_checkpoint(joint, sentences):
    separate = train_tokenizer(config(joint=False), src_sentences=sentences[0], tgt_sentences=sentences[1])
    for tokenizer in (joint, separate):
        buffer = io.BytesIO()
        torch.save({"tokenizer_state": tokenizer.to_state()}, buffer)
        buffer.seek(0)
        restored = Tokenizer.from_state(torch.load(buffer, weights_only=True)["tokenizer_state"])
        assert restored.joint == tokenizer.joint
        texts = ["ein kind sieht die katze", "the dog runs"]
        assert restored.encode_src(texts) == tokenizer.encode_src(texts)
        assert restored.encode_tgt(texts) == tokenizer.encode_tgt(texts)


def test_a_tokenizer_pickles_for_other_processes(joint, sentences):
    separate = train_tokenizer(config(joint=False), src_sentences=sentences[0], tgt_sentences=sentences[1])
    for tokenizer in (joint, separate):
        restored = pickle.loads(pickle.dumps(tokenizer))
        texts = ["ein kind sieht die katze", "the dog runs"]
        assert (restored.joint, restored.encode_src(texts), restored.encode_tgt(texts)) == (
            tokenizer.joint, tokenizer.encode_src(texts), tokenizer.encode_tgt(texts))


def test_state_from_another_format_is_refused(joint):
    state = {**joint.to_state(), "format": "something-else"}
    with pytest.raises(NMTError, match=r"tokenizer state has format 'something-else'"):
        Tokenizer.from_state(state)


def test_save_and_load_write_plain_sentencepiece_files(joint, tmp_path):
    joint.save(tmp_path)
    assert (tmp_path / "joint.model").is_file()
    assert Tokenizer.load(tmp_path).to_state() == joint.to_state()


def test_config_errors_name_the_key():
    with pytest.raises(NMTError, match=r"tokenizer\.model_type='wordpiece' is not a valid choice; valid choices are: unigram, bpe"):
        config(model_type="wordpiece")
    with pytest.raises(NMTError, match=r"unknown config key tokenizer\.vocab; valid keys are"):
        TokenizerConfig.from_dict({**config().to_dict(), "vocab": 10})


def test_a_vocabulary_larger_than_the_corpus_supports_warns_with_both_numbers(sentences, caplog):
    with caplog.at_level(logging.WARNING, logger="nmt.data.tokenizer"):
        tokenizer = train_tokenizer(config(vocab_size=200000), src_sentences=sentences[0], tgt_sentences=sentences[1])
    size = tokenizer.src_vocab_size
    assert size < 200000
    assert [record.getMessage() for record in caplog.records] == [(
        f"tokenizer.vocab_size=200000 but the train split supports only {size} pieces; the model has {size} "
        f"(set data.vocab_size to at most {size} to silence this)"
    )]


def test_a_vocabulary_below_the_characters_of_the_corpus_is_one_error_with_both_numbers(sentences):
    with pytest.raises(NMTError, match=r"tokenizer\.vocab_size=20 is below the \d+ pieces the source side of the "
                                       r"train split needs .*set data\.vocab_size to at least \d+"):
        train_tokenizer(config(vocab_size=20, joint=False), src_sentences=sentences[0], tgt_sentences=sentences[1])


def test_one_encoding_thread_gives_the_ids_of_one_per_core(joint, sentences):
    assert joint.encode_src(sentences[0], num_threads=1) == joint.encode_src(sentences[0])
    assert joint.encode_tgt(sentences[1], num_threads=1) == joint.encode_tgt(sentences[1])


@pytest.mark.parametrize(("user_policy", "seen_by_sentencepiece"), [(None, "PASSIVE"), ("active", "ACTIVE")])
def test_sentencepiece_openmp_waits_passively_and_the_environment_is_left_as_it_was(user_policy, seen_by_sentencepiece):
    env = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
    env.update({"OMP_DISPLAY_ENV": "TRUE", **({"OMP_WAIT_POLICY": user_policy} if user_policy else {})})
    script = "import os, nmt.data.tokenizer; print('after import:', os.environ.get('OMP_WAIT_POLICY'))"
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    # OMP_DISPLAY_ENV makes each OpenMP runtime print its settings when it loads.
    assert f"OMP_WAIT_POLICY = '{seen_by_sentencepiece}'" in result.stderr
    assert result.stdout.strip() == f"after import: {user_policy}"
