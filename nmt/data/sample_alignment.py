"""Gold word alignments of the bundled sample corpus (`nmt.data.sample`), built while a sentence is composed.

Every piece of a sample sentence is a `Bitext`: its English words, its French words and the
links between them. A joined piece places its parts at their word offsets in each language, so
a finished sentence carries its alignment by construction, reordering included ("red car" /
"voiture rouge", "the girl's dog" / "le chien de la fille").

The links follow the conventions of Och & Ney (2003) and of the EPPS gold standard (Lambert
et al. 2005): a sure link joins clear translational equivalents (the-la, girl-fille, not-pas,
crossed-traversé); a possible link joins a function word that has no counterpart of its own to
the word it goes with, or words that correspond only as a group (did-a, not-ne, is-a in
"is hungry" / "a faim", there-il in "there is" / "il y a").

The finished strings merge words: French elision and contraction make one token of two words
(``l'arbre``, ``n'a``, ``au``), and the final period is written onto the last word, so it is
part of that word's token. `token_alignment` carries word links over to the whitespace-separated
tokens of the strings, and `format_pharaoh` writes them as a Pharaoh line ("i-j" sure, "i?j"
possible, source index first); it is the one writer of that format on the data side.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache

Link = tuple[int, int, bool]  # (English word, French word, sure)


@dataclass(slots=True)
class Bitext:
    """English and French words and the links between them.

    `links` are the piece's own links; `parts` are the pieces it was joined from, each at its
    (English, French) word offset, and their links count too. Joining keeps the parts rather
    than shifting their links at once, so a sentence whose alignment nobody asks for (the train
    split) costs little more than its words; `all_links` resolves the offsets. Pieces are shared
    by the pieces built from them and never changed (not frozen only because building frozen
    instances costs a third more time per sentence).
    """

    en: list[str]
    fr: list[str]
    links: tuple[Link, ...]
    parts: tuple[tuple[int, int, Bitext], ...]

    def __add__(self, other: Bitext) -> Bitext:
        """The two pieces one after the other in both languages."""
        return Bitext(self.en + other.en, self.fr + other.fr, (),
                      ((0, 0, self), (len(self.en), len(self.fr), other)))

    def with_links(self, *, sure: tuple[tuple[int, int], ...] = (),
                   possible: tuple[tuple[int, int], ...] = ()) -> Bitext:
        """The same words with more links (for words that correspond across joined pieces)."""
        return Bitext(self.en, self.fr, _links(sure, possible), ((0, 0, self),))

    def all_links(self) -> Iterator[Link]:
        """Every link, with word indices counted in this piece."""
        yield from self.links
        for en_offset, fr_offset, part in self.parts:
            for i, j, sure in part.all_links():
                yield i + en_offset, j + fr_offset, sure


def bitext(en: list[str], fr: list[str], *, sure: tuple[tuple[int, int], ...] = (),
           possible: tuple[tuple[int, int], ...] = ()) -> Bitext:
    """A piece whose (English word, French word) links are listed by hand, as tuples of pairs."""
    return Bitext(en, fr, _links(sure, possible), ())


def word_for_word(en: list[str], fr: list[str]) -> Bitext:
    """Words that translate one to one, in the same order ("the girl" / "la fille")."""
    assert len(en) == len(fr), (en, fr)
    return Bitext(en, fr, _DIAGONALS[len(fr)], ())


_DIAGONALS = tuple(tuple((k, k, True) for k in range(size)) for size in range(4))  # word_for_word's links


@cache  # the grammar asks for the same few patterns over and over
def _links(sure: tuple[tuple[int, int], ...], possible: tuple[tuple[int, int], ...]) -> tuple[Link, ...]:
    return tuple((i, j, True) for i, j in sure) + tuple((i, j, False) for i, j in possible)


@dataclass(frozen=True, slots=True)
class WordAlignment:
    """Links between the tokens of a pair: (source token, target token), 0-based; sure ⊆ possible."""

    sure: frozenset[tuple[int, int]]
    possible: frozenset[tuple[int, int]]

    def reversed(self) -> WordAlignment:
        """The same links with source and target exchanged (for the French→English direction)."""
        return WordAlignment(frozenset((j, i) for i, j in self.sure), frozenset((j, i) for i, j in self.possible))

    def pharaoh(self) -> str:
        return format_pharaoh(self.sure, self.possible)


def token_alignment(links: Iterable[Link], *, en_token_of_word: Sequence[int],
                    fr_token_of_word: Sequence[int]) -> WordAlignment:
    """Word links as links between tokens; where merged words meet twice, a sure link wins."""
    sure, possible = set(), set()
    for i, j, is_sure in links:
        pair = (en_token_of_word[i], fr_token_of_word[j])
        possible.add(pair)
        if is_sure:
            sure.add(pair)
    return WordAlignment(frozenset(sure), frozenset(possible))


def format_pharaoh(sure: Iterable[tuple[int, int]], possible: Iterable[tuple[int, int]]) -> str:
    """One Pharaoh line: "i-j" for each sure link, "i?j" for each possible link that is not sure,
    sorted by (i, j) and separated by spaces ("" for no links). `possible` may include the sure links."""
    sure = set(sure)
    return " ".join(f"{i}{'-' if (i, j) in sure else '?'}{j}" for i, j in sorted(sure | set(possible)))
