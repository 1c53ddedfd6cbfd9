from __future__ import annotations

import pytest
import sacrebleu

from nmt.errors import NMTError
from nmt.metrics import (
    bleu_by_length,
    contrasted_word,
    corpus_bleu,
    corpus_bleu_lowercased,
    corpus_chrf,
    corpus_scores,
    corpus_ter,
    format_length_table,
    pronoun_accuracy,
)

HYPOTHESES = ["The cat sat on the mat.", "A dog runs in the park.", "Hello world!"]
REFERENCES = ["The cat sat on the mat.", "The dog is running in the park.", "hello world!"]


def test_scores_match_sacrebleu_and_carry_their_signature():
    assert corpus_bleu(HYPOTHESES, REFERENCES).score == pytest.approx(
        sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES]).score)
    assert corpus_chrf(HYPOTHESES, REFERENCES).score == pytest.approx(
        sacrebleu.corpus_chrf(HYPOTHESES, [REFERENCES]).score)
    scores = corpus_scores(HYPOTHESES, REFERENCES)
    assert set(scores) == {"bleu", "bleu_lc", "chrf", "ter"}
    assert "tok:13a" in scores["bleu"].signature and "case:mixed" in scores["bleu"].signature
    assert str(scores["bleu"]).startswith("BLEU = ") and scores["bleu"].signature in str(scores["bleu"])


def test_scores_are_case_sensitive():
    lower = [line.lower() for line in REFERENCES]
    assert corpus_bleu(lower, REFERENCES).score < corpus_bleu(REFERENCES, REFERENCES).score
    assert corpus_ter(lower, REFERENCES).score > 0.0
    assert corpus_ter(REFERENCES, REFERENCES).score == 0.0


def test_lowercased_bleu_is_sacrebleus_lowercased_13a_bleu_and_differs_from_the_cased_one():
    hypotheses = ["a man rides a bike .", "Two Dogs Play In The Snow .", "the girl is reading a book ."]
    references = ["A man rides a bike.", "Two dogs play in the snow.", "A girl is reading a book."]
    lowercased = corpus_bleu_lowercased(hypotheses, references)
    expected = sacrebleu.BLEU(lowercase=True, tokenize="13a")
    assert lowercased.score == pytest.approx(expected.corpus_score(hypotheses, [references]).score)
    assert lowercased.signature == str(expected.get_signature())
    assert "case:lc" in lowercased.signature and "tok:13a" in lowercased.signature
    assert lowercased.score > corpus_bleu(hypotheses, references).score + 10  # case matters in this case
    assert lowercased.score == pytest.approx(corpus_bleu([h.lower() for h in hypotheses],
                                                         [r.lower() for r in references]).score)
    assert corpus_scores(hypotheses, references)["bleu_lc"] == lowercased


def test_mismatched_or_empty_outputs_are_user_errors():
    with pytest.raises(NMTError, match="2 hypotheses for 3 references"):
        corpus_bleu(HYPOTHESES[:2], REFERENCES)
    with pytest.raises(NMTError, match="empty"):
        corpus_chrf([], [])


def test_sentences_fall_into_buckets_by_source_words():
    sources = ["one two", " ".join(["w"] * 10), " ".join(["w"] * 11), " ".join(["w"] * 45)]
    hypotheses = ["a b c d", "x y z", "p q r s", "m n o p"]
    references = ["a b c d", "u v w", "p q r s", "m n o p"]
    buckets = bleu_by_length(sources, hypotheses, references)
    assert [b.label for b in buckets] == ["1-10", "11-20", "21-30", "31-40", "41+"]
    assert [b.num_sentences for b in buckets] == [2, 1, 0, 0, 1]
    assert buckets[0].bleu == pytest.approx(corpus_bleu(hypotheses[:2], references[:2]).score)
    assert buckets[0].bleu_lc == pytest.approx(corpus_bleu_lowercased(hypotheses[:2], references[:2]).score)
    assert buckets[1].bleu == buckets[1].bleu_lc == pytest.approx(100.0)
    assert buckets[2].bleu is None and buckets[2].bleu_lc is None
    table = format_length_table(buckets)
    assert "41+" in table and "100.00" in table and len(table.splitlines()) == 6
    assert table.splitlines()[0].split() == ["source", "words", "sentences", "BLEU", "BLEU", "lc"]


def test_length_bucket_edges_are_configurable_and_checked():
    buckets = bleu_by_length(["a", "a b c"], ["x", "y"], ["x", "y"], edges=[2])
    assert [(b.label, b.num_sentences) for b in buckets] == [("1-2", 1), ("3+", 1)]
    with pytest.raises(NMTError, match="increasing"):
        bleu_by_length(["a"], ["x"], ["x"], edges=[20, 10])


def test_pronoun_accuracy_counts_wins_overall_and_per_pronoun():
    correct = ["il mange .", "elle dort .", "ils partent .", "il court ."]
    contrast = ["elle mange .", "il dort .", "elles partent .", "elle court ."]
    accuracy = pronoun_accuracy([-1.0, -2.0, -3.0, -4.0], [-2.0, -1.0, -5.0, -4.0],
                                correct_targets=correct, contrast_targets=contrast)
    assert accuracy.accuracy == pytest.approx(0.5)  # the tie in the last pair counts as wrong
    assert accuracy.num_pairs == 4
    assert accuracy.per_pronoun == {"il": (0.5, 2), "elle": (0.0, 1), "ils": (1.0, 1)}
    assert "50.0%" in str(accuracy)


def test_contrasted_word_is_the_first_differing_word():
    assert contrasted_word("Elle a faim .", "Il a faim .") == "elle"
    assert contrasted_word("the boys say they left", "the boys say she left") == "they"
    assert contrasted_word("parce qu'il était", "parce qu'elle était") == "il"
