"""Sentence templates of the bundled English→French grammar (`nmt.data.sample`).

Each template draws one sentence as (English words, French words) from the phrases of
`nmt.data.sample_phrases`: transitive, ditransitive, motion, intransitive, copula,
existential ("il n'y a pas de chats") and relative clauses (*qui*, *que*). The
coreference template ("The cow did not cross the bridge because it was too tired")
also returns the French with the pronoun of the other gender; a `CorefSpec` fixes the
antecedent's role, gender and number. `sentence` and `pronoun_pair`, at the end, turn
them into a corpus pair and a contrastive triple of strings.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

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
    english_text,
    french_text,
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
# Sentence templates: each returns (English words, French words).
# ---------------------------------------------------------------------------

Words = tuple[list[str], list[str]]


def _object_phrase(rng: random.Random, verb: Verb, negated: bool) -> Phrase:
    noun = rng.choice(nouns_with(verb.objects))
    dets = ("the", "this", "poss", "gen") if verb.en[0] in DEFINITE_ONLY else DETERMINERS
    return noun_phrase(rng, noun, determiners=dets, negated=negated)


def _transitive(rng: random.Random) -> Words:
    verb = rng.choice(TRANSITIVE_VERBS)
    subject = subject_phrase(rng, verb.subjects)
    tense, negated = tense_and_polarity(rng)
    obj = _object_phrase(rng, verb, negated)
    en_verb, fr_verb = verb_group(verb, subject, tense, negated)
    en = subject.en + en_verb + ([verb.particle] if verb.particle else []) + obj.en
    fr = subject.fr + fr_verb + obj.fr
    if rng.random() < 0.3:
        en_loc, fr_loc = location(rng)
        en, fr = en + en_loc, fr + fr_loc
    return en, fr


def _ditransitive(rng: random.Random) -> Words:
    verb, recipients = rng.choice(DITRANSITIVE_VERBS)
    subject = subject_phrase(rng, verb.subjects)
    tense, negated = tense_and_polarity(rng)
    obj = noun_phrase(rng, rng.choice(nouns_with(verb.objects, countable_only=True)), negated=negated)
    recipient = noun_phrase(rng, rng.choice(nouns_with(recipients)),
                             determiners=("the", "this", "poss"), adjectives=rng.random() < 0.3)
    en_verb, fr_verb = verb_group(verb, subject, tense, negated)
    return subject.en + en_verb + obj.en + ["to"] + recipient.en, subject.fr + fr_verb + obj.fr + ["à"] + recipient.fr


def _motion_clause(rng: random.Random, subject: Phrase, tense: Tense, negated: bool) -> Words:
    """"went to the market" / "est allée au marché" (être: the participle agrees with the subject)."""
    verb, en_prep, fr_prep = rng.choice(MOTION_VERBS)
    place_noun = rng.choice(nouns_with(verb.objects))
    place = noun_phrase(rng, place_noun, determiners=("the", "this", "poss", "gen"), adjectives=rng.random() < 0.3)
    en_prep_words, fr_prep_words = place_preposition(place_noun, en_prep, fr_prep)
    en_verb, fr_verb = verb_group(verb, subject, tense, negated)
    return en_verb + en_prep_words + place.en, fr_verb + fr_prep_words + place.fr


def _motion(rng: random.Random) -> Words:
    subject = subject_phrase(rng, frozenset({"animate"}), pronouns=("he", "she"), pronoun_rate=0.15)
    tense, negated = tense_and_polarity(rng, 0.25)
    en, fr = _motion_clause(rng, subject, tense, negated)
    return subject.en + en, subject.fr + fr


def _intransitive(rng: random.Random) -> Words:
    verb = rng.choice(INTRANSITIVE_VERBS)
    subject = subject_phrase(rng, verb.subjects)
    tense, negated = tense_and_polarity(rng, 0.2)
    en_verb, fr_verb = verb_group(verb, subject, tense, negated)
    en, fr = subject.en + en_verb, subject.fr + fr_verb
    if rng.random() < 0.25:  # every intransitive subject is animate, so it can have company
        companion = noun_phrase(rng, rng.choice(nouns_with(frozenset({"animate"}))),
                                 determiners=("the", "a", "poss", "this"), adjectives=False)
        en, fr = en + ["with"] + companion.en, fr + ["avec"] + companion.fr
    en_loc, fr_loc = location(rng)
    return en + en_loc, fr + fr_loc


def _copula(rng: random.Random) -> Words:
    """"The old houses were not very big." / "She is hungry." (elle a faim)."""
    tense, negated = tense_and_polarity(rng, 0.25)
    if rng.random() < 0.15:
        subject = pronoun_phrase(rng.choice(("he", "she")))
        noun = rng.choice(nouns_with(frozenset({"person"})))
    else:
        noun = rng.choice(NOUNS)
        subject = noun_phrase(rng, noun, determiners=("the", "this", "poss", "gen", "num"),
                               adjectives=rng.random() < 0.4)
    en, fr = subject.en, subject.fr
    if "thing" in noun.tags and rng.random() < 0.2:
        en_loc, fr_loc = location(rng)  # "the book on the table" / "le livre sur la table"
        en, fr = en + en_loc, fr + fr_loc
    choices = [a.en for a in predicative(noun)]
    if "animate" in noun.tags:
        choices += list(AVOIR_PREDICATES)
    degree = rng.choice(("", "", "very", "too"))
    en_pred, fr_pred = predicate(subject, rng.choice(choices), tense, negated, degree)
    return en + en_pred, fr + fr_pred


def _existential(rng: random.Random) -> Words:
    """"There are no cats in the garden." / "Il n'y a pas de chats dans le jardin."."""
    tense, negated = tense_and_polarity(rng, 0.3)
    noun = rng.choice(nouns_with(frozenset({"animate", "thing", "food"}), countable_only=True))
    number: Number = "pl" if rng.random() < 0.4 else "sg"
    dets = ("a", "some") if negated else ("a", "some", "num")
    thing = noun_phrase(rng, noun, number=number, determiners=dets, negated=negated)
    plural = number == "pl"
    en_be = ("are" if plural else "is") if tense == "present" else ("were" if plural else "was")
    en_thing = (["no"] + thing.en[1:]) if negated else thing.en
    fr_verb = ["a"] if tense == "present" else ["avait"]
    fr = ["il", "ne", "y"] + fr_verb + ["pas"] if negated else ["il", "y"] + fr_verb
    en_loc, fr_loc = location(rng)
    return ["there", en_be] + en_thing + en_loc, fr + thing.fr + fr_loc


_RELATIVE_HEADS = frozenset({"thing", "animal", "person", "food"})


def _relative(rng: random.Random) -> Words:
    """A relative clause on the subject (qui / que) or on the object (que)."""
    roll = rng.random()
    if roll >= 0.7:  # "The boy found the key that the girl lost."
        return _object_relative_on_object(rng)
    head, en_rel, fr_rel = _subject_relative(rng) if roll < 0.45 else _object_relative(rng, _RELATIVE_HEADS)
    if 0.25 <= roll < 0.45:  # "The girl who saw the dog went to the station."
        tense, negated = tense_and_polarity(rng, 0.2)
        en_main, fr_main = _motion_clause(rng, head, tense, negated)
    else:  # "The girl who saw the dog was very happy." / "The cake that he bought is good."
        tense, negated = tense_and_polarity(rng, 0.25)
        choices = [a.en for a in predicative(head.noun) if a.group != "predicate"]
        en_main, fr_main = predicate(head, rng.choice(choices), tense, negated, rng.choice(("", "very")))
    return head.en + en_rel + en_main, head.fr + fr_rel + fr_main


def _subject_relative(rng: random.Random) -> tuple[Phrase, list[str], list[str]]:
    """"the girl who saw the dog" / "la fille qui a vu le chien" (the verb agrees with the head)."""
    tense, negated = tense_and_polarity(rng, 0.15)
    if rng.random() < 0.3:
        head = noun_phrase(rng, rng.choice(nouns_with(frozenset({"animate"}))), adjectives=False)
        en_rest, fr_rest = _motion_clause(rng, head, tense, negated)
    else:
        verb = rng.choice(TRANSITIVE_VERBS)
        head = noun_phrase(rng, rng.choice(nouns_with(verb.subjects)), adjectives=False)
        obj = noun_phrase(rng, rng.choice(nouns_with(verb.objects)), adjectives=rng.random() < 0.3,
                           determiners=("the", "a", "this", "poss"), negated=negated)
        en_verb, fr_verb = verb_group(verb, head, tense, negated)
        en_rest = en_verb + ([verb.particle] if verb.particle else []) + obj.en
        fr_rest = fr_verb + obj.fr
    who = "who" if "person" in head.noun.tags else "that"
    return head, [who] + en_rest, ["qui"] + fr_rest


def _object_relative(rng: random.Random, head_tags: frozenset[str]) -> tuple[Phrase, list[str], list[str]]:
    """"the apple that she ate" / "la pomme qu'elle a mangée" (participle agrees with the head)."""
    verb = rng.choice(verbs_taking(head_tags))
    head = noun_phrase(rng, rng.choice(nouns_with(verb.objects & head_tags, countable_only=True)),
                        determiners=("the", "this", "poss"), adjectives=rng.random() < 0.4)
    subject = subject_phrase(rng, verb.subjects, pronoun_rate=0.3)
    tense, negated = tense_and_polarity(rng, 0.15)
    en_verb, fr_verb = verb_group(verb, subject, tense, negated, agree_with=head)
    en = ["that"] + subject.en + en_verb + ([verb.particle] if verb.particle else [])
    return head, en, ["que"] + subject.fr + fr_verb


def _object_relative_on_object(rng: random.Random) -> Words:
    head, en_rel, fr_rel = _object_relative(rng, _RELATIVE_HEADS)
    verb = rng.choice(verbs_taking(head.noun.tags))
    subject = subject_phrase(rng, verb.subjects)
    tense, negated = tense_and_polarity(rng, 0.2)
    en_verb, fr_verb = verb_group(verb, subject, tense, negated)
    en = subject.en + en_verb + ([verb.particle] if verb.particle else []) + head.en + en_rel
    return en, subject.fr + fr_verb + head.fr + fr_rel


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


def _coreference(rng: random.Random, spec: CorefSpec | None = None) -> tuple[list[str], list[str], list[str]]:
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
    subject = noun_phrase(rng, animal, number=numbers[0], determiners=("the", "a", "this", "poss", "gen"),
                           adjectives=rng.random() < 0.3)
    place = noun_phrase(rng, place_noun, number=numbers[1], determiners=("the", "this"), adjectives=False)
    tense: Tense = "past" if rng.random() < 0.7 else "present"
    en_verb, fr_verb = verb_group(verb, subject, tense, polarity == "neg")
    en_prep_words, fr_prep_words = place_preposition(place_noun, en_prep, fr_prep)
    en = subject.en + en_verb + en_prep_words + place.en
    fr = subject.fr + fr_verb + fr_prep_words + place.fr
    reasons = reason_words.split()
    if verb_en in ("leave", "stay", "enter"):  # "did not stay in the tower because it was too far" makes no sense
        reasons = [reason for reason in reasons if reason not in ("far", "close")]
    antecedent = subject if role == "subject" else place
    # "very hungry" but "open", "empty", "dry": degree words only where they read naturally.
    degree = "too" if polarity == "neg" else (rng.choice(("", "very")) if role == "subject" else "")
    return _because(en, fr, antecedent, rng.choice(reasons), tense, degree)


def _random_spec(rng: random.Random) -> CorefSpec:
    role = "subject" if rng.random() < 0.5 else "object"
    return CorefSpec(role, "m" if rng.random() < 0.5 else "f", "pl" if rng.random() < 0.3 else "sg")


def _gender_for(spec: CorefSpec | None, role: str) -> Gender | None:
    """The antecedent gets the spec's gender, the other noun the opposite one."""
    if spec is None:
        return None
    return spec.gender if spec.role == role else ("f" if spec.gender == "m" else "m")


def _fit_coreference(rng: random.Random, spec: CorefSpec | None) -> tuple[list[str], list[str], list[str]]:
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
    if tense == "past":
        en_verb, fr_verb = ["did", "not", "fit"], ["ne", "tenaient" if plural else "tenait", "pas"]
    else:
        en_verb = ["do" if plural else "does", "not", "fit"]
        fr_verb = ["ne", FIT_VERB.present[4 if plural else 1], "pas"]
    en = thing.en + en_verb + ["in"] + container.en
    fr = thing.fr + fr_verb + ["dans"] + container.fr
    antecedent = thing if role == "subject" else container
    return _because(en, fr, antecedent, rng.choice(FIT_REASONS[role].split()), tense, "too")


def _because(en: list[str], fr: list[str], antecedent: Phrase, reason: str, tense: Tense,
             degree: str) -> tuple[list[str], list[str], list[str]]:
    """Append "because it was too ADJ" with the pronoun of the antecedent, and its contrast."""
    versions = []
    for gender in (antecedent.gender, "f" if antecedent.gender == "m" else "m"):
        pronoun = Phrase([], [_FR_PRONOUN[gender, antecedent.number]], gender, antecedent.number, "")
        en_pred, fr_pred = predicate(pronoun, reason, tense, negated=False, degree=degree)
        versions.append(fr + ["parce", "que", pronoun.fr[0]] + fr_pred)
    en_it = "it" if antecedent.number == "sg" else "they"
    return en + ["because", en_it] + en_pred, versions[0], versions[1]


# ---------------------------------------------------------------------------
# Entry points: a corpus pair and a contrastive pronoun triple, as strings.
# ---------------------------------------------------------------------------

_TEMPLATES = (_transitive, _ditransitive, _motion, _intransitive, _copula, _existential, _relative, None)
# Coreference (None) is 20% of the corpus so that a small model sees enough of it.
_TEMPLATE_WEIGHTS = (24, 6, 10, 8, 10, 5, 17, 20)


def sentence(rng: random.Random) -> tuple[str, str]:
    """One (English, French) corpus pair from a template drawn with `_TEMPLATE_WEIGHTS`."""
    template = rng.choices(_TEMPLATES, _TEMPLATE_WEIGHTS)[0]
    if template is None:
        # With two nouns of one gender any pronoun heuristic is right; most training sentences
        # pit a masculine against a feminine noun, as the contrastive test does.
        en, fr, _ = _coreference(rng, _random_spec(rng) if rng.random() < 0.7 else None)
    else:
        en, fr = template(rng)
    return english_text(en), french_text(fr)


def pronoun_pair(rng: random.Random, spec: CorefSpec) -> tuple[str, str, str]:
    """(English, correct French, French with the pronoun of the other gender) fitting `spec`."""
    en, fr, contrast = _coreference(rng, spec)
    return english_text(en), french_text(fr), french_text(contrast)
