"""Phrases of the bundled English→French grammar (`nmt.data.sample`): one constituent in both languages.

The sentence templates of `nmt.data.sample_grammar` are built from the pieces here:

* `noun_phrase`: a noun with a determiner (the, a, some, this, a possessive, a
  numeral or a genitive "the girl's"), up to two adjectives, and French agreement,
  ``de`` for ``des`` and ``bel``/``vieil``/``nouvel`` before a vowel; `pronoun_phrase`
  and `subject_phrase` for subjects;
* `verb_group` and `predicate`: a verb in the present or *passé composé*, with
  *ne … pas* and past-participle agreement; "is (not) (very|too) ADJ" with *être*,
  or *avoir* for hungry/thirsty/scared;
* `location` and `place_preposition`: where something is or goes;
* `french_text` and `english_text`: the finished sentence, with French elision and
  contraction (``l'arbre``, ``au``, ``du``) and English a/an.

Each phrase is a `Phrase`: its English and French words with the gender, number and
person that agreement needs. Every random choice goes through the ``random.Random``
passed in, so the order of the calls here is part of what a seed generates.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from nmt.data.sample_lexicon import (
    ADJECTIVE_BY_EN,
    AVOIR,
    AVOIR_IMPARFAIT,
    AVOIR_PREDICATES,
    ETRE,
    ETRE_IMPARFAIT,
    LOCATIONS,
    NUMERALS,
    PERSONS,
    POSSESSIVES,
    PRONOUNS,
    Adjective,
    Gender,
    Noun,
    Number,
    Verb,
    attributive,
    nouns_with,
)

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


def french_text(words: list[str]) -> str:
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


def english_text(words: list[str]) -> str:
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
class Phrase:
    """A noun phrase or subject pronoun in both languages, with what French agreement needs."""

    en: list[str]
    fr: list[str]
    gender: Gender
    number: Number
    person: str  # one of PERSONS
    noun: Noun | None = None  # None for pronouns


DETERMINERS = ("the", "a", "some", "this", "poss", "num", "gen")
_DETERMINER_WEIGHTS = {  # (countable, number) -> weights over DETERMINERS
    (True, "sg"): (55, 18, 0, 8, 12, 0, 7),
    (True, "pl"): (50, 0, 18, 7, 10, 10, 5),
    (False, "sg"): (60, 0, 40, 0, 0, 0, 0),
}


@lru_cache(maxsize=None)
def _determiner_weights(countable: bool, number: Number, allowed: tuple[str, ...]) -> tuple[int, ...]:
    """Cumulative weights over DETERMINERS, zero for those not `allowed`."""
    weights = [w if d in allowed else 0 for d, w in zip(DETERMINERS, _DETERMINER_WEIGHTS[countable, number])]
    return tuple(sum(weights[: i + 1]) for i in range(len(weights)))


def noun_phrase(rng: random.Random, noun: Noun, *, number: Number | None = None,
                 determiners: tuple[str, ...] = DETERMINERS, adjectives: bool = True,
                 negated: bool = False) -> Phrase:
    """A noun with a determiner and up to two adjectives; `negated` objects take "de" for un/des."""
    if number is None:
        number = "pl" if noun.countable and rng.random() < 0.35 else "sg"
    cum_weights = _determiner_weights(noun.countable, number, determiners)
    determiner = rng.choices(DETERMINERS, cum_weights=cum_weights)[0]
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
    return Phrase(en_words, fr_words, gender, number, "3s" if number == "sg" else "3p", noun)


def _pick_adjectives(rng: random.Random, noun: Noun) -> tuple[Adjective | None, Adjective | None]:
    """None, one before, one after, or one of each (English order: size/age before colour/origin)."""
    roll = rng.random()
    pre = attributive(noun, "pre") if roll >= 0.5 and (roll < 0.65 or roll >= 0.9) else ()
    post = attributive(noun, "post") if 0.65 <= roll < 0.8 or roll >= 0.9 else ()
    if 0.8 <= roll < 0.9:
        post = attributive(noun, "state")
    return (rng.choice(pre) if pre else None), (rng.choice(post) if post else None)


def _determiner(rng: random.Random, determiner: str, noun: Noun, number: Number, negated: bool,
                has_pre_adjective: bool) -> tuple[list[str], list[str], Phrase | None]:
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
    return [], [("le", "la", "les")[index]], Phrase(["the", owner_en], owner_fr, owner.gender, owner_number, "")


def pronoun_phrase(en: str) -> Phrase:
    fr, person, gender = PRONOUNS[en]
    return Phrase([en], [fr], gender, "sg" if person[1] == "s" else "pl", person)  # type: ignore[arg-type]


def subject_phrase(rng: random.Random, tags: frozenset[str], *, pronouns: tuple[str, ...] = ("I", "you", "we", "he", "she"),
             pronoun_rate: float = 0.2) -> Phrase:
    """A subject fitting the verb: mostly a noun phrase, sometimes a pronoun (I/you/we avoid agreement)."""
    if "person" in tags or "animate" in tags:
        if rng.random() < pronoun_rate:
            return pronoun_phrase(rng.choice(pronouns))
    return noun_phrase(rng, rng.choice(nouns_with(tags, countable_only=True)))


def verb_group(verb: Verb, subject: Phrase, tense: Tense, negated: bool, *,
                agree_with: Phrase | None = None) -> tuple[list[str], list[str]]:
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


def _be(subject: Phrase, tense: Tense, negated: bool, *, avoir: bool = False) -> tuple[list[str], list[str]]:
    """Third-person "is/was" as être (or avoir: "il a faim"), present or imparfait."""
    plural = subject.number == "pl"
    en = [("are" if plural else "is") if tense == "present" else ("were" if plural else "was")]
    table = (AVOIR if tense == "present" else AVOIR_IMPARFAIT) if avoir else (
        ETRE if tense == "present" else ETRE_IMPARFAIT)
    fr = table[4 if plural else 1]
    return (en + ["not"], ["ne", fr, "pas"]) if negated else (en, [fr])


def predicate(subject: Phrase, word: str, tense: Tense, negated: bool,
               degree: str = "") -> tuple[list[str], list[str]]:
    """"is (not) (very|too) ADJ": an agreeing adjective, or avoir + noun for hungry/thirsty/scared."""
    avoir = word in AVOIR_PREDICATES
    en, fr = _be(subject, tense, negated, avoir=avoir)
    if degree:
        en.append(degree)
        fr.append({"very": "très", "too": "trop"}[degree])
    fr_word = AVOIR_PREDICATES[word] if avoir else ADJECTIVE_BY_EN[word].fr(subject.gender, subject.number)
    return en + [word], fr + [fr_word]


def place_preposition(place: Noun, en: str, fr: str) -> tuple[list[str], list[str]]:
    if en == "@":  # the place's own preposition: in the garden / on the bridge
        return (["on"], ["sur"]) if "on" in place.tags else (["in"], ["dans"])
    return ([en] if en else []), ([fr] if fr else [])


def location(rng: random.Random) -> tuple[list[str], list[str]]:
    """"in the garden", "near the station" (près de la gare), "far from the markets" (loin des marchés)."""
    if rng.random() < 0.5:
        place = rng.choice(nouns_with(frozenset({"place"})))
        en, fr = place_preposition(place, "@", "@")
    else:
        en_prep, fr_prep, tags = rng.choice(LOCATIONS)
        place = rng.choice(nouns_with(frozenset(tags.split()), countable_only=True))
        en, fr = en_prep.split(), fr_prep.split()
    np = noun_phrase(rng, place, determiners=("the", "this", "poss", "gen"), adjectives=rng.random() < 0.3)
    return en + np.en, fr + np.fr


def tense_and_polarity(rng: random.Random, negation_rate: float = 0.3) -> tuple[Tense, bool]:
    return ("past" if rng.random() < 0.5 else "present"), rng.random() < negation_rate
