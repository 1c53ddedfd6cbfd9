"""Attention from pieces to words: what word-level analyses (alignment, coverage) compare with words.

A model attends over SentencePiece pieces, while gold alignments and coverage speak of
whitespace-separated words. A word's share of a query's attention is the sum over its pieces
(the columns it owns); a target word's attention is the mean of the rows of its pieces
(each row is one distribution, so the mean is again one). End-of-sentence positions
(word index -1 in `Example.src_word_of_piece` / `tgt_word_of_piece`) belong to no word.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def word_count(word_of_piece: Sequence[int]) -> int:
    """Number of words spelled by the pieces: the largest word index + 1 (EOS, -1, counts for none)."""
    return max(word_of_piece, default=-1) + 1


def piece_word_matrix(word_of_piece: Sequence[int]) -> np.ndarray:
    """(P, W) float64 with 1 where piece p belongs to word w; rows of EOS pieces (-1) are all zero."""
    words = np.asarray(word_of_piece, dtype=np.int64)  # (P,)
    matrix = np.zeros((len(words), word_count(word_of_piece)))
    real = words >= 0
    matrix[np.flatnonzero(real), words[real]] = 1.0
    return matrix


def sum_word_columns(weights: np.ndarray, word_of_piece: Sequence[int]) -> np.ndarray:
    """weights (..., P) over pieces -> (..., W) over words: each word gets the sum of its pieces' columns.

    Columns of EOS (-1) are dropped, so a row keeps only the mass that went to real words.
    """
    return weights @ piece_word_matrix(word_of_piece)  # (..., W)


def mean_word_rows(weights: np.ndarray, word_of_piece: Sequence[int]) -> np.ndarray:
    """weights (..., P, K) with one row per piece -> (..., W, K): each word gets the mean of its pieces' rows.

    Rows of EOS (-1) are dropped.
    """
    matrix = piece_word_matrix(word_of_piece)  # (P, W)
    averaging = (matrix / matrix.sum(axis=0, keepdims=True)).T  # (W, P), each row sums to 1
    return averaging @ weights  # (..., W, K)


def word_attention(cross_attention: np.ndarray, *, src_word_of_piece: Sequence[int],
                   tgt_word_of_piece: Sequence[int]) -> np.ndarray:
    """Cross-attention over pieces (H, T + 1, S + 1) -> word-level attention (H, target words, source words).

    Row t of a forced map is the decoder position that predicts target piece t (its query is
    the piece before it, BOS for t = 0), so target piece t's row is row t; the last row (the
    position that predicts EOS) and the last column (source EOS) belong to no word and are
    dropped. Columns of a source word's pieces are summed, rows of a target word's pieces averaged.
    """
    by_source_word = sum_word_columns(cross_attention, src_word_of_piece)  # (H, T + 1, Ws)
    return mean_word_rows(by_source_word, tgt_word_of_piece)  # (H, Wt, Ws)
