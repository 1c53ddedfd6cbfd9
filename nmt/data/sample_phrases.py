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
  contraction (``l'arbre``, ``au``, ``du``) and English a/an; `french_token_of_word` says
  which token of the French text each word ends up in.

Every piece is a `Bitext` (`nmt.data.sample_alignment`): English and French words with the
links between them, so a sentence carries its gold word alignment by construction. A
`Phrase` is a noun phrase or pronoun with the gender, number and person that agreement
needs. Every random choice goes through the ``random.Random`` passed in, so the order of the
calls here is part of what a seed generates.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from nmt.data.sample_alignment import Bitext, bitext, word_for_word
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


def _elide_and_contract(words: list[str], out_of_word: list[int] | None = None) -> list[str]:
    """French words after elision (le arbre -> l' arbre) then contraction (à le -> au); when
    `out_of_word` is given, it receives the index in the result of each of `words`."""
    out: list[str] = []
    for i, word in enumerate(words):
        if word in _ELISIONS and i + 1 < len(words) and _starts_with_vowel(words[i + 1]):
            word = _ELISIONS[word]
        if out and (out[-1], word) in _CONTRACTIONS:
            out[-1] = _CONTRACTIONS[out[-1], word]
        else:
            out.append(word)
        if out_of_word is not None:
            out_of_word.append(len(out) - 1)
    return out


def french_text(words: list[str]) -> str:
    """Join French words with elision and contraction; an elided word is written onto the next (l'arbre)."""
    text = " ".join(_elide_and_contract(words)).replace("' ", "'")
    return text[0].upper() + text[1:] + "."


def french_token_of_word(words: list[str]) -> list[int]:
    """For each of `words`, the whitespace-separated token of `french_text(words)` it ends up in
    ("ne a" -> "n'a", "à le" -> "au": two words, one token)."""
    out_of_word: list[int] = []
    out = _elide_and_contract(words, out_of_word)
    token_of_out = []
    token = -1
    for k, word in enumerate(out):
        if k == 0 or not out[k - 1].endswith("'"):
            token += 1
        token_of_out.append(token)
    return [token_of_out[k] for k in out_of_word]


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


@dataclass(slots=True)
class Phrase(Bitext):
    """A noun phrase or subject pronoun in both languages, with what French agreement needs.
    English puts the head noun (or the pronoun) last."""

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


# Adjectives and noun, by (adjective before, adjective after): English "small red cars",
# French "petites voitures rouges"; every adjective and the noun is a sure link.
_NOUN_LINKS = {
    (False, False): ((0, 0, True),),
    (True, False): ((0, 0, True), (1, 1, True)),
    (False, True): ((0, 1, True), (1, 0, True)),
    (True, True): ((0, 0, True), (1, 2, True), (2, 1, True)),
}


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
    words, possessor = _determiner(rng, determiner, noun, number, negated, pre is not None)
    en_words, fr_words = [noun.form(number, "en")], [noun.form(number, "fr")]
    if post is not None:  # "red cars" / "voitures rouges"
        en_words.insert(0, post.en)
        fr_words.append(post.fr(gender, number))
    if pre is not None:
        liaison = pre.liaison and gender == "m" and number == "sg" and _starts_with_vowel(fr_words[0])
        en_words.insert(0, pre.en)
        fr_words.insert(0, pre.liaison if liaison else pre.fr(gender, number))
    words += Bitext(en_words, fr_words, _NOUN_LINKS[pre is not None, post is not None], ())
    if possessor is not None:
        words = _genitive(possessor, words)
    return Phrase(words.en, words.fr, words.links, words.parts, gender, number, "3s" if number == "sg" else "3p", noun)


def _genitive(possessor: Phrase, possessed: Bitext) -> Bitext:
    """"the girl's dog" / "le chien de la fille": the possessor comes first in English, last in French.
    "girl's" stands for the article and the "de" that French adds (possible links)."""
    owner, de = len(possessor.en) - 1, len(possessed.fr)
    return Bitext(possessor.en + possessed.en, possessed.fr + ["de"] + possessor.fr,
                  ((owner, 0, False), (owner, de, False)), ((0, de + 1, possessor), (len(possessor.en), 0, possessed)))


def _pick_adjectives(rng: random.Random, noun: Noun) -> tuple[Adjective | None, Adjective | None]:
    """None, one before, one after, or one of each (English order: size/age before colour/origin)."""
    roll = rng.random()
    pre = attributive(noun, "pre") if roll >= 0.5 and (roll < 0.65 or roll >= 0.9) else ()
    post = attributive(noun, "post") if 0.65 <= roll < 0.8 or roll >= 0.9 else ()
    if 0.8 <= roll < 0.9:
        post = attributive(noun, "state")
    return (rng.choice(pre) if pre else None), (rng.choice(post) if post else None)


def _determiner(rng: random.Random, determiner: str, noun: Noun, number: Number, negated: bool,
                has_pre_adjective: bool) -> tuple[Bitext, Phrase | None]:
    """English and French determiner words, and the possessor phrase of "the girl's dog"."""
    index = 2 if number == "pl" else (noun.gender == "f")
    if determiner == "the":
        return word_for_word(["the"], [("le", "la", "les")[index]]), None
    if determiner == "a":
        if negated:  # "did not eat a cake" / "n'a pas mangé de gâteau"
            return bitext(["a"], ["de"], possible=((0, 0),)), None
        return word_for_word(["a"], [("un", "une")[index]]), None
    if determiner == "some":
        if negated:  # "pas de lait", "pas de chats"
            return bitext(["any"], ["de"], possible=((0, 0),)), None
        if number == "pl":  # "des chats", but "de petits chats"
            return word_for_word(["some"], ["de" if has_pre_adjective else "des"]), None
        # du pain, de la soupe, de l'eau: two French words for one English one
        return bitext(["some"], ["de", ("le", "la")[index]], possible=((0, 0), (0, 1))), None
    if determiner == "this":
        return word_for_word([("this", "this", "these")[index]], [("ce", "cette", "ces")[index]]), None
    if determiner == "poss":
        en = rng.choice(tuple(POSSESSIVES))
        return word_for_word([en], [POSSESSIVES[en][index]]), None
    if determiner == "num":
        en = rng.choice(tuple(NUMERALS))
        return word_for_word([en], [NUMERALS[en]]), None
    owner_tags = frozenset({"person", "animal"} if "thing" in noun.tags else {"person"})
    owner = rng.choice(nouns_with(owner_tags))
    owner_number: Number = "pl" if rng.random() < 0.2 else "sg"
    owner_en = owner.form(owner_number, "en")
    owner_en += "'" if owner_number == "pl" and owner_en.endswith("s") else "'s"  # the girls' / the actress's
    owner_fr = [("le", "la", "les")[2 if owner_number == "pl" else (owner.gender == "f")],
                owner.form(owner_number, "fr")]
    possessor = word_for_word(["the", owner_en], owner_fr)
    return (bitext([], [("le", "la", "les")[index]]),
            Phrase(possessor.en, possessor.fr, possessor.links, (), owner.gender, owner_number, ""))


def pronoun_phrase(en: str) -> Phrase:
    fr, person, gender = PRONOUNS[en]
    number: Number = "sg" if person[1] == "s" else "pl"
    return Phrase([en], [fr], ((0, 0, True),), (), gender, number, person)  # type: ignore[arg-type]


def subject_phrase(rng: random.Random, tags: frozenset[str], *, pronouns: tuple[str, ...] = ("I", "you", "we", "he", "she"),
             pronoun_rate: float = 0.2) -> Phrase:
    """A subject fitting the verb: mostly a noun phrase, sometimes a pronoun (I/you/we avoid agreement)."""
    if "person" in tags or "animate" in tags:
        if rng.random() < pronoun_rate:
            return pronoun_phrase(rng.choice(pronouns))
    return noun_phrase(rng, rng.choice(nouns_with(tags, countable_only=True)))


def do_not(en_do: str, en_verb: str, fr_verb: str) -> Bitext:
    """"does not drink" / "ne boit pas": not-pas and drink-boit sure; does-boit and not-ne possible."""
    return bitext([en_do, "not", en_verb], ["ne", fr_verb, "pas"], sure=((1, 2), (2, 1)), possible=((0, 1), (1, 0)))


def verb_group(verb: Verb, subject: Phrase, tense: Tense, negated: bool, *,
                agree_with: Phrase | None = None) -> Bitext:
    """Conjugated verb with negation and the English particle ("wait for"); participles agree with
    an être subject or `agree_with` (a direct object placed before the verb: "la pomme qu'il a mangée")."""
    i = PERSONS.index(subject.person)
    third = subject.person == "3s"
    if tense == "present":
        if negated:
            words = do_not("does" if third else "do", verb.en[0], verb.present[i])
        else:
            words = word_for_word([verb.en[1] if third else verb.en[0]], [verb.present[i]])
    else:
        aux = (ETRE if verb.aux == "être" else AVOIR)[i]
        target = subject if verb.aux == "être" else agree_with
        participle = verb.participle if target is None else _agree(verb.participle, target.gender, target.number)
        if negated:  # "did not cross" / "n'a pas traversé": did-a and not-ne possible
            words = bitext(["did", "not", verb.en[0]], ["ne", aux, "pas", participle],
                           sure=((1, 2), (2, 3)), possible=((0, 1), (1, 0)))
        else:  # "crossed" / "a traversé": the auxiliary carries the tense of "crossed"
            words = bitext([verb.en[2]], [aux, participle], sure=((0, 1),), possible=((0, 0),))
    if verb.particle:  # "waited for" / "a attendu": the particle goes with the French verb
        lexical = len(words.en) - 1
        french_verb = next(fr for en, fr, sure in words.all_links() if sure and en == lexical)
        words = Bitext(words.en + [verb.particle], words.fr, ((lexical + 1, french_verb, False),), ((0, 0, words),))
    return words


def _be(subject: Phrase, tense: Tense, negated: bool, *, avoir: bool = False) -> Bitext:
    """Third-person "is/was" as être (or avoir, possible links: "il a faim"), present or imparfait."""
    plural = subject.number == "pl"
    en = [("are" if plural else "is") if tense == "present" else ("were" if plural else "was")]
    table = (AVOIR if tense == "present" else AVOIR_IMPARFAIT) if avoir else (
        ETRE if tense == "present" else ETRE_IMPARFAIT)
    fr = table[4 if plural else 1]
    be = ((0, 1 if negated else 0),)  # is-est sure; is~a possible ("is hungry" / "a faim" go as a whole)
    sure, possible = ((), be) if avoir else (be, ())
    if negated:
        return bitext(en + ["not"], ["ne", fr, "pas"], sure=sure + ((1, 2),), possible=possible + ((1, 0),))
    return bitext(en, [fr], sure=sure, possible=possible)


def predicate(subject: Phrase, word: str, tense: Tense, negated: bool,
               degree: str = "") -> Bitext:
    """"is (not) (very|too) ADJ": an agreeing adjective, or avoir + noun for hungry/thirsty/scared."""
    avoir = word in AVOIR_PREDICATES
    words = _be(subject, tense, negated, avoir=avoir)
    if degree:
        words += word_for_word([degree], [{"very": "très", "too": "trop"}[degree]])
    fr_word = AVOIR_PREDICATES[word] if avoir else ADJECTIVE_BY_EN[word].fr(subject.gender, subject.number)
    words += word_for_word([word], [fr_word])
    if avoir:  # "is hungry" / "a faim" correspond as a whole
        words = words.with_links(possible=((len(words.en) - 1, 1 if negated else 0),))
    return words


def place_preposition(place: Noun, en: str, fr: str) -> Bitext:
    if en == "@":  # the place's own preposition: in the garden / on the bridge
        return word_for_word(["on"], ["sur"]) if "on" in place.tags else word_for_word(["in"], ["dans"])
    return bitext([en] if en else [], [fr] if fr else [], sure=((0, 0),) if en and fr else ())


# How the words of the LOCATIONS prepositions correspond: (sure, possible) links by English preposition.
_LOCATION_LINKS = {
    "near": (((0, 0),), ((0, 1),)),  # près de
    "next to": (((0, 1),), ((0, 0), (0, 2), (1, 0), (1, 2))),  # à côté de
    "behind": (((0, 0),), ()),  # derrière
    "in front of": (((1, 0),), ((0, 0), (2, 0))),  # devant
    "far from": (((0, 0), (1, 1)), ()),  # loin de
    "under": (((0, 0),), ()),  # sous
}


def location(rng: random.Random) -> Bitext:
    """"in the garden", "near the station" (près de la gare), "far from the markets" (loin des marchés)."""
    if rng.random() < 0.5:
        place = rng.choice(nouns_with(frozenset({"place"})))
        preposition = place_preposition(place, "@", "@")
    else:
        en_prep, fr_prep, tags = rng.choice(LOCATIONS)
        place = rng.choice(nouns_with(frozenset(tags.split()), countable_only=True))
        sure, possible = _LOCATION_LINKS[en_prep]
        preposition = bitext(en_prep.split(), fr_prep.split(), sure=sure, possible=possible)
    np = noun_phrase(rng, place, determiners=("the", "this", "poss", "gen"), adjectives=rng.random() < 0.3)
    return preposition + np


def tense_and_polarity(rng: random.Random, negation_rate: float = 0.3) -> tuple[Tense, bool]:
    return ("past" if rng.random() < 0.5 else "present"), rng.random() < negation_rate
