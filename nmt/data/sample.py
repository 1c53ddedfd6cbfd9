"""The bundled offline corpus (``data=sample``): a deterministic English→French grammar.

Every pair is generated from a bilingual lexicon of a few hundred words and a
handful of sentence templates, so the corpus needs no download and a small
Transformer learns it in minutes on a CPU. The templates exercise what makes
French more than word-for-word substitution:

* gender and number agreement of articles, adjectives and past participles
  (``les petites voitures rouges``, ``elles sont allées``, ``la pomme qu'il a mangée``);
* adjectives after the noun (colour, nationality, shape and most others) and the
  few before it (``petit``, ``grand``, ``jeune``, ``vieux``, ``beau``, ``bon``, …),
  with ``de`` for ``des`` before them and ``bel``/``vieil``/``nouvel`` before a vowel;
* present tense and *passé composé* with *avoir* and *être*, negation *ne … pas*
  and ``pas de`` for an indefinite object (``il ne boit pas de lait``);
* prepositions with contractions (``au``, ``aux``, ``du``, ``des``) and elision
  (``l'``, ``d'``, ``qu'``, ``n'``, ``j'``, ``cet``, ``son école``);
* relative clauses with *qui* and *que*;
* coreference: in "The cow did not cross the bridge because it was too tired"
  *it* is the cow (``elle``), with "too wide" it is the bridge (``il``). The
  antecedent follows from the predicate, so choosing the pronoun's gender needs
  attention to the right noun (a Winograd schema, Levesque et al. 2012). The
  contrastive pronoun pairs score a model the way Sennrich (2017) and Müller et
  al. (2018, ContraPro) do: the correct target must be more probable than the
  same target with the pronoun of the wrong gender.

This module is the grammar: sentence templates, agreement, elision and contraction,
and the public generator API. The words, their forms and their tags live in
`nmt.data.sample_lexicon`; its word tuples and `lexicon_size` are re-exported here.

Use `generate_splits` for disjoint train/validation/test pairs and
`generate_pronoun_pairs` for the contrastive pronoun test; `DEMO_SENTENCE` is a
coreference sentence kept out of both. Generation uses only ``random.Random``
seeded with a string, so a seed gives the same corpus on every platform and
Python version.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Literal, TypeVar

from nmt.data.sample_lexicon import (  # re-exported: part of this module's API
    ADJECTIVES,
    DITRANSITIVE_VERBS,
    INTRANSITIVE_VERBS,
    MOTION_VERBS,
    NOUNS,
    TRANSITIVE_VERBS,
    lexicon_size,
)
from nmt.data.sample_lexicon import (
    ADJECTIVE_BY_EN,
    AVOIR,
    AVOIR_IMPARFAIT,
    AVOIR_PREDICATES,
    COREF_VERBS,
    DEFINITE_ONLY,
    ETRE,
    ETRE_IMPARFAIT,
    FIT_REASONS,
    FIT_VERB,
    LOCATIONS,
    NUMERALS,
    PERSONS,
    PLACE_REASONS,
    POSSESSIVES,
    PRONOUNS,
    SUBJECT_REASONS,
    VERB_BY_EN,
    Adjective,
    Gender,
    Noun,
    Number,
    Verb,
    attributive,
    nouns_with,
    predicative,
    verbs_taking,
)
from nmt.errors import NMTError

__all__ = [
    "ADJECTIVES",
    "DEFAULT_PRONOUN_SIZE",
    "DEFAULT_SIZES",
    "DEMO_REFERENCE",
    "DEMO_SENTENCE",
    "DITRANSITIVE_VERBS",
    "INTRANSITIVE_VERBS",
    "MOTION_VERBS",
    "NOUNS",
    "SRC_LANG",
    "TGT_LANG",
    "TRANSITIVE_VERBS",
    "generate_pairs",
    "generate_pronoun_pairs",
    "generate_splits",
    "lexicon_size",
]

SRC_LANG = "en"
TGT_LANG = "fr"
DEFAULT_SIZES: dict[str, int] = {"train": 20000, "validation": 1000, "test": 1000}
# 400 = 50 pairs in each of the 8 cells (il/elle/ils/elles x subject/object antecedent).
DEFAULT_PRONOUN_SIZE = 400
# Kept out of every split: the antecedent (la vache) is feminine and the nearer
# noun (le pont) masculine, so a correct "elle" shows the pronoun was resolved.
DEMO_SENTENCE = "The cow did not cross the bridge because it was too tired."
DEMO_REFERENCE = "La vache n'a pas traversé le pont parce qu'elle était trop fatiguée."

PairT = TypeVar("PairT", tuple[str, str], tuple[str, str, str])
Tense = Literal["present", "past"]


# ---------------------------------------------------------------------------
# Surface strings: French elision and contraction, English a/an.
# ---------------------------------------------------------------------------

_VOWELS = frozenset("aeiouyàâéèêëîïôûœ")
_MUTE_H = frozenset({"homme", "hommes", "hôpital", "hôpitaux", "hôtel", "hôtels", "histoire", "histoires",
                     "horloge", "horloges", "heureux", "heureuse", "heureuses"})
_ELISIONS = {"le": "l'", "la": "l'", "de": "d'", "que": "qu'", "ne": "n'", "je": "j'",
             "ce": "cet", "ma": "mon", "sa": "son"}
_CONTRACTIONS = {("à", "le"): "au", ("à", "les"): "aux", ("de", "le"): "du", ("de", "les"): "des"}


def _starts_with_vowel(word: str) -> bool:
    return bool(word) and (word[0] in _VOWELS or word in _MUTE_H)


def _french_text(words: list[str]) -> str:
    """Join French words, applying elision (le arbre -> l'arbre) then contraction (à le -> au)."""
    out: list[str] = []
    for i, word in enumerate(words):
        if word in _ELISIONS and i + 1 < len(words) and _starts_with_vowel(words[i + 1]):
            word = _ELISIONS[word]
        if out and (out[-1], word) in _CONTRACTIONS:
            out[-1] = _CONTRACTIONS[out[-1], word]
        else:
            out.append(word)
    text = " ".join(out).replace("' ", "'")
    return text[0].upper() + text[1:] + "."


def _english_text(words: list[str]) -> str:
    out = [("an" if w == "a" and words[i + 1][0] in "aeiouAEIOU" else w) for i, w in enumerate(words)]
    text = " ".join(out)
    return text[0].upper() + text[1:] + "."


def _agree(word: str, gender: Gender, number: Number) -> str:
    """Past participle agreement: allé, allée, allés, allées; pris, prise, pris, prises."""
    if gender == "f":
        word += "e"
    return word + "s" if number == "pl" and not word.endswith("s") else word


# ---------------------------------------------------------------------------
# Phrases.
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Phrase:
    """A noun phrase or subject pronoun in both languages, with what French agreement needs."""

    en: list[str]
    fr: list[str]
    gender: Gender
    number: Number
    person: str  # one of PERSONS
    noun: Noun | None = None  # None for pronouns


_DETERMINERS = ("the", "a", "some", "this", "poss", "num", "gen")
_DETERMINER_WEIGHTS = {  # (countable, number) -> weights over _DETERMINERS
    (True, "sg"): (55, 18, 0, 8, 12, 0, 7),
    (True, "pl"): (50, 0, 18, 7, 10, 10, 5),
    (False, "sg"): (60, 0, 40, 0, 0, 0, 0),
}


@lru_cache(maxsize=None)
def _determiner_weights(countable: bool, number: Number, allowed: tuple[str, ...]) -> tuple[int, ...]:
    """Cumulative weights over _DETERMINERS, zero for those not `allowed`."""
    weights = [w if d in allowed else 0 for d, w in zip(_DETERMINERS, _DETERMINER_WEIGHTS[countable, number])]
    return tuple(sum(weights[: i + 1]) for i in range(len(weights)))


def _noun_phrase(rng: random.Random, noun: Noun, *, number: Number | None = None,
                 determiners: tuple[str, ...] = _DETERMINERS, adjectives: bool = True,
                 negated: bool = False) -> _Phrase:
    """A noun with a determiner and up to two adjectives; `negated` objects take "de" for un/des."""
    if number is None:
        number = "pl" if noun.countable and rng.random() < 0.35 else "sg"
    cum_weights = _determiner_weights(noun.countable, number, determiners)
    determiner = rng.choices(_DETERMINERS, cum_weights=cum_weights)[0]
    pre, post = _pick_adjectives(rng, noun) if adjectives else (None, None)
    gender = noun.gender
    en_det, fr_det, possessor = _determiner(rng, determiner, noun, number, negated, pre is not None)
    fr_noun = noun.form(number, "fr")
    fr_words = fr_det[:]
    if pre is not None:
        liaison = pre.liaison and gender == "m" and number == "sg" and _starts_with_vowel(fr_noun)
        fr_words.append(pre.liaison if liaison else pre.fr(gender, number))
    fr_words.append(fr_noun)
    if post is not None:
        fr_words.append(post.fr(gender, number))
    en_words = en_det + [a.en for a in (pre, post) if a is not None] + [noun.form(number, "en")]
    if possessor is not None:
        en_words = possessor.en + en_words
        fr_words += ["de"] + possessor.fr
    return _Phrase(en_words, fr_words, gender, number, "3s" if number == "sg" else "3p", noun)


def _pick_adjectives(rng: random.Random, noun: Noun) -> tuple[Adjective | None, Adjective | None]:
    """None, one before, one after, or one of each (English order: size/age before colour/origin)."""
    roll = rng.random()
    pre = attributive(noun, "pre") if roll >= 0.5 and (roll < 0.65 or roll >= 0.9) else ()
    post = attributive(noun, "post") if 0.65 <= roll < 0.8 or roll >= 0.9 else ()
    if 0.8 <= roll < 0.9:
        post = attributive(noun, "state")
    return (rng.choice(pre) if pre else None), (rng.choice(post) if post else None)


def _determiner(rng: random.Random, determiner: str, noun: Noun, number: Number, negated: bool,
                has_pre_adjective: bool) -> tuple[list[str], list[str], _Phrase | None]:
    """English and French determiner words, and the possessor phrase of "the girl's dog"."""
    index = 2 if number == "pl" else (noun.gender == "f")
    if determiner == "the":
        return ["the"], [("le", "la", "les")[index]], None
    if determiner == "a":
        return ["a"], (["de"] if negated else [("un", "une")[index]]), None
    if determiner == "some":
        if negated:  # "pas de lait", "pas de chats"
            return ["any"], ["de"], None
        if number == "pl":  # "des chats", but "de petits chats"
            return ["some"], ["de" if has_pre_adjective else "des"], None
        return ["some"], ["de", ("le", "la")[index]], None  # du pain, de la soupe, de l'eau
    if determiner == "this":
        return [("this", "this", "these")[index]], [("ce", "cette", "ces")[index]], None
    if determiner == "poss":
        en = rng.choice(tuple(POSSESSIVES))
        return [en], [POSSESSIVES[en][index]], None
    if determiner == "num":
        en = rng.choice(tuple(NUMERALS))
        return [en], [NUMERALS[en]], None
    owner_tags = frozenset({"person", "animal"} if "thing" in noun.tags else {"person"})
    owner = rng.choice(nouns_with(owner_tags))
    owner_number: Number = "pl" if rng.random() < 0.2 else "sg"
    owner_en = owner.form(owner_number, "en")
    owner_en += "'" if owner_number == "pl" and owner_en.endswith("s") else "'s"  # the girls' / the actress's
    owner_fr = [("le", "la", "les")[2 if owner_number == "pl" else (owner.gender == "f")],
                owner.form(owner_number, "fr")]
    return [], [("le", "la", "les")[index]], _Phrase(["the", owner_en], owner_fr, owner.gender, owner_number, "")


def _pronoun(en: str) -> _Phrase:
    fr, person, gender = PRONOUNS[en]
    return _Phrase([en], [fr], gender, "sg" if person[1] == "s" else "pl", person)  # type: ignore[arg-type]


def _subject(rng: random.Random, tags: frozenset[str], *, pronouns: tuple[str, ...] = ("I", "you", "we", "he", "she"),
             pronoun_rate: float = 0.2) -> _Phrase:
    """A subject fitting the verb: mostly a noun phrase, sometimes a pronoun (I/you/we avoid agreement)."""
    if "person" in tags or "animate" in tags:
        if rng.random() < pronoun_rate:
            return _pronoun(rng.choice(pronouns))
    return _noun_phrase(rng, rng.choice(nouns_with(tags, countable_only=True)))


def _verb_group(verb: Verb, subject: _Phrase, tense: Tense, negated: bool, *,
                agree_with: _Phrase | None = None) -> tuple[list[str], list[str]]:
    """Conjugated verb with negation; participles agree with an être subject or `agree_with`
    (a direct object placed before the verb: "la pomme qu'il a mangée")."""
    i = PERSONS.index(subject.person)
    third = subject.person == "3s"
    if tense == "present":
        en = ["does" if third else "do", "not", verb.en[0]] if negated else [verb.en[1] if third else verb.en[0]]
        return en, (["ne", verb.present[i], "pas"] if negated else [verb.present[i]])
    aux = (ETRE if verb.aux == "être" else AVOIR)[i]
    target = subject if verb.aux == "être" else agree_with
    participle = verb.participle if target is None else _agree(verb.participle, target.gender, target.number)
    en = ["did", "not", verb.en[0]] if negated else [verb.en[2]]
    return en, (["ne", aux, "pas", participle] if negated else [aux, participle])


def _be(subject: _Phrase, tense: Tense, negated: bool, *, avoir: bool = False) -> tuple[list[str], list[str]]:
    """Third-person "is/was" as être (or avoir: "il a faim"), present or imparfait."""
    plural = subject.number == "pl"
    en = [("are" if plural else "is") if tense == "present" else ("were" if plural else "was")]
    table = (AVOIR if tense == "present" else AVOIR_IMPARFAIT) if avoir else (
        ETRE if tense == "present" else ETRE_IMPARFAIT)
    fr = table[4 if plural else 1]
    return (en + ["not"], ["ne", fr, "pas"]) if negated else (en, [fr])


def _predicate(subject: _Phrase, word: str, tense: Tense, negated: bool,
               degree: str = "") -> tuple[list[str], list[str]]:
    """"is (not) (very|too) ADJ": an agreeing adjective, or avoir + noun for hungry/thirsty/scared."""
    avoir = word in AVOIR_PREDICATES
    en, fr = _be(subject, tense, negated, avoir=avoir)
    if degree:
        en.append(degree)
        fr.append({"very": "très", "too": "trop"}[degree])
    fr_word = AVOIR_PREDICATES[word] if avoir else ADJECTIVE_BY_EN[word].fr(subject.gender, subject.number)
    return en + [word], fr + [fr_word]


def _place_preposition(place: Noun, en: str, fr: str) -> tuple[list[str], list[str]]:
    if en == "@":  # the place's own preposition: in the garden / on the bridge
        return (["on"], ["sur"]) if "on" in place.tags else (["in"], ["dans"])
    return ([en] if en else []), ([fr] if fr else [])


def _location(rng: random.Random) -> tuple[list[str], list[str]]:
    """"in the garden", "near the station" (près de la gare), "far from the markets" (loin des marchés)."""
    if rng.random() < 0.5:
        place = rng.choice(nouns_with(frozenset({"place"})))
        en, fr = _place_preposition(place, "@", "@")
    else:
        en_prep, fr_prep, tags = rng.choice(LOCATIONS)
        place = rng.choice(nouns_with(frozenset(tags.split()), countable_only=True))
        en, fr = en_prep.split(), fr_prep.split()
    np = _noun_phrase(rng, place, determiners=("the", "this", "poss", "gen"), adjectives=rng.random() < 0.3)
    return en + np.en, fr + np.fr


def _tense_and_polarity(rng: random.Random, negation_rate: float = 0.3) -> tuple[Tense, bool]:
    return ("past" if rng.random() < 0.5 else "present"), rng.random() < negation_rate


# ---------------------------------------------------------------------------
# Sentence templates: each returns (English words, French words).
# ---------------------------------------------------------------------------

Words = tuple[list[str], list[str]]


def _object_phrase(rng: random.Random, verb: Verb, negated: bool) -> _Phrase:
    noun = rng.choice(nouns_with(verb.objects))
    dets = ("the", "this", "poss", "gen") if verb.en[0] in DEFINITE_ONLY else _DETERMINERS
    return _noun_phrase(rng, noun, determiners=dets, negated=negated)


def _transitive(rng: random.Random) -> Words:
    verb = rng.choice(TRANSITIVE_VERBS)
    subject = _subject(rng, verb.subjects)
    tense, negated = _tense_and_polarity(rng)
    obj = _object_phrase(rng, verb, negated)
    en_verb, fr_verb = _verb_group(verb, subject, tense, negated)
    en = subject.en + en_verb + ([verb.particle] if verb.particle else []) + obj.en
    fr = subject.fr + fr_verb + obj.fr
    if rng.random() < 0.3:
        en_loc, fr_loc = _location(rng)
        en, fr = en + en_loc, fr + fr_loc
    return en, fr


def _ditransitive(rng: random.Random) -> Words:
    verb, recipients = rng.choice(DITRANSITIVE_VERBS)
    subject = _subject(rng, verb.subjects)
    tense, negated = _tense_and_polarity(rng)
    obj = _noun_phrase(rng, rng.choice(nouns_with(verb.objects, countable_only=True)), negated=negated)
    recipient = _noun_phrase(rng, rng.choice(nouns_with(recipients)),
                             determiners=("the", "this", "poss"), adjectives=rng.random() < 0.3)
    en_verb, fr_verb = _verb_group(verb, subject, tense, negated)
    return subject.en + en_verb + obj.en + ["to"] + recipient.en, subject.fr + fr_verb + obj.fr + ["à"] + recipient.fr


def _motion_clause(rng: random.Random, subject: _Phrase, tense: Tense, negated: bool) -> Words:
    """"went to the market" / "est allée au marché" (être: the participle agrees with the subject)."""
    verb, en_prep, fr_prep = rng.choice(MOTION_VERBS)
    place_noun = rng.choice(nouns_with(verb.objects))
    place = _noun_phrase(rng, place_noun, determiners=("the", "this", "poss", "gen"), adjectives=rng.random() < 0.3)
    en_prep_words, fr_prep_words = _place_preposition(place_noun, en_prep, fr_prep)
    en_verb, fr_verb = _verb_group(verb, subject, tense, negated)
    return en_verb + en_prep_words + place.en, fr_verb + fr_prep_words + place.fr


def _motion(rng: random.Random) -> Words:
    subject = _subject(rng, frozenset({"animate"}), pronouns=("he", "she"), pronoun_rate=0.15)
    tense, negated = _tense_and_polarity(rng, 0.25)
    en, fr = _motion_clause(rng, subject, tense, negated)
    return subject.en + en, subject.fr + fr


def _intransitive(rng: random.Random) -> Words:
    verb = rng.choice(INTRANSITIVE_VERBS)
    subject = _subject(rng, verb.subjects)
    tense, negated = _tense_and_polarity(rng, 0.2)
    en_verb, fr_verb = _verb_group(verb, subject, tense, negated)
    en, fr = subject.en + en_verb, subject.fr + fr_verb
    if rng.random() < 0.25:  # every intransitive subject is animate, so it can have company
        companion = _noun_phrase(rng, rng.choice(nouns_with(frozenset({"animate"}))),
                                 determiners=("the", "a", "poss", "this"), adjectives=False)
        en, fr = en + ["with"] + companion.en, fr + ["avec"] + companion.fr
    en_loc, fr_loc = _location(rng)
    return en + en_loc, fr + fr_loc


def _copula(rng: random.Random) -> Words:
    """"The old houses were not very big." / "She is hungry." (elle a faim)."""
    tense, negated = _tense_and_polarity(rng, 0.25)
    if rng.random() < 0.15:
        subject = _pronoun(rng.choice(("he", "she")))
        noun = rng.choice(nouns_with(frozenset({"person"})))
    else:
        noun = rng.choice(NOUNS)
        subject = _noun_phrase(rng, noun, determiners=("the", "this", "poss", "gen", "num"),
                               adjectives=rng.random() < 0.4)
    en, fr = subject.en, subject.fr
    if "thing" in noun.tags and rng.random() < 0.2:
        en_loc, fr_loc = _location(rng)  # "the book on the table" / "le livre sur la table"
        en, fr = en + en_loc, fr + fr_loc
    choices = [a.en for a in predicative(noun)]
    if "animate" in noun.tags:
        choices += list(AVOIR_PREDICATES)
    degree = rng.choice(("", "", "very", "too"))
    en_pred, fr_pred = _predicate(subject, rng.choice(choices), tense, negated, degree)
    return en + en_pred, fr + fr_pred


def _existential(rng: random.Random) -> Words:
    """"There are no cats in the garden." / "Il n'y a pas de chats dans le jardin."."""
    tense, negated = _tense_and_polarity(rng, 0.3)
    noun = rng.choice(nouns_with(frozenset({"animate", "thing", "food"}), countable_only=True))
    number: Number = "pl" if rng.random() < 0.4 else "sg"
    dets = ("a", "some") if negated else ("a", "some", "num")
    thing = _noun_phrase(rng, noun, number=number, determiners=dets, negated=negated)
    plural = number == "pl"
    en_be = ("are" if plural else "is") if tense == "present" else ("were" if plural else "was")
    en_thing = (["no"] + thing.en[1:]) if negated else thing.en
    fr_verb = ["a"] if tense == "present" else ["avait"]
    fr = ["il", "ne", "y"] + fr_verb + ["pas"] if negated else ["il", "y"] + fr_verb
    en_loc, fr_loc = _location(rng)
    return ["there", en_be] + en_thing + en_loc, fr + thing.fr + fr_loc


_RELATIVE_HEADS = frozenset({"thing", "animal", "person", "food"})


def _relative(rng: random.Random) -> Words:
    """A relative clause on the subject (qui / que) or on the object (que)."""
    roll = rng.random()
    if roll >= 0.7:  # "The boy found the key that the girl lost."
        return _object_relative_on_object(rng)
    head, en_rel, fr_rel = _subject_relative(rng) if roll < 0.45 else _object_relative(rng, _RELATIVE_HEADS)
    if 0.25 <= roll < 0.45:  # "The girl who saw the dog went to the station."
        tense, negated = _tense_and_polarity(rng, 0.2)
        en_main, fr_main = _motion_clause(rng, head, tense, negated)
    else:  # "The girl who saw the dog was very happy." / "The cake that he bought is good."
        tense, negated = _tense_and_polarity(rng, 0.25)
        choices = [a.en for a in predicative(head.noun) if a.group != "predicate"]
        en_main, fr_main = _predicate(head, rng.choice(choices), tense, negated, rng.choice(("", "very")))
    return head.en + en_rel + en_main, head.fr + fr_rel + fr_main


def _subject_relative(rng: random.Random) -> tuple[_Phrase, list[str], list[str]]:
    """"the girl who saw the dog" / "la fille qui a vu le chien" (the verb agrees with the head)."""
    tense, negated = _tense_and_polarity(rng, 0.15)
    if rng.random() < 0.3:
        head = _noun_phrase(rng, rng.choice(nouns_with(frozenset({"animate"}))), adjectives=False)
        en_rest, fr_rest = _motion_clause(rng, head, tense, negated)
    else:
        verb = rng.choice(TRANSITIVE_VERBS)
        head = _noun_phrase(rng, rng.choice(nouns_with(verb.subjects)), adjectives=False)
        obj = _noun_phrase(rng, rng.choice(nouns_with(verb.objects)), adjectives=rng.random() < 0.3,
                           determiners=("the", "a", "this", "poss"), negated=negated)
        en_verb, fr_verb = _verb_group(verb, head, tense, negated)
        en_rest = en_verb + ([verb.particle] if verb.particle else []) + obj.en
        fr_rest = fr_verb + obj.fr
    who = "who" if "person" in head.noun.tags else "that"
    return head, [who] + en_rest, ["qui"] + fr_rest


def _object_relative(rng: random.Random, head_tags: frozenset[str]) -> tuple[_Phrase, list[str], list[str]]:
    """"the apple that she ate" / "la pomme qu'elle a mangée" (participle agrees with the head)."""
    verb = rng.choice(verbs_taking(head_tags))
    head = _noun_phrase(rng, rng.choice(nouns_with(verb.objects & head_tags, countable_only=True)),
                        determiners=("the", "this", "poss"), adjectives=rng.random() < 0.4)
    subject = _subject(rng, verb.subjects, pronoun_rate=0.3)
    tense, negated = _tense_and_polarity(rng, 0.15)
    en_verb, fr_verb = _verb_group(verb, subject, tense, negated, agree_with=head)
    en = ["that"] + subject.en + en_verb + ([verb.particle] if verb.particle else [])
    return head, en, ["que"] + subject.fr + fr_verb


def _object_relative_on_object(rng: random.Random) -> Words:
    head, en_rel, fr_rel = _object_relative(rng, _RELATIVE_HEADS)
    verb = rng.choice(verbs_taking(head.noun.tags))
    subject = _subject(rng, verb.subjects)
    tense, negated = _tense_and_polarity(rng, 0.2)
    en_verb, fr_verb = _verb_group(verb, subject, tense, negated)
    en = subject.en + en_verb + ([verb.particle] if verb.particle else []) + head.en + en_rel
    return en, subject.fr + fr_verb + head.fr + fr_rel


# ---------------------------------------------------------------------------
# Coreference.
# ---------------------------------------------------------------------------

_PRONOUN_CELLS = (("m", "sg"), ("f", "sg"), ("m", "pl"), ("f", "pl"))  # il, elle, ils, elles
_FR_PRONOUN = {("m", "sg"): "il", ("f", "sg"): "elle", ("m", "pl"): "ils", ("f", "pl"): "elles"}


@dataclass(frozen=True, slots=True)
class _CorefSpec:
    """Constraints for a contrastive pair: the antecedent's role, gender and number."""

    role: Literal["subject", "object"]
    gender: Gender
    number: Number


def _coref_noun(rng: random.Random, tags: frozenset[str], gender: Gender | None) -> Noun:
    nouns = nouns_with(tags, countable_only=True)
    if gender is not None:
        nouns = tuple(n for n in nouns if n.gender == gender)
    return rng.choice(nouns)


def _coreference(rng: random.Random, spec: _CorefSpec | None = None) -> tuple[list[str], list[str], list[str]]:
    """"The cat did not cross the street because it was too tired." Returns the English words,
    the French words and the French words with the pronoun (and its agreeing word) of the other gender."""
    if rng.random() < 0.25:
        return _fit_coreference(rng, spec)
    role = spec.role if spec else rng.choice(("subject", "object"))
    polarity = "neg" if rng.random() < 0.7 else "pos"
    verb_en, en_prep, fr_prep, place_tags = rng.choice(COREF_VERBS)
    verb = VERB_BY_EN[verb_en]
    place_noun = _coref_noun(rng, frozenset({place_tags}), _gender_for(spec, "object"))
    kind = "way" if "way" in place_noun.tags else "building"
    reason_words = SUBJECT_REASONS[polarity] if role == "subject" else PLACE_REASONS[kind, polarity]
    animal = _coref_noun(rng, frozenset({"animal"}), _gender_for(spec, "subject"))
    numbers = (spec.number, spec.number) if spec else tuple(
        "pl" if rng.random() < 0.3 else "sg" for _ in range(2))
    subject = _noun_phrase(rng, animal, number=numbers[0], determiners=("the", "a", "this", "poss", "gen"),
                           adjectives=rng.random() < 0.3)
    place = _noun_phrase(rng, place_noun, number=numbers[1], determiners=("the", "this"), adjectives=False)
    tense: Tense = "past" if rng.random() < 0.7 else "present"
    en_verb, fr_verb = _verb_group(verb, subject, tense, polarity == "neg")
    en_prep_words, fr_prep_words = _place_preposition(place_noun, en_prep, fr_prep)
    en = subject.en + en_verb + en_prep_words + place.en
    fr = subject.fr + fr_verb + fr_prep_words + place.fr
    reasons = reason_words.split()
    if verb_en in ("leave", "stay", "enter"):  # "did not stay in the tower because it was too far" makes no sense
        reasons = [reason for reason in reasons if reason not in ("far", "close")]
    antecedent = subject if role == "subject" else place
    # "very hungry" but "open", "empty", "dry": degree words only where they read naturally.
    degree = "too" if polarity == "neg" else (rng.choice(("", "very")) if role == "subject" else "")
    return _because(en, fr, antecedent, rng.choice(reasons), tense, degree)


def _random_spec(rng: random.Random) -> _CorefSpec:
    role = "subject" if rng.random() < 0.5 else "object"
    return _CorefSpec(role, "m" if rng.random() < 0.5 else "f", "pl" if rng.random() < 0.3 else "sg")


def _gender_for(spec: _CorefSpec | None, role: str) -> Gender | None:
    """The antecedent gets the spec's gender, the other noun the opposite one."""
    if spec is None:
        return None
    return spec.gender if spec.role == role else ("f" if spec.gender == "m" else "m")


def _fit_coreference(rng: random.Random, spec: _CorefSpec | None) -> tuple[list[str], list[str], list[str]]:
    """"The ball did not fit in the box because it was too big (le ballon) / too small (la boîte)."""
    role = spec.role if spec else rng.choice(("subject", "object"))
    thing_noun = _coref_noun(rng, frozenset({"fits"}), _gender_for(spec, "subject"))
    container_noun = _coref_noun(rng, frozenset({"container"}), _gender_for(spec, "object"))  # never a "fits" noun
    numbers = (spec.number, spec.number) if spec else tuple(
        "pl" if rng.random() < 0.3 else "sg" for _ in range(2))
    thing = _noun_phrase(rng, thing_noun, number=numbers[0], determiners=("the", "this", "poss"),
                         adjectives=False)
    container = _noun_phrase(rng, container_noun, number=numbers[1], determiners=("the", "this", "poss"),
                             adjectives=False)
    tense: Tense = "past" if rng.random() < 0.7 else "present"
    plural = thing.number == "pl"
    if tense == "past":
        en_verb, fr_verb = ["did", "not", "fit"], ["ne", "tenaient" if plural else "tenait", "pas"]
    else:
        en_verb = ["do" if plural else "does", "not", "fit"]
        fr_verb = ["ne", FIT_VERB.present[4 if plural else 1], "pas"]
    en = thing.en + en_verb + ["in"] + container.en
    fr = thing.fr + fr_verb + ["dans"] + container.fr
    antecedent = thing if role == "subject" else container
    return _because(en, fr, antecedent, rng.choice(FIT_REASONS[role].split()), tense, "too")


def _because(en: list[str], fr: list[str], antecedent: _Phrase, reason: str, tense: Tense,
             degree: str) -> tuple[list[str], list[str], list[str]]:
    """Append "because it was too ADJ" with the pronoun of the antecedent, and its contrast."""
    versions = []
    for gender in (antecedent.gender, "f" if antecedent.gender == "m" else "m"):
        pronoun = _Phrase([], [_FR_PRONOUN[gender, antecedent.number]], gender, antecedent.number, "")
        en_pred, fr_pred = _predicate(pronoun, reason, tense, negated=False, degree=degree)
        versions.append(fr + ["parce", "que", pronoun.fr[0]] + fr_pred)
    en_it = "it" if antecedent.number == "sg" else "they"
    return en + ["because", en_it] + en_pred, versions[0], versions[1]


# ---------------------------------------------------------------------------
# Corpus.
# ---------------------------------------------------------------------------

_TEMPLATES = (_transitive, _ditransitive, _motion, _intransitive, _copula, _existential, _relative, None)
# Coreference (None) is 20% of the corpus so that a small model sees enough of it.
_TEMPLATE_WEIGHTS = (24, 6, 10, 8, 10, 5, 17, 20)


def _sentence(rng: random.Random) -> tuple[str, str]:
    template = rng.choices(_TEMPLATES, _TEMPLATE_WEIGHTS)[0]
    if template is None:
        # With two nouns of one gender any pronoun heuristic is right; most training sentences
        # pit a masculine against a feminine noun, as the contrastive test does.
        en, fr, _ = _coreference(rng, _random_spec(rng) if rng.random() < 0.7 else None)
    else:
        en, fr = template(rng)
    return _english_text(en), _french_text(fr)


def _check_size(key: str, size: object) -> int:
    """`key` is the config key users set (data.sample_sizes.train, data.pronoun_test_size)."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise NMTError(f"{key}={size!r} is not a whole number >= 0; set it to a count of sentence pairs "
                       f"such as {DEFAULT_SIZES.get(key.rpartition('.')[2], DEFAULT_PRONOUN_SIZE)}")
    return size


def _draw_unique(rng: random.Random, key: str, size: int, seen: set[str],
                 make: Callable[[random.Random], PairT]) -> list[PairT]:
    """Draw `size` items whose source is not in `seen` (and add them to it)."""
    items: list[PairT] = []
    attempts = 0
    limit = 50 * size + 1000
    while len(items) < size:
        item = make(rng)
        attempts += 1
        if item[0] not in seen:
            seen.add(item[0])
            items.append(item)
        elif attempts > limit:
            raise NMTError(f"{key}={size} asks for more distinct sentences than the sample grammar "
                           f"yields ({len(items)} after {attempts} draws); lower it")
    return items


def generate_splits(*, sizes: Mapping[str, int], seed: int) -> dict[str, list[tuple[str, str]]]:
    """Disjoint (English, French) splits, e.g. sizes={"train": 20000, "validation": 1000, "test": 1000}.

    Every split but "train" is drawn first, in sorted order, each from its own stream seeded by
    (seed, split name); "train" comes last and skips their sentences. Evaluation splits therefore do
    not change when the training size does, and no source sentence (nor `DEMO_SENTENCE`) is in two
    splits. Same seed, same corpus.
    """
    sizes = {name: _check_size(f"data.sample_sizes.{name}", size) for name, size in sizes.items()}
    seen = {DEMO_SENTENCE}
    splits: dict[str, list[tuple[str, str]]] = {}
    for name in sorted(sizes, key=lambda n: (n == "train", n)):
        rng = random.Random(f"nmt-sample:{seed}:{name}")
        splits[name] = _draw_unique(rng, f"data.sample_sizes.{name}", sizes[name], seen, _sentence)
    return {name: splits[name] for name in sizes}


def generate_pairs(*, size: int, seed: int) -> list[tuple[str, str]]:
    """`size` distinct (English, French) pairs: one split of `generate_splits`."""
    return generate_splits(sizes={"train": size}, seed=seed)["train"]


def generate_pronoun_pairs(*, size: int = DEFAULT_PRONOUN_SIZE, seed: int,
                           exclude: Collection[str] = frozenset()) -> list[tuple[str, str, str]]:
    """Contrastive pronoun test: (English, correct French, French with the pronoun of the wrong gender).

    Both nouns have the same number and opposite genders, so only the noun the predicate points
    to gives the right pronoun. Pairs cycle through il/elle/ils/elles x subject/object antecedent,
    so the 8 cells are balanced to within one pair. Sources in `exclude` (pass the training
    sources) and `DEMO_SENTENCE` are never used.
    """
    size = _check_size("data.pronoun_test_size", size)
    rng = random.Random(f"nmt-sample-pronouns:{seed}")
    seen = set(exclude) | {DEMO_SENTENCE}
    cells = [(role, gender, number) for gender, number in _PRONOUN_CELLS for role in ("subject", "object")]
    pairs: list[tuple[str, str, str]] = []
    for index in range(size):
        spec = _CorefSpec(*cells[index % len(cells)])
        pairs += _draw_unique(rng, "data.pronoun_test_size", 1, seen, partial(_pronoun_pair, spec=spec))
    return pairs


def _pronoun_pair(rng: random.Random, spec: _CorefSpec) -> tuple[str, str, str]:
    en, fr, contrast = _coreference(rng, spec)
    return _english_text(en), _french_text(fr), _french_text(contrast)
