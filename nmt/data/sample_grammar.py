"""Sentence templates of the bundled English→French grammar (`nmt.data.sample`).

Each template draws one sentence as a `Bitext` (English words, French words and the links
between them) from the phrases of `nmt.data.sample_phrases`: transitive, ditransitive,
motion, intransitive, copula, existential ("il n'y a pas de chats") and relative clauses
(*qui*, *que*). The coreference template ("The cow did not cross the bridge because it was
too tired") also returns the French with the pronoun of the other gender and where the
antecedent's head noun and the pronoun stand in the English; a `CorefSpec` fixes the
antecedent's role, gender and number. `sentence`, `aligned_sentence` and `pronoun_pair`, at
the end, turn them into a corpus pair (with its gold word alignment) and a contrastive item.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal, NamedTuple

from nmt.data.sample_alignment import Bitext, WordAlignment, bitext, token_alignment, word_for_word
from nmt.data.sample_lexicon import (
    AVOIR_PREDICATES,
    COREF_VERBS,
    DEFINITE_ONLY,
    DITRANSITIVE_VERBS,
    FIT_REASONS,
    FIT_VERB,
    INTRANSITIVE_VERBS,
    MOTION_VERBS,
    NOUNS,
    PLACE_REASONS,
    SUBJECT_REASONS,
    TRANSITIVE_VERBS,
    VERB_BY_EN,
    Gender,
    Noun,
    Number,
    Verb,
    nouns_with,
    predicative,
    verbs_taking,
)
from nmt.data.sample_phrases import (
    DETERMINERS,
    Phrase,
    Tense,
    do_not,
    english_text,
    french_text,
    french_token_of_word,
    location,
    noun_phrase,
    place_preposition,
    predicate,
    pronoun_phrase,
    subject_phrase,
    tense_and_polarity,
    verb_group,
)

# ---------------------------------------------------------------------------
# Sentence templates: each returns the sentence as a Bitext.
# ---------------------------------------------------------------------------


def _object_phrase(rng: random.Random, verb: Verb, negated: bool) -> Phrase:
    noun = rng.choice(nouns_with(verb.objects))
    dets = ("the", "this", "poss", "gen") if verb.en[0] in DEFINITE_ONLY else DETERMINERS
    return noun_phrase(rng, noun, determiners=dets, negated=negated)


def _transitive(rng: random.Random) -> Bitext:
    verb = rng.choice(TRANSITIVE_VERBS)
    subject = subject_phrase(rng, verb.subjects)
    tense, negated = tense_and_polarity(rng)
    obj = _object_phrase(rng, verb, negated)
    words = subject + verb_group(verb, subject, tense, negated) + obj
    if rng.random() < 0.3:
        words += location(rng)
    return words


def _ditransitive(rng: random.Random) -> Bitext:
    verb, recipients = rng.choice(DITRANSITIVE_VERBS)
    subject = subject_phrase(rng, verb.subjects)
    tense, negated = tense_and_polarity(rng)
    obj = noun_phrase(rng, rng.choice(nouns_with(verb.objects, countable_only=True)), negated=negated)
    recipient = noun_phrase(rng, rng.choice(nouns_with(recipients)),
                             determiners=("the", "this", "poss"), adjectives=rng.random() < 0.3)
    return subject + verb_group(verb, subject, tense, negated) + obj + word_for_word(["to"], ["à"]) + recipient


def _to_place(verb: Bitext, preposition: Bitext) -> Bitext:
    """Verb group and preposition. In "entered the house" / "est entré dans la maison" English has
    no preposition: "dans" goes with the verb (a possible link)."""
    words = verb + preposition
    if preposition.fr and not preposition.en:
        words = words.with_links(possible=((len(verb.en) - 1, len(verb.fr)),))
    return words


def _motion_clause(rng: random.Random, subject: Phrase, tense: Tense, negated: bool) -> Bitext:
    """"went to the market" / "est allée au marché" (être: the participle agrees with the subject)."""
    verb, en_prep, fr_prep = rng.choice(MOTION_VERBS)
    place_noun = rng.choice(nouns_with(verb.objects))
    place = noun_phrase(rng, place_noun, determiners=("the", "this", "poss", "gen"), adjectives=rng.random() < 0.3)
    preposition = place_preposition(place_noun, en_prep, fr_prep)
    return _to_place(verb_group(verb, subject, tense, negated), preposition) + place


def _motion(rng: random.Random) -> Bitext:
    subject = subject_phrase(rng, frozenset({"animate"}), pronouns=("he", "she"), pronoun_rate=0.15)
    tense, negated = tense_and_polarity(rng, 0.25)
    return subject + _motion_clause(rng, subject, tense, negated)


def _intransitive(rng: random.Random) -> Bitext:
    verb = rng.choice(INTRANSITIVE_VERBS)
    subject = subject_phrase(rng, verb.subjects)
    tense, negated = tense_and_polarity(rng, 0.2)
    words = subject + verb_group(verb, subject, tense, negated)
    if rng.random() < 0.25:  # every intransitive subject is animate, so it can have company
        companion = noun_phrase(rng, rng.choice(nouns_with(frozenset({"animate"}))),
                                 determiners=("the", "a", "poss", "this"), adjectives=False)
        words += word_for_word(["with"], ["avec"]) + companion
    return words + location(rng)


def _copula(rng: random.Random) -> Bitext:
    """"The old houses were not very big." / "She is hungry." (elle a faim)."""
    tense, negated = tense_and_polarity(rng, 0.25)
    if rng.random() < 0.15:
        subject = pronoun_phrase(rng.choice(("he", "she")))
        noun = rng.choice(nouns_with(frozenset({"person"})))
    else:
        noun = rng.choice(NOUNS)
        subject = noun_phrase(rng, noun, determiners=("the", "this", "poss", "gen", "num"),
                               adjectives=rng.random() < 0.4)
    words: Bitext = subject
    if "thing" in noun.tags and rng.random() < 0.2:
        words += location(rng)  # "the book on the table" / "le livre sur la table"
    choices = [a.en for a in predicative(noun)]
    if "animate" in noun.tags:
        choices += list(AVOIR_PREDICATES)
    degree = rng.choice(("", "", "very", "too"))
    return words + predicate(subject, rng.choice(choices), tense, negated, degree)


def _existential(rng: random.Random) -> Bitext:
    """"There are no cats in the garden." / "Il n'y a pas de chats dans le jardin."."""
    tense, negated = tense_and_polarity(rng, 0.3)
    noun = rng.choice(nouns_with(frozenset({"animate", "thing", "food"}), countable_only=True))
    number: Number = "pl" if rng.random() < 0.4 else "sg"
    dets = ("a", "some") if negated else ("a", "some", "num")
    thing = noun_phrase(rng, noun, number=number, determiners=dets, negated=negated)
    plural = number == "pl"
    en_be = ("are" if plural else "is") if tense == "present" else ("were" if plural else "was")
    fr_verb = "a" if tense == "present" else "avait"
    # "there is" / "il y a" correspond as a whole: is-a sure, every other pair possible.
    if negated:  # "no" is the determiner (its links to "de") and the negation ne … pas
        there = bitext(["there", en_be], ["il", "ne", "y", fr_verb, "pas"], sure=((1, 3),),
                       possible=((0, 0), (0, 2), (1, 0), (1, 2)))
        no = len(there.en)
        words = (there + Bitext(["no"] + thing.en[1:], thing.fr, thing.links, thing.parts)).with_links(
            sure=((no, 4),), possible=((no, 1),))
    else:
        there = bitext(["there", en_be], ["il", "y", fr_verb], sure=((1, 2),), possible=((0, 0), (0, 1), (1, 0), (1, 1)))
        words = there + thing
    return words + location(rng)


_RELATIVE_HEADS = frozenset({"thing", "animal", "person", "food"})


def _relative(rng: random.Random) -> Bitext:
    """A relative clause on the subject (qui / que) or on the object (que)."""
    roll = rng.random()
    if roll >= 0.7:  # "The boy found the key that the girl lost."
        return _object_relative_on_object(rng)
    head, clause = _subject_relative(rng) if roll < 0.45 else _object_relative(rng, _RELATIVE_HEADS)
    if 0.25 <= roll < 0.45:  # "The girl who saw the dog went to the station."
        tense, negated = tense_and_polarity(rng, 0.2)
        main = _motion_clause(rng, head, tense, negated)
    else:  # "The girl who saw the dog was very happy." / "The cake that he bought is good."
        tense, negated = tense_and_polarity(rng, 0.25)
        choices = [a.en for a in predicative(head.noun) if a.group != "predicate"]
        main = predicate(head, rng.choice(choices), tense, negated, rng.choice(("", "very")))
    return head + clause + main


def _subject_relative(rng: random.Random) -> tuple[Phrase, Bitext]:
    """"the girl who saw the dog" / "la fille qui a vu le chien" (the verb agrees with the head)."""
    tense, negated = tense_and_polarity(rng, 0.15)
    if rng.random() < 0.3:
        head = noun_phrase(rng, rng.choice(nouns_with(frozenset({"animate"}))), adjectives=False)
        rest = _motion_clause(rng, head, tense, negated)
    else:
        verb = rng.choice(TRANSITIVE_VERBS)
        head = noun_phrase(rng, rng.choice(nouns_with(verb.subjects)), adjectives=False)
        obj = noun_phrase(rng, rng.choice(nouns_with(verb.objects)), adjectives=rng.random() < 0.3,
                           determiners=("the", "a", "this", "poss"), negated=negated)
        rest = verb_group(verb, head, tense, negated) + obj
    who = "who" if "person" in head.noun.tags else "that"
    return head, word_for_word([who], ["qui"]) + rest


def _object_relative(rng: random.Random, head_tags: frozenset[str]) -> tuple[Phrase, Bitext]:
    """"the apple that she ate" / "la pomme qu'elle a mangée" (participle agrees with the head)."""
    verb = rng.choice(verbs_taking(head_tags))
    head = noun_phrase(rng, rng.choice(nouns_with(verb.objects & head_tags, countable_only=True)),
                        determiners=("the", "this", "poss"), adjectives=rng.random() < 0.4)
    subject = subject_phrase(rng, verb.subjects, pronoun_rate=0.3)
    tense, negated = tense_and_polarity(rng, 0.15)
    group = verb_group(verb, subject, tense, negated, agree_with=head)
    return head, word_for_word(["that"], ["que"]) + subject + group


def _object_relative_on_object(rng: random.Random) -> Bitext:
    head, clause = _object_relative(rng, _RELATIVE_HEADS)
    verb = rng.choice(verbs_taking(head.noun.tags))
    subject = subject_phrase(rng, verb.subjects)
    tense, negated = tense_and_polarity(rng, 0.2)
    return subject + verb_group(verb, subject, tense, negated) + head + clause


# ---------------------------------------------------------------------------
# Coreference.
# ---------------------------------------------------------------------------

PRONOUN_CELLS = (("m", "sg"), ("f", "sg"), ("m", "pl"), ("f", "pl"))  # il, elle, ils, elles
_FR_PRONOUN = {("m", "sg"): "il", ("f", "sg"): "elle", ("m", "pl"): "ils", ("f", "pl"): "elles"}


@dataclass(frozen=True, slots=True)
class CorefSpec:
    """Constraints for a contrastive pair: the antecedent's role, gender and number."""

    role: Literal["subject", "object"]
    gender: Gender
    number: Number


def _coref_noun(rng: random.Random, tags: frozenset[str], gender: Gender | None) -> Noun:
    nouns = nouns_with(tags, countable_only=True)
    if gender is not None:
        nouns = tuple(n for n in nouns if n.gender == gender)
    return rng.choice(nouns)


class Coreference(NamedTuple):
    """A coreference sentence, its French with the other pronoun, and where the English refers."""

    words: Bitext  # with the pronoun the antecedent asks for
    contrast: list[str]  # French words with the pronoun (and its agreeing word) of the other gender
    antecedent: int  # English word index of the antecedent's head noun
    pronoun: int  # English word index of "it" / "they"


def _coreference(rng: random.Random, spec: CorefSpec | None = None) -> Coreference:
    """"The cat did not cross the street because it was too tired." (antecedent: the cat)."""
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
    subject = noun_phrase(rng, animal, number=numbers[0], determiners=("the", "a", "this", "poss", "gen"),
                           adjectives=rng.random() < 0.3)
    place = noun_phrase(rng, place_noun, number=numbers[1], determiners=("the", "this"), adjectives=False)
    tense: Tense = "past" if rng.random() < 0.7 else "present"
    group = verb_group(verb, subject, tense, polarity == "neg")
    clause = subject + _to_place(group, place_preposition(place_noun, en_prep, fr_prep)) + place
    reasons = reason_words.split()
    if verb_en in ("leave", "stay", "enter"):  # "did not stay in the tower because it was too far" makes no sense
        reasons = [reason for reason in reasons if reason not in ("far", "close")]
    # English puts a phrase's head noun last, and the place ends the clause.
    antecedent, head = (subject, len(subject.en) - 1) if role == "subject" else (place, len(clause.en) - 1)
    # "very hungry" but "open", "empty", "dry": degree words only where they read naturally.
    degree = "too" if polarity == "neg" else (rng.choice(("", "very")) if role == "subject" else "")
    return _because(clause, antecedent, head, rng.choice(reasons), tense, degree)


def _random_spec(rng: random.Random) -> CorefSpec:
    role = "subject" if rng.random() < 0.5 else "object"
    return CorefSpec(role, "m" if rng.random() < 0.5 else "f", "pl" if rng.random() < 0.3 else "sg")


def _gender_for(spec: CorefSpec | None, role: str) -> Gender | None:
    """The antecedent gets the spec's gender, the other noun the opposite one."""
    if spec is None:
        return None
    return spec.gender if spec.role == role else ("f" if spec.gender == "m" else "m")


def _fit_coreference(rng: random.Random, spec: CorefSpec | None) -> Coreference:
    """"The ball did not fit in the box because it was too big (le ballon) / too small (la boîte)."""
    role = spec.role if spec else rng.choice(("subject", "object"))
    thing_noun = _coref_noun(rng, frozenset({"fits"}), _gender_for(spec, "subject"))
    container_noun = _coref_noun(rng, frozenset({"container"}), _gender_for(spec, "object"))  # never a "fits" noun
    numbers = (spec.number, spec.number) if spec else tuple(
        "pl" if rng.random() < 0.3 else "sg" for _ in range(2))
    thing = noun_phrase(rng, thing_noun, number=numbers[0], determiners=("the", "this", "poss"),
                         adjectives=False)
    container = noun_phrase(rng, container_noun, number=numbers[1], determiners=("the", "this", "poss"),
                             adjectives=False)
    tense: Tense = "past" if rng.random() < 0.7 else "present"
    plural = thing.number == "pl"
    if tense == "past":  # "did not fit" / "ne tenait pas": the imparfait, shaped like "does not fit"
        verb = do_not("did", "fit", "tenaient" if plural else "tenait")
    else:
        verb = do_not("do" if plural else "does", "fit", FIT_VERB.present[4 if plural else 1])
    clause = thing + verb + word_for_word(["in"], ["dans"]) + container
    antecedent, head = (thing, len(thing.en) - 1) if role == "subject" else (container, len(clause.en) - 1)
    return _because(clause, antecedent, head, rng.choice(FIT_REASONS[role].split()), tense, "too")


def _because(clause: Bitext, antecedent: Phrase, head: int, reason: str, tense: Tense,
             degree: str) -> Coreference:
    """Append "because it was too ADJ" with the pronoun of the antecedent (head noun at English
    word `head`), and the French with the pronoun of the other gender."""
    versions = []
    for gender in (antecedent.gender, "f" if antecedent.gender == "m" else "m"):
        pronoun = Phrase([], [_FR_PRONOUN[gender, antecedent.number]], (), (), gender, antecedent.number, "")
        because = bitext(["because", "it" if antecedent.number == "sg" else "they"], ["parce", "que", pronoun.fr[0]],
                         sure=((0, 0), (0, 1), (1, 2)))  # parce que: two French words for "because"
        versions.append(clause + because + predicate(pronoun, reason, tense, negated=False, degree=degree))
    return Coreference(versions[0], versions[1].fr, head, len(clause.en) + 1)


# ---------------------------------------------------------------------------
# Entry points: a corpus pair and a contrastive pronoun item, as strings.
# ---------------------------------------------------------------------------

_TEMPLATES = (_transitive, _ditransitive, _motion, _intransitive, _copula, _existential, _relative, None)
# Coreference (None) is 20% of the corpus so that a small model sees enough of it.
_TEMPLATE_WEIGHTS = (24, 6, 10, 8, 10, 5, 17, 20)


class PronounPair(NamedTuple):
    """A contrastive pronoun item: antecedent / pronoun are 0-based English word indices."""

    src: str
    tgt: str
    contrast: str  # tgt with the pronoun of the other gender
    antecedent: int  # the antecedent's head noun
    pronoun: int  # "it" / "they"


def _sentence_words(rng: random.Random) -> Bitext:
    template = rng.choices(_TEMPLATES, _TEMPLATE_WEIGHTS)[0]
    if template is None:
        # With two nouns of one gender any pronoun heuristic is right; most training sentences
        # pit a masculine against a feminine noun, as the contrastive test does.
        return _coreference(rng, _random_spec(rng) if rng.random() < 0.7 else None).words
    return template(rng)


def sentence(rng: random.Random) -> tuple[str, str]:
    """One (English, French) corpus pair from a template drawn with `_TEMPLATE_WEIGHTS`."""
    words = _sentence_words(rng)
    return english_text(words.en), french_text(words.fr)


def aligned_sentence(rng: random.Random) -> tuple[str, str, WordAlignment]:
    """`sentence` (the same draws, the same pair) with its gold alignment between the tokens of the strings."""
    words = _sentence_words(rng)
    alignment = token_alignment(words.all_links(), en_token_of_word=range(len(words.en)),
                                fr_token_of_word=french_token_of_word(words.fr))
    return english_text(words.en), french_text(words.fr), alignment


def pronoun_pair(rng: random.Random, spec: CorefSpec) -> PronounPair:
    """English, correct French, French with the pronoun of the other gender, fitting `spec`."""
    item = _coreference(rng, spec)
    return PronounPair(english_text(item.words.en), french_text(item.words.fr), french_text(item.contrast),
                       item.antecedent, item.pronoun)
