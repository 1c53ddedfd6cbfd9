"""Gold word alignments and pronoun positions of the bundled sample corpus, and their way through the pipeline."""

import hashlib
import json
import random
import re

import datasets
import pytest

from nmt.data import sample
from nmt.data.clean import CleanConfig, clean_splits
from nmt.data.corpus import CorpusConfig, load_pairs
from nmt.data.pipeline import load_clean_pairs, prepare_corpus
from nmt.data.sample_alignment import WordAlignment, format_pharaoh
from nmt.data.sample_grammar import aligned_sentence
from nmt.data.sample_phrases import french_text, french_token_of_word
from nmt.data.tokenizer import TokenizerConfig

# sha256 of the text the generator wrote before alignments were tracked: the same draws, the same corpus.
SPLITS_SHA256 = "c09f09320a06d2833068334e70012697c4ca00aa2095c616814bfc19b4b48ff7"
PRONOUNS_SHA256 = "ced282996de32c8b37d4718472c5715c174b4e3efb61672bf9b691de6d678e25"
HASHED_SIZES = {"train": 3000, "validation": 200, "test": 200}

NOUN_FORMS = {form for noun in sample.NOUNS for form in (noun.en, noun.en_plural)}
VERB_FORMS = {form for verb in sample.TRANSITIVE_VERBS + sample.INTRANSITIVE_VERBS for form in verb.en}
VERB_FORMS |= {form for verb, _ in sample.DITRANSITIVE_VERBS for form in verb.en}
VERB_FORMS |= {form for verb, _, _ in sample.MOTION_VERBS for form in verb.en} | {"fit", "fits"}
ADJECTIVE_FORMS = {adjective.en for adjective in sample.ADJECTIVES} | {"hungry", "thirsty", "scared"}
# Which noun "it" refers to, by predicate: written out here, independently of the generator.
SUBJECT_REASONS = {"tired", "scared", "weak", "sick", "slow", "lazy", "young", "nervous", "hungry", "thirsty", "curious",
                   "brave", "happy"}
FIT_SUBJECT_REASONS = {"big", "long", "wide"}


def parse(line: str) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
    """Sure and possible links of a Pharaoh line; possible includes sure."""
    sure, possible = set(), set()
    for link in line.split():
        i, kind, j = re.fullmatch(r"(\d+)([-?])(\d+)", link).groups()
        possible.add((int(i), int(j)))
        if kind == "-":
            sure.add((int(i), int(j)))
    return sure, possible


def word(token: str) -> str:
    """A source token as the lexicon writes it: no final period, no genitive ending."""
    return token.rstrip(".").removesuffix("'s").removesuffix("'")


def sample_corpus(**overrides) -> CorpusConfig:
    values = {
        "name": "sample", "source": "sample", "src_lang": "en", "tgt_lang": "fr", "vocab_size": 200,
        "sample_sizes": {"train": 300, "validation": 30, "test": 30}, "pronoun_test_size": 24, "seed": 2,
        "clean": {"max_len": 80, "max_ratio": 3.0, "dedup": False},
    }
    values.update(overrides)
    return CorpusConfig(**values)


# ----------------------------------------------------------------------------- writer and tokens


def test_pharaoh_lines_list_sure_links_with_a_dash_and_the_others_with_a_question_mark():
    assert format_pharaoh({(1, 0), (0, 0)}, {(2, 1), (0, 0), (1, 0)}) == "0-0 1-0 2?1"
    assert format_pharaoh({(0, 2)}, set()) == "0-2"  # a sure link is possible even when not listed so
    assert format_pharaoh(set(), set()) == ""
    alignment = WordAlignment(sure=frozenset({(0, 1)}), possible=frozenset({(0, 1), (2, 0)}))
    assert alignment.reversed().pharaoh() == "0?2 1-0"


def test_elided_and_contracted_words_share_one_french_token():
    words = ["il", "ne", "a", "pas", "mangé", "de", "le", "pain"]
    assert french_text(words) == "Il n'a pas mangé du pain."
    assert french_token_of_word(words) == [0, 1, 1, 2, 3, 4, 4, 5]
    words = ["la", "fille", "de", "les", "hommes", "que", "elle", "a", "vue"]
    assert french_text(words) == "La fille des hommes qu'elle a vue."
    assert french_token_of_word(words) == [0, 1, 2, 2, 3, 4, 4, 5, 6]


# ----------------------------------------------------------------------------- sentences worked out by hand


@pytest.mark.parametrize("seed, src, tgt, links", [
    # She-Elle, did~n'a, not~n'a (ne), not-pas, hide-caché, the-la, car-voiture
    (372, "She did not hide the car.", "Elle n'a pas caché la voiture.", "0-0 1?1 2?1 2-2 3-3 4-4 5-5"),
    # adjectives on both sides of the noun in French: big-grand, pink-rose, coat-manteau
    (117, "The big pink coat was beautiful.", "Le grand manteau rose était beau.", "0-0 1-1 2-3 3-2 4-4 5-5"),
    # "there was" / "il y avait" as a whole, was-avait sure; no~n'y (ne), no-pas, no~d'oignon (de)
    (824, "There was no onion under the tree.", "Il n'y avait pas d'oignon sous l'arbre.",
     "0?0 0?1 1?0 1?1 1-2 2?1 2-3 2?4 3-4 4-5 5-6 6-6"),
    # genitive: the-du (de le), monkey's~La and monkey's~du, monkey's-singe, list-liste
    (556, "The monkey's list was beautiful.", "La liste du singe était belle.", "0-2 1?0 1?2 1-3 2-1 3-4 4-5"),
    # the particle goes with the French verb: look-cherchez, for~cherchez
    (1240, "You look for the foxes.", "Vous cherchez les renards.", "0-0 1-1 2?1 3-2 4-3"),
    # être auxiliary and a French preposition English does without: entered~est, entered-entré, entered~dans
    (426, "He entered the theatre.", "Il est entré dans le théâtre.", "0-0 1?1 1-2 1?3 2-4 3-5"),
    # next to / à côté de: next-côté sure, the rest possible; the and donkey both in l'âne
    (213, "The actress dances next to the donkey.", "L'actrice danse à côté de l'âne.",
     "0-0 1-0 2-1 3?2 3-3 3?4 4?2 4?4 5-5 6-5"),
    # is hungry / a faim: is~a, hungry~a, hungry-faim
    (285, "He is hungry.", "Il a faim.", "0-0 1?1 2?1 2-2"),
    # object relative: that and she both in qu'elle
    (454, "We like the waitress that she likes.", "Nous aimons la serveuse qu'elle aime.", "0-0 1-1 2-2 3-3 4-4 5-4 6-5"),
    # because-parce, because-qu'elles, they-qu'elles, left~ont, left-quitté
    (143, "The snakes left the towers because they were open.",
     "Les serpents ont quitté les tours parce qu'elles étaient ouvertes.", "0-0 1-1 2?2 2-3 3-4 4-5 5-6 5-7 6-7 7-8 8-9"),
])
def test_known_sentences_have_the_alignment_worked_out_by_hand(seed, src, tgt, links):
    generated_src, generated_tgt, alignment = aligned_sentence(random.Random(f"alignment-{seed}"))
    assert (generated_src, generated_tgt) == (src, tgt)
    assert alignment.pharaoh() == links


# ----------------------------------------------------------------------------- properties of a large draw


@pytest.fixture(scope="module")
def validation():
    return sample.generate_aligned_splits(sizes={"train": 0, "validation": 500, "test": 0}, seed=7)["validation"]


def test_aligned_generation_writes_the_same_text_as_plain_generation(validation):
    plain = sample.generate_splits(sizes={"train": 20, "validation": 500, "test": 0}, seed=7)
    assert [(pair.src, pair.tgt) for pair in validation] == plain["validation"]
    train = sample.generate_aligned_splits(sizes={"train": 20, "validation": 500, "test": 0}, seed=7)["train"]
    assert [(pair.src, pair.tgt) for pair in train] == plain["train"] and {pair.alignment for pair in train} == {None}


def test_every_link_is_in_range_and_every_sure_link_is_possible(validation):
    for pair in validation:
        line = pair.alignment.pharaoh()
        sure, possible = parse(line)
        assert line.split() == sorted(line.split(), key=lambda link: tuple(map(int, re.split(r"[-?]", link))))
        assert sure <= possible and sure == set(pair.alignment.sure) and possible == set(pair.alignment.possible)
        src, tgt = pair.src.split(), pair.tgt.split()
        assert all(0 <= i < len(src) and 0 <= j < len(tgt) for i, j in possible), (pair.src, pair.tgt, line)


def test_every_content_word_and_every_token_is_linked(validation):
    checked = 0
    for pair in validation:
        _, possible = parse(pair.alignment.pharaoh())
        linked_src, linked_tgt = {i for i, _ in possible}, {j for _, j in possible}
        for index, token in enumerate(pair.src.split()):
            if word(token) in NOUN_FORMS | VERB_FORMS | ADJECTIVE_FORMS:
                assert index in linked_src, (pair.src, token)
                checked += 1
        # In this grammar every word has a counterpart or a word it goes with.
        assert linked_src == set(range(len(pair.src.split()))), (pair.src, pair.tgt)
        assert linked_tgt == set(range(len(pair.tgt.split()))), (pair.src, pair.tgt)
    assert checked > 1500


def test_negation_links_not_to_pas_as_sure_and_to_ne_as_possible(validation):
    checked = 0
    for pair in validation:
        src, tgt = pair.src.split(), pair.tgt.split()
        sure, possible = parse(pair.alignment.pharaoh())
        for i in (i for i, token in enumerate(src) if token == "not"):
            assert any(tgt[j] in ("pas", "pas.") for j in {j for a, j in sure if a == i}), (pair.src, pair.tgt)
            assert any(tgt[j] == "ne" or tgt[j].startswith("n'") for j in {j for a, j in possible - sure if a == i})
            checked += 1
    assert checked > 40


# ----------------------------------------------------------------------------- pronoun positions


def test_pronoun_columns_point_at_the_pronoun_and_at_the_head_noun_the_predicate_picks():
    items = sample.generate_pronoun_test(size=80, seed=5)
    assert [(item.src, item.tgt, item.contrast) for item in items] == sample.generate_pronoun_pairs(size=80, seed=5)
    for item in items:
        words = item.src.split()
        assert words[item.pronoun] in ("it", "they") and words[item.pronoun - 1] == "because", item
        clause = words[: item.pronoun - 1]
        nouns = [index for index, token in enumerate(clause) if token in NOUN_FORMS]
        assert len(nouns) == 2, item.src
        reason = words[-1].rstrip(".")
        subject_reasons = FIT_SUBJECT_REASONS if " fit in " in item.src else SUBJECT_REASONS
        assert item.antecedent == (nouns[0] if reason in subject_reasons else nouns[1]), item


def test_known_pronoun_items_count_words_as_written():
    items = sample.generate_pronoun_test(size=40, seed=1)
    # The(0) cow(1) did not cross the park because(7) it(8) was too young: the cow was young.
    assert items[34].src == "The cow did not cross the park because it was too young."
    assert (items[34].antecedent, items[34].pronoun) == (1, 8)
    # The giraffe did not leave the(5) stadium(6) because it(8) was too dangerous: the stadium was.
    assert items[1].src == "The giraffe did not leave the stadium because it was too dangerous."
    assert (items[1].antecedent, items[1].pronoun) == (6, 8)
    # The sick(1) snails(2) ... because(8) they(9): the head noun, not its adjective.
    assert items[12].src == "The sick snails did not enter the banks because they were too lazy."
    assert (items[12].antecedent, items[12].pronoun) == (2, 9)


# ----------------------------------------------------------------------------- the text is unchanged


def test_generated_text_is_byte_for_byte_what_it_was():
    splits = sample.generate_splits(sizes=HASHED_SIZES, seed=1)
    assert hashlib.sha256(json.dumps(splits, ensure_ascii=False).encode()).hexdigest() == SPLITS_SHA256
    aligned = sample.generate_aligned_splits(sizes=HASHED_SIZES, seed=1)
    assert {name: [(pair.src, pair.tgt) for pair in pairs] for name, pairs in aligned.items()} == splits
    exclude = {src for split in splits.values() for src, _ in split}
    pronouns = sample.generate_pronoun_pairs(size=200, seed=1, exclude=exclude)
    assert hashlib.sha256(json.dumps(pronouns, ensure_ascii=False).encode()).hexdigest() == PRONOUNS_SHA256


# ----------------------------------------------------------------------------- corpus and pipeline


def test_french_english_swaps_the_alignment_with_the_columns(tmp_path):
    forward = load_pairs(sample_corpus(), cache_dir=tmp_path)
    backward = load_pairs(sample_corpus(src_lang="fr", tgt_lang="en"), cache_dir=tmp_path)
    assert "alignment" not in forward["train"].column_names and "pronoun_test" not in backward
    for split in ("validation", "test"):
        assert backward[split]["src"] == forward[split]["tgt"]
        for ahead, behind in zip(forward[split]["alignment"], backward[split]["alignment"], strict=True):
            sure, possible = parse(ahead)
            assert parse(behind) == ({(j, i) for i, j in sure}, {(j, i) for i, j in possible})


def test_load_clean_pairs_keeps_alignments_and_pronoun_positions(tmp_path):
    pairs = load_clean_pairs(sample_corpus(), data_dir=tmp_path)
    assert pairs["train"].column_names == ["src", "tgt"]
    generated = sample.generate_aligned_splits(sizes={"train": 300, "validation": 30, "test": 30}, seed=2)
    for split in ("validation", "test"):
        assert pairs[split].column_names == ["src", "tgt", "alignment"]
        assert pairs[split]["alignment"] == [pair.alignment.pharaoh() for pair in generated[split]]
    pronouns = pairs["pronoun_test"]
    assert pronouns.column_names == ["src", "tgt", "contrast", "antecedent", "pronoun"]
    assert all(src.split()[index] in ("it", "they") for src, index in zip(pronouns["src"], pronouns["pronoun"]))
    assert all(src.split()[index] in NOUN_FORMS for src, index in zip(pronouns["src"], pronouns["antecedent"]))


def test_cleaning_drops_the_extra_columns_of_a_dropped_pair_with_it():
    splits = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"src": ["a b", "a b c d e f", "c"], "tgt": ["x y", "x", "z"],
                                             "alignment": ["0-0 1-1", "0-0", "0-0"]}),
        "validation": datasets.Dataset.from_dict({"src": ["a", "", "b c"], "tgt": ["x", "y", "y z"],
                                                  "alignment": ["0-0", "0?0", "0-0 1-1"]}),
    })
    cleaned, report = clean_splits(splits, config=CleanConfig(max_len=None, max_ratio=2.0, dedup=False))
    assert report["train"].removed["ratio"] == 1 and report["validation"].removed["empty"] == 1
    assert cleaned["train"]["alignment"] == ["0-0 1-1", "0-0"] and cleaned["train"]["src"] == ["a b", "c"]
    assert cleaned["validation"]["alignment"] == ["0-0", "0-0 1-1"] and cleaned["validation"]["src"] == ["a", "b c"]


def test_tokenized_cache_carries_the_alignment_beside_the_token_ids(tmp_path):
    tokenizer = TokenizerConfig(model_type="unigram", vocab_size=200, joint=True, character_coverage=1.0,
                                input_sentence_size=100_000, seed=1, num_threads=1)
    corpus = sample_corpus(sample_sizes={"train": 400, "validation": 20, "test": 20}, pronoun_test_size=8)
    prepared = prepare_corpus(corpus, tokenizer, data_dir=tmp_path)
    clean = load_clean_pairs(corpus, data_dir=tmp_path)
    validation = prepared.splits["validation"]
    assert validation["alignment"] == clean["validation"]["alignment"]
    assert validation["src_ids"] == prepared.tokenizer.encode_src(clean["validation"]["src"])
    assert prepared.pronoun_test["pronoun"] == clean["pronoun_test"]["pronoun"]
