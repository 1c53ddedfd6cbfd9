"""The bundled English→French grammar corpus: determinism, disjoint splits, French grammar, pronouns."""

import re
from collections import Counter
from pathlib import Path

import pytest

from nmt.data import sample
from nmt.data.corpus import CorpusConfig
from nmt.data.pipeline import corpus_key
from nmt.errors import NMTError

SIZES = {"train": 6000, "validation": 300, "test": 300}
NOUN_FORMS = {form: (noun, number) for noun in sample.NOUNS
              for form, number in ((noun.en, "sg"), (noun.en_plural, "pl"))}
FR_PRONOUN = {("m", "sg"): "il", ("f", "sg"): "elle", ("m", "pl"): "ils", ("f", "pl"): "elles"}
# Which noun "it" refers to, by predicate: written out here, independently of the generator.
SUBJECT_REASONS = set("tired scared weak sick slow lazy young nervous hungry thirsty curious brave happy".split())
FIT_SUBJECT_REASONS = {"big", "long", "wide"}


@pytest.fixture(scope="module")
def corpus():
    return sample.generate_splits(sizes=SIZES, seed=0)


@pytest.fixture(scope="module")
def pairs(corpus):
    return [pair for split in corpus.values() for pair in split]


@pytest.fixture(scope="module")
def pronoun_pairs(corpus):
    exclude = {src for src, _ in corpus["train"]}
    return sample.generate_pronoun_pairs(size=160, seed=0, exclude=exclude)


def antecedent(source):
    """Role ("subject"/"object") of the noun "it"/"they" refers to, then that noun and the other one
    as (Noun, number), read off the English sentence: the predicate decides."""
    nouns = [NOUN_FORMS[word] for word in source.split(" because ")[0].lower().split() if word in NOUN_FORMS]
    assert len(nouns) == 2, source
    reason = source.rstrip(".").split()[-1]
    subject_reasons = FIT_SUBJECT_REASONS if " fit in " in source else SUBJECT_REASONS
    if reason in subject_reasons:
        return "subject", nouns[0], nouns[1]
    return "object", nouns[1], nouns[0]


def pronoun_of(target):
    return re.search(r"parce qu'(il|elle|ils|elles) ", target).group(1)


def test_same_seed_gives_same_corpus_and_another_seed_a_different_one(corpus):
    assert sample.generate_splits(sizes=SIZES, seed=0) == corpus
    assert sample.generate_splits(sizes=SIZES, seed=1)["train"][:50] != corpus["train"][:50]
    assert sample.generate_pronoun_pairs(size=16, seed=3) == sample.generate_pronoun_pairs(size=16, seed=3)


def test_splits_have_the_requested_sizes_and_share_no_source(corpus):
    assert {name: len(split) for name, split in corpus.items()} == SIZES
    sources = [src for split in corpus.values() for src, _ in split]
    assert len(set(sources)) == len(sources)
    assert sample.DEMO_SENTENCE not in set(sources)


def test_evaluation_splits_do_not_change_with_the_training_size(corpus):
    smaller = sample.generate_splits(sizes={"train": 100, "validation": 300, "test": 300}, seed=0)
    assert smaller["test"] == corpus["test"] and smaller["validation"] == corpus["validation"]


def test_generate_pairs_returns_distinct_pairs():
    pairs = sample.generate_pairs(size=200, seed=4)
    assert len(pairs) == 200 == len({src for src, _ in pairs})


@pytest.mark.parametrize("size", [-1, 2.5, "10", True])
def test_a_bad_size_is_a_user_error(size):
    with pytest.raises(NMTError, match=r"data\.sample_sizes\.train="):
        sample.generate_splits(sizes={"train": size}, seed=0)


def test_sentences_are_cased_punctuated_and_detokenized(pairs):
    for src, tgt in pairs:
        for text in (src, tgt):
            assert text[0].isupper() and text.endswith(".") and not text.endswith(" .")
            assert "  " not in text and " ," not in text
        assert 3 <= len(src.split()) <= 25


def test_french_never_misses_a_contraction_or_an_elision(pairs):
    unelided = re.compile(r"\b(le|la|de|que|ne|je|ce|ma|sa) ([aeiouyéèêàâîôûœ]|h[oôiu])", re.IGNORECASE)
    for _, tgt in pairs:
        assert not re.search(r"\b(à|de) (le|les)\b", tgt), tgt
        assert not unelided.search(tgt), tgt
        assert not re.search(r"\b(vieux|beau|nouveau) [aeiouéœ]\w*(?<![sx])\b", tgt), tgt  # vieil arbre, bel oiseau
    french = " ".join(tgt for _, tgt in pairs)
    for expected in ("au ", "aux ", "du ", "l'", "qu'", "n'", "j'", "cet "):
        assert expected in french


def test_english_uses_an_before_a_vowel(pairs):
    for src, _ in pairs:
        assert not re.search(r"\b[Aa] [aeiouAEIOU]|\b[Aa]n [^aeiouAEIOU]", src), src


def test_feminine_plural_nouns_take_feminine_plural_adjectives_after_them(pairs):
    post = {a.en: a for a in sample.ADJECTIVES if a.group in ("colour", "nation", "shape")}
    checked = 0
    for src, tgt in pairs:
        for adjective, word in re.findall(r"(?=\b(\w+) (\w+)\b)", src):
            noun, number = NOUN_FORMS.get(word, (None, None))
            if adjective in post and number == "pl" and noun.gender == "f":
                form = post[adjective].fr("f", "pl")  # vertes, blanches, françaises, rondes
                assert form.endswith("es") and f"{noun.fr_plural} {form}" in tgt, (src, tgt)
                checked += 1
    assert checked >= 20


def test_preposed_adjectives_stay_before_the_noun(pairs):
    pre = {a.en: a for a in sample.ADJECTIVES if a.group == "pre"}
    checked = 0
    for src, tgt in pairs:
        match = re.search(r"\bthe (small|big|young) (\w+)\b", src)
        if match and match.group(2) in NOUN_FORMS:
            noun, number = NOUN_FORMS[match.group(2)]
            assert f"{pre[match.group(1)].fr(noun.gender, number)} {noun.form(number, 'fr')}" in tgt, (src, tgt)
            checked += 1
    assert checked >= 50


def test_etre_participles_agree_with_the_subject(pairs):
    participles = {"went": "allé", "came": "venu", "arrived": "arrivé", "returned": "retourné",
                   "entered": "entré", "fell": "tombé", "stayed": "resté"}
    checked = 0
    for src, tgt in pairs:
        match = re.match(r"The (\w+) (went|came|arrived|returned|entered|fell|stayed) ", src)
        if match and match.group(1) in NOUN_FORMS:
            noun, number = NOUN_FORMS[match.group(1)]
            ending = ("e" if noun.gender == "f" else "") + ("s" if number == "pl" else "")
            auxiliary = "sont" if number == "pl" else "est"
            assert f" {auxiliary} {participles[match.group(2)]}{ending} " in tgt, (src, tgt)
            checked += 1
    assert checked >= 20


def test_a_fronted_direct_object_makes_the_avoir_participle_agree(pairs):
    # "les pommes qu'elle a mangées": the object relative's participle agrees with its head.
    by_past = {verb.en[2]: verb for verb in sample.TRANSITIVE_VERBS}
    checked = 0
    for src, tgt in pairs:
        match = re.search(r"\b(\w+) that (?:he|she|I|we|you|the \w+) (\w+)\b", src)
        if match and match.group(1) in NOUN_FORMS and match.group(2) in by_past:
            noun, number = NOUN_FORMS[match.group(1)]
            participle = by_past[match.group(2)].participle + ("e" if noun.gender == "f" else "")
            participle += "s" if number == "pl" and not participle.endswith("s") else ""
            assert re.search(rf"\b{noun.form(number, 'fr')}\b.* qu.*\b{participle}\b", tgt), (src, tgt)
            checked += 1
    assert checked >= 30


def test_negated_indefinite_objects_take_de(pairs):
    checked = 0
    for src, tgt in pairs:
        if re.search(r"\bnot \w+ (any|a|an) ", src) and " there " not in src.lower():
            assert re.search(r"\bpas (\w+ )?(de|d')", tgt), (src, tgt)  # ne boit pas de, n'a pas bu de
            checked += 1
    assert checked >= 20


def test_coreference_sentences_are_a_fifth_of_the_corpus(pairs):
    share = sum(" because " in src for src, _ in pairs) / len(pairs)
    assert 0.15 <= share <= 0.25


def test_corpus_pronouns_agree_with_the_antecedent_the_predicate_picks(pairs):
    for src, tgt in pairs:
        if " because " in src:
            _, (noun, number), _ = antecedent(src)
            assert pronoun_of(tgt) == FR_PRONOUN[noun.gender, number], (src, tgt)


def test_pronoun_pairs_differ_only_in_the_pronoun_group(pronoun_pairs):
    for src, correct, contrast in pronoun_pairs:
        a, b = correct.split(), contrast.split()
        assert len(a) == len(b)
        diff = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
        pronoun_at = a.index("parce") + 1
        assert diff[0] == pronoun_at and set(diff) <= {pronoun_at, len(a) - 1}, (correct, contrast)
        assert {pronoun_of(correct), pronoun_of(contrast)} in ({"il", "elle"}, {"ils", "elles"})


def test_pronoun_pairs_pick_the_antecedent_and_the_other_noun_has_the_other_gender(pronoun_pairs):
    for src, correct, _ in pronoun_pairs:
        _, (noun, number), (other, other_number) = antecedent(src)
        assert pronoun_of(correct) == FR_PRONOUN[noun.gender, number], (src, correct)
        assert other.gender != noun.gender and other_number == number, src


def test_pronoun_pairs_are_balanced_and_new(pronoun_pairs, corpus):
    cells = Counter((pronoun_of(correct), antecedent(src)[0]) for src, correct, _ in pronoun_pairs)
    assert len(cells) == 8 and set(cells.values()) == {len(pronoun_pairs) // 8}
    sources = [src for src, _, _ in pronoun_pairs]
    assert len(set(sources)) == len(sources)
    assert not set(sources) & {src for src, _ in corpus["train"]}
    assert sample.DEMO_SENTENCE not in sources


def test_demo_sentence_needs_the_far_antecedent():
    _, (noun, number), (other, _) = antecedent(sample.DEMO_SENTENCE)
    assert pronoun_of(sample.DEMO_REFERENCE) == FR_PRONOUN[noun.gender, number] == "elle"
    assert other.gender != noun.gender


def test_pronoun_pairs_skip_excluded_sources():
    first = sample.generate_pronoun_pairs(size=16, seed=3)
    second = sample.generate_pronoun_pairs(size=16, seed=3, exclude={src for src, _, _ in first})
    assert len(second) == 16 and not {src for src, _, _ in first} & {src for src, _, _ in second}


def test_cache_key_covers_every_generator_module(monkeypatch):
    """Editing any nmt/data/sample*.py file changes the corpus cache key, so no stale corpus is reused."""
    corpus = CorpusConfig(name="sample", source="sample", src_lang="en", tgt_lang="fr", vocab_size=100,
                          clean={"max_len": 50, "max_ratio": 3.0, "dedup": False}, sample_sizes=SIZES)
    key = corpus_key(corpus)
    read_bytes = Path.read_bytes
    modules = sorted(Path(sample.__file__).parent.glob("sample*.py"))
    assert len(modules) >= 4
    for module in modules:
        monkeypatch.setattr(Path, "read_bytes", lambda path, edited=module: read_bytes(path) + b"#" * (path == edited))
        assert corpus_key(corpus) != key, module.name
