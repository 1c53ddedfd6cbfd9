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

Every pair is composed with its gold word alignment: each phrase knows which English
word each French word came from (`nmt.data.sample_alignment`), and the coreference
template knows where the pronoun and its antecedent stand.

The generator is five modules. `nmt.data.sample_lexicon` holds the words, their
forms and their tags; `nmt.data.sample_phrases` builds noun phrases, verb groups and
the finished strings (agreement, elision, contraction); `nmt.data.sample_grammar`
builds sentences from them with the templates above; `nmt.data.sample_alignment`
composes the word links and writes them as Pharaoh lines. This module is the public
API: the language pair, the splits and the contrastive pronoun test. The lexicon's
word tuples and `lexicon_size` are re-exported here.

Use `generate_splits` for disjoint train/validation/test pairs (`generate_aligned_splits`
adds the gold alignments of the evaluation splits) and `generate_pronoun_pairs` for the
contrastive pronoun test (`generate_pronoun_test` adds where the antecedent and the
pronoun are); `DEMO_SENTENCE` is a coreference sentence kept out of both. Generation
uses only ``random.Random`` seeded with a string, so a seed gives the same corpus on
every platform and Python version, with or without alignments.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Mapping
from functools import partial
from typing import NamedTuple, TypeVar

from nmt.data.sample_alignment import WordAlignment
from nmt.data.sample_grammar import PRONOUN_CELLS, CorefSpec, PronounPair, aligned_sentence, pronoun_pair, sentence
from nmt.data.sample_lexicon import (  # re-exported: part of this module's API
    ADJECTIVES,
    DITRANSITIVE_VERBS,
    INTRANSITIVE_VERBS,
    MOTION_VERBS,
    NOUNS,
    TRANSITIVE_VERBS,
    lexicon_size,
)
from nmt.errors import NMTError

__all__ = [
    "ADJECTIVES",
    "ALIGNED_SPLITS",
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
    "AlignedPair",
    "PronounPair",
    "WordAlignment",
    "generate_aligned_splits",
    "generate_pairs",
    "generate_pronoun_pairs",
    "generate_pronoun_test",
    "generate_splits",
    "lexicon_size",
]

SRC_LANG = "en"
TGT_LANG = "fr"
DEFAULT_SIZES: dict[str, int] = {"train": 20000, "validation": 1000, "test": 1000}
ALIGNED_SPLITS = ("validation", "test")  # the splits the corpus gives gold word alignments
# 400 = 50 pairs in each of the 8 cells (il/elle/ils/elles x subject/object antecedent).
DEFAULT_PRONOUN_SIZE = 400
# Kept out of every split: the antecedent (la vache) is feminine and the nearer
# noun (le pont) masculine, so a correct "elle" shows the pronoun was resolved.
DEMO_SENTENCE = "The cow did not cross the bridge because it was too tired."
DEMO_REFERENCE = "La vache n'a pas traversé le pont parce qu'elle était trop fatiguée."

ItemT = TypeVar("ItemT", bound=tuple)


class AlignedPair(NamedTuple):
    """A corpus pair and, in the splits that ask for it, its gold word alignment."""

    src: str
    tgt: str
    alignment: WordAlignment | None  # token links src -> tgt


def _check_size(key: str, size: object) -> int:
    """`key` is the config key users set (data.sample_sizes.train, data.pronoun_test_size)."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise NMTError(f"{key}={size!r} is not a whole number >= 0; set it to a count of sentence pairs "
                       f"such as {DEFAULT_SIZES.get(key.rpartition('.')[2], DEFAULT_PRONOUN_SIZE)}")
    return size


def _draw_unique(rng: random.Random, key: str, size: int, seen: set[str],
                 make: Callable[[random.Random], ItemT]) -> list[ItemT]:
    """Draw `size` items whose source (first field) is not in `seen` (and add them to it)."""
    items: list[ItemT] = []
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
    return _generate(sizes, seed, lambda name: sentence)


def generate_aligned_splits(*, sizes: Mapping[str, int], seed: int,
                            aligned: Collection[str] = ALIGNED_SPLITS) -> dict[str, list[AlignedPair]]:
    """The pairs of `generate_splits` (the same text for the same seed), those of the splits in
    `aligned` with their gold word alignment, built as the grammar composes each sentence.

    The alignment links the whitespace-separated tokens of the two strings; other splits skip
    the work and carry None.
    """
    return _generate(sizes, seed, lambda name: _aligned_pair if name in aligned else _unaligned_pair)


def _aligned_pair(rng: random.Random) -> AlignedPair:
    return AlignedPair(*aligned_sentence(rng))


def _unaligned_pair(rng: random.Random) -> AlignedPair:
    return AlignedPair(*sentence(rng), None)


def _generate(sizes: Mapping[str, int], seed: int,
              maker: Callable[[str], Callable[[random.Random], ItemT]]) -> dict[str, list[ItemT]]:
    """The splits, each drawn with `maker(split name)` (see `generate_splits` for the order)."""
    sizes = {name: _check_size(f"data.sample_sizes.{name}", size) for name, size in sizes.items()}
    seen = {DEMO_SENTENCE}
    splits: dict[str, list[ItemT]] = {}
    for name in sorted(sizes, key=lambda n: (n == "train", n)):
        rng = random.Random(f"nmt-sample:{seed}:{name}")
        splits[name] = _draw_unique(rng, f"data.sample_sizes.{name}", sizes[name], seen, maker(name))
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
    return [(item.src, item.tgt, item.contrast) for item in generate_pronoun_test(size=size, seed=seed, exclude=exclude)]


def generate_pronoun_test(*, size: int = DEFAULT_PRONOUN_SIZE, seed: int,
                          exclude: Collection[str] = frozenset()) -> list[PronounPair]:
    """The items of `generate_pronoun_pairs`, each with the English word indices (0-based) of the
    antecedent's head noun and of the pronoun ("The cat did not cross the street because it was
    too tired": antecedent 1, pronoun 8)."""
    size = _check_size("data.pronoun_test_size", size)
    rng = random.Random(f"nmt-sample-pronouns:{seed}")
    seen = set(exclude) | {DEMO_SENTENCE}
    cells = [(role, gender, number) for gender, number in PRONOUN_CELLS for role in ("subject", "object")]
    items: list[PronounPair] = []
    for index in range(size):
        spec = CorefSpec(*cells[index % len(cells)])
        items += _draw_unique(rng, "data.pronoun_test_size", 1, seen, partial(pronoun_pair, spec=spec))
    return items
