"""Long sentences (30 to 60 English words) for the bundled English→French corpus (`nmt.data.sample`).

The grammar's own sentences stop near 17 words, too short for the length effect of Bahdanau et
al. (2015, Fig. 2): an encoder-decoder without attention loses BLEU as sentences grow, one with
attention does not. A long sentence here joins clauses of the grammar (every template: relative
clauses with *qui*/*que*, motion, copula, existential, coreference) with coordinating and
subordinating conjunctions:

    The boy ate the cake while the girls who saw the dog went to the station and ...
    Le garçon a mangé le gâteau pendant que les filles qui ont vu le chien sont allées à la gare et ...

"and"/et, "but"/mais, "while"/pendant que, "when"/quand and "because"/parce que take no mood or
tense change in French, so each clause keeps the French the grammar gives it, and elision across
the joint comes from `french_text` (``pendant qu'il``, ``parce qu'elle``). Each clause and each
conjunction is a `Bitext`, so a long pair carries its gold word alignment like any other.

The length (in English words) is drawn uniformly in [MIN_WORDS, MAX_WORDS] first; clauses are
added until the sentence reaches it; a clause that would pass MAX_WORDS is drawn again, or ends
the sentence once it has MIN_WORDS. The French side has up to a fifth more words (*ne … pas*,
*parce que*), at most 70 or so: within the train split's length filter (data.clean.max_len: 80).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection

from nmt.data.sample import AlignedPair
from nmt.data.sample_alignment import Bitext, bitext, token_alignment, word_for_word
from nmt.data.sample_grammar import _sentence_words  # the grammar's own clause draw: its templates and their mix
from nmt.data.sample_phrases import english_text, french_text, french_token_of_word
from nmt.errors import NMTError

MIN_WORDS, MAX_WORDS = 30, 60  # English words of a long sentence, bounds included

# (English, French, links): the conjunction that joins the next clause to the sentence.
_CONJUNCTIONS = (
    word_for_word(["and"], ["et"]),
    word_for_word(["but"], ["mais"]),
    bitext(["while"], ["pendant", "que"], sure=((0, 0), (0, 1))),  # one English word, two French ones
    word_for_word(["when"], ["quand"]),
    bitext(["because"], ["parce", "que"], sure=((0, 0), (0, 1))),
)
_CONJUNCTION_WEIGHTS = (40, 15, 15, 15, 15)
_AND = _CONJUNCTIONS[0]


def _conjunction(rng: random.Random, before: Bitext, after: Bitext) -> Bitext:
    """A conjunction drawn with `_CONJUNCTION_WEIGHTS`; "and" instead of "because" when the sentence so far or
    the next clause has a "because" of its own (the coreference template): "... because it was too tired
    because ..." reads badly."""
    conjunction = rng.choices(_CONJUNCTIONS, _CONJUNCTION_WEIGHTS)[0]
    if conjunction.en == ["because"] and ("because" in before.en or "because" in after.en):
        return _AND
    return conjunction


def long_words(rng: random.Random) -> Bitext:
    """One long sentence as a `Bitext`: clauses of the grammar joined by conjunctions."""
    target = rng.randint(MIN_WORDS, MAX_WORDS)
    words = _sentence_words(rng)
    while len(words.en) < target:
        clause = _sentence_words(rng)
        joined = words + _conjunction(rng, words, clause) + clause
        if len(joined.en) <= MAX_WORDS:
            words = joined
        elif len(words.en) >= MIN_WORDS:  # near the target no clause may fit: stop, long enough
            break
    return words


def long_sentence(rng: random.Random) -> AlignedPair:
    """One long (English, French) pair, without alignment."""
    words = long_words(rng)
    return AlignedPair(english_text(words.en), french_text(words.fr), None)


def aligned_long_sentence(rng: random.Random) -> AlignedPair:
    """`long_sentence` (the same draws, the same pair) with its gold alignment between the tokens of the strings."""
    words = long_words(rng)
    alignment = token_alignment(words.all_links(), en_token_of_word=range(len(words.en)),
                                fr_token_of_word=french_token_of_word(words.fr))
    return AlignedPair(english_text(words.en), french_text(words.fr), alignment)


def generate_long_pairs(*, size: int, seed: int, stream: str, exclude: Collection[str] = frozenset(),
                        aligned: bool = True, key: str = "data.long_test_size") -> list[AlignedPair]:
    """`size` long pairs with distinct sources, none in `exclude`, drawn from the stream named
    (seed, `stream`): the same arguments give the same pairs. `key` names the config key that asked
    for them in errors."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise NMTError(f"{key}={size!r} is not a whole number >= 0; set it to a count of sentence pairs such as 500")
    rng = random.Random(f"nmt-sample-long:{seed}:{stream}")
    make: Callable[[random.Random], AlignedPair] = aligned_long_sentence if aligned else long_sentence
    seen = set(exclude)
    pairs: list[AlignedPair] = []
    attempts = 0
    while len(pairs) < size:
        pair = make(rng)
        attempts += 1
        if pair.src not in seen:
            seen.add(pair.src)
            pairs.append(pair)
        elif attempts > 2 * size + 100:  # two long sentences almost never coincide
            raise NMTError(f"{key} asks for {size} long pairs but the draws repeat ({len(pairs)} distinct after "
                           f"{attempts} draws); lower it")
    return pairs


def generate_long_splits(*, test_size: int, train_size: int, seed: int,
                         exclude: Collection[str] = frozenset()) -> dict[str, list[AlignedPair]]:
    """{"long_test": `test_size` aligned pairs, "train": `train_size` pairs without alignment}.

    The test pairs come first, from their own stream, so they do not change with `train_size`;
    the train pairs skip them and `exclude` (pass the other splits' sources), so no source is in
    two splits.
    """
    test = generate_long_pairs(size=test_size, seed=seed, stream="long_test", exclude=exclude)
    seen = set(exclude) | {pair.src for pair in test}
    train = generate_long_pairs(size=train_size, seed=seed, stream="train", exclude=seen, aligned=False,
                                key="data.long_train_share")
    return {"long_test": test, "train": train}
