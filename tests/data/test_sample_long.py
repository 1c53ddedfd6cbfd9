"""Long sentences of the sample corpus: 30-60 words, deterministic, disjoint, well-formed French, and
the data.long_test_size / data.long_train_share keys (0 changes nothing)."""

import re
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from nmt.data import sample_long
from nmt.data.clean import CleanConfig, clean_splits
from nmt.data.corpus import LONG_SPLIT, CorpusConfig, load_pairs
from nmt.data.pipeline import corpus_key
from nmt.errors import NMTError

SAMPLE_YAML = Path(__file__).resolve().parents[2] / "configs" / "data" / "sample.yaml"
# Read by hand: the first long_test pair of seed 0, its French checked word by word (agreement, elision
# "parce qu'il", "pendant que", "de la panthère" for the genitive, "n'est pas").
FIRST_SRC = ("The phone did not fit in this bag because it was too long while his fast hedgehog hid the meat when "
             "there was a small turtle behind the panther's beautiful guitar but the church is not far.")
FIRST_TGT = ("Le téléphone ne tenait pas dans ce sac parce qu'il était trop long pendant que son hérisson rapide a "
             "caché la viande quand il y avait une petite tortue derrière la belle guitare de la panthère mais "
             "l'église n'est pas loin.")
# English word -> French tokens of that pair: because -> parce qu'il, it -> qu'il, while -> pendant que, his -> son.
FIRST_LINKS = {(8, 8), (8, 9), (9, 9), (13, 13), (13, 14), (14, 15), (16, 16), (15, 17)}
# English conjunction -> the French it must bring, counted per sentence.
CONJUNCTIONS = {"and": r"\bet\b", "but": r"\bmais\b", "while": r"\bpendant qu", "when": r"\bquand\b",
                "because": r"\bparce qu"}


@pytest.fixture(scope="module")
def long_pairs():
    return sample_long.generate_long_pairs(size=300, seed=0, stream="long_test")


def sample_corpus(**overrides) -> CorpusConfig:
    values = {"name": "sample", "source": "sample", "src_lang": "en", "tgt_lang": "fr", "vocab_size": 500,
              "sample_sizes": {"train": 400, "validation": 40, "test": 40}, "pronoun_test_size": 16, "seed": 3,
              "clean": {"max_len": 80, "max_ratio": 3.0, "dedup": False}}
    return CorpusConfig(**{**values, **overrides})


def test_long_sentences_have_30_to_60_english_words_and_french_within_the_length_filter(long_pairs):
    lengths = [len(pair.src.split()) for pair in long_pairs]
    assert min(lengths) >= 30 and max(lengths) <= 60
    assert max(lengths) - min(lengths) >= 20  # spread over the range, not piled at one length
    assert max(len(pair.tgt.split()) for pair in long_pairs) <= 80  # data.clean.max_len of configs/data/sample.yaml


def test_same_seed_gives_the_same_pairs_and_another_seed_others(long_pairs):
    assert sample_long.generate_long_pairs(size=300, seed=0, stream="long_test") == long_pairs
    assert sample_long.generate_long_pairs(size=20, seed=1, stream="long_test") != long_pairs[:20]
    assert len({pair.src for pair in long_pairs}) == len(long_pairs)


def test_a_hand_checked_pair_has_its_french_and_gold_alignment(long_pairs):
    first = long_pairs[0]
    assert (first.src, first.tgt) == (FIRST_SRC, FIRST_TGT)
    assert FIRST_LINKS <= first.alignment.sure
    assert (2, 3) in first.alignment.possible - first.alignment.sure  # "did" goes with "tenait" as a group


def test_french_is_well_formed_at_every_joint(long_pairs):
    for pair in long_pairs:
        assert pair.tgt[0].isupper() and pair.tgt.endswith(".") and pair.tgt.count(".") == 1
        assert not re.search(r"\b(que|ne|le|la|de) [aeiouéèêàâîôû]", pair.tgt), pair.tgt  # elided everywhere
        assert not re.search(r"\bà le\b|\bà les\b|\bde le\b|\bde les\b", pair.tgt), pair.tgt  # contracted
        assert not re.search(r" [A-Z]", pair.tgt), pair.tgt  # one capital, at the start
        for english, french in CONJUNCTIONS.items():
            # A clause may bring the word itself (the coreference template's "because"): never fewer in French.
            assert len(re.findall(french, pair.tgt)) >= pair.src.split().count(english), (english, pair.tgt)


def test_every_link_is_in_range_and_every_token_is_linked(long_pairs):
    for pair in long_pairs:
        src_len, tgt_len = len(pair.src.split()), len(pair.tgt.split())
        links = pair.alignment.possible
        assert pair.alignment.sure <= links
        assert all(0 <= i < src_len and 0 <= j < tgt_len for i, j in links)
        assert {i for i, _ in links} == set(range(src_len)) and {j for _, j in links} == set(range(tgt_len))


def test_corpus_keys_default_to_zero_and_change_nothing(tmp_path):
    assert OmegaConf.load(SAMPLE_YAML).long_test_size == 0 and OmegaConf.load(SAMPLE_YAML).long_train_share == 0.0
    default = sample_corpus()
    assert (default.long_test_size, default.long_train_share) == (0, 0.0)
    explicit = sample_corpus(long_test_size=0, long_train_share=0.0)
    assert "long_test_size" not in default.to_dict() and "long_train_share" not in default.to_dict()
    assert corpus_key(explicit) == corpus_key(default)
    plain, zeros = load_pairs(default, cache_dir=tmp_path), load_pairs(explicit, cache_dir=tmp_path)
    assert LONG_SPLIT not in zeros and list(zeros) == list(plain)
    assert all(zeros[split].to_list() == plain[split].to_list() for split in plain)


def test_long_test_split_is_aligned_disjoint_from_train_and_stable_across_train_shares(tmp_path):
    corpus = load_pairs(sample_corpus(long_test_size=30), cache_dir=tmp_path)
    mixed = load_pairs(sample_corpus(long_test_size=30, long_train_share=0.25), cache_dir=tmp_path)
    assert len(corpus[LONG_SPLIT]) == 30 and corpus[LONG_SPLIT].column_names == ["src", "tgt", "alignment"]
    assert mixed[LONG_SPLIT].to_list() == corpus[LONG_SPLIT].to_list()
    long_sources = set(mixed[LONG_SPLIT]["src"])
    for split in ("train", "validation", "test", "pronoun_test"):
        assert not long_sources & set(mixed[split]["src"]), split
    assert sample_corpus(long_test_size=30).to_dict()["long_test_size"] == 30


def test_long_train_share_replaces_that_many_train_pairs_at_the_end(tmp_path):
    plain = load_pairs(sample_corpus(), cache_dir=tmp_path)["train"]
    mixed = load_pairs(sample_corpus(long_train_share=0.25), cache_dir=tmp_path)["train"]
    lengths = [len(src.split()) for src in mixed["src"]]
    assert len(mixed) == 400
    assert sum(length >= 30 for length in lengths) == 100  # 0.25 x 400; grammar sentences stop near 17 words
    assert mixed["src"][:300] == plain["src"][:300] and min(lengths[300:]) >= 30
    assert len(set(mixed["src"])) == 400
    odd = load_pairs(sample_corpus(long_train_share=0.1234), cache_dir=tmp_path)["train"]
    assert sum(len(src.split()) >= 30 for src in odd["src"]) == 49  # rounded to the nearest pair


def test_cleaning_keeps_every_long_test_pair_and_filters_long_train_pairs_with_a_count(tmp_path):
    pairs = load_pairs(sample_corpus(long_test_size=20, long_train_share=0.1), cache_dir=tmp_path)
    cleaned, report = clean_splits(pairs, config=CleanConfig(max_len=25, max_ratio=3.0, dedup=False))
    assert len(cleaned[LONG_SPLIT]) == 20 and report[LONG_SPLIT].removed == {"empty": 0}
    assert report["train"].removed["too_long"] >= 40  # the 40 long train pairs, and any short one over 25


def test_french_english_swaps_the_long_split_and_its_alignment(tmp_path):
    forward = load_pairs(sample_corpus(long_test_size=5), cache_dir=tmp_path)[LONG_SPLIT]
    backward = load_pairs(sample_corpus(long_test_size=5, src_lang="fr", tgt_lang="en"), cache_dir=tmp_path)[LONG_SPLIT]
    assert backward["src"] == forward["tgt"] and backward["tgt"] == forward["src"]
    first = {tuple(map(int, re.split(r"[-?]", link))) for link in forward["alignment"][0].split()}
    assert {tuple(map(int, re.split(r"[-?]", link)))[::-1] for link in backward["alignment"][0].split()} == first


@pytest.mark.parametrize(("overrides", "message"), [
    ({"long_test_size": -1}, r"data\.long_test_size=-1 must be a count of pairs >= 0"),
    ({"long_train_share": 1.5}, r"data\.long_train_share=1\.5 must be a share between 0\.0 and 1\.0"),
    ({"source": "local", "local_dir": "corpus", "long_test_size": 10},
     r"data\.long_test_size=10 is for the generated corpus only; use it with data=sample"),
    ({"source": "local", "local_dir": "corpus", "long_train_share": 0.1},
     r"data\.long_train_share=0\.1 is for the generated corpus only"),
])
def test_bad_long_keys_are_user_errors_naming_the_key(overrides, message):
    with pytest.raises(NMTError, match=message):
        sample_corpus(**overrides)
