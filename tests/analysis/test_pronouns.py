"""Pronouns: the TSV reader's errors, accuracy equal to an independent scoring, heads on the antecedent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_checkpoint import PAIRS, RNN_MODEL_CONFIG, build_tiny_checkpoint

from nmt.analysis.core import AnalysisContext, make_examples
from nmt.analysis.pronouns import distance_bucket, pronouns_section, read_contrastive_tsv, target_pronoun_word
from nmt.data.batching import collate
from nmt.errors import NMTError
from nmt.inference.decoding import sequence_log_probs
from nmt.inference.translation import load_for_translation

PRONOUN_LINES = (
    ("he drinks water because he is thirsty .\til boit de l' eau parce qu' il a soif .\t"
     "il boit de l' eau parce qu' elle a soif .\t0\t4"),
    "the cat is black .\tle chat est noir .\tla chat est noir .\t4\t1",
    "she reads a book .\telle lit un livre .\til lit un livre .\t3\t0",
    "the little girl sleeps .\tla petite fille dort .\tla petite fille dort .",
    "",
    "a woman sings .\tune femme chante .\tun femme chante .\t0\t1",
)


def tiny_context(directory: Path, pronoun_file: Path | None, **model_config) -> AnalysisContext:
    path = build_tiny_checkpoint(directory, **model_config)
    _, model, tokenizer = load_for_translation(path, device=torch.device("cpu"))
    examples = make_examples(tokenizer, [s for s, _ in PAIRS[:3]], [t for _, t in PAIRS[:3]])
    pronouns = None if pronoun_file is None else read_contrastive_tsv(pronoun_file)
    return AnalysisContext(model=model, tokenizer=tokenizer, examples=examples, device=torch.device("cpu"),
                           pronouns=pronouns)


@pytest.fixture(scope="module")
def pronoun_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pronouns") / "pronouns.tsv"
    path.write_text("".join(f"{line}\n" for line in PRONOUN_LINES), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def transformer(tmp_path_factory: pytest.TempPathFactory, pronoun_file: Path) -> AnalysisContext:
    return tiny_context(tmp_path_factory.mktemp("transformer"), pronoun_file)


def preferences(context: AnalysisContext) -> list[bool]:
    """Whether the model prefers the correct translation, scored one pair at a time."""
    wins = []
    for pair in context.pronouns:
        ids = context.tokenizer.encode_src([pair.src])[0]
        targets = context.tokenizer.encode_tgt([pair.correct, pair.contrast])
        with torch.no_grad():
            scores = sequence_log_probs(context.model, collate([ids, ids], targets, [0, 1]))
        wins.append(bool(scores[0] > scores[1]))
    return wins


def test_the_reader_keeps_indices_and_skips_blank_lines(pronoun_file: Path) -> None:
    pairs = read_contrastive_tsv(pronoun_file)
    assert len(pairs) == 5
    assert (pairs[0].antecedent, pairs[0].pronoun) == (0, 4)
    assert pairs[3].antecedent is None and pairs[3].correct == "la petite fille dort ."


@pytest.mark.parametrize(("line", "message"), [
    ("a b\tc d", "has 2 tab-separated columns; expected 3"),
    ("a b\tc d\te f\t0", "has 4 tab-separated columns"),
    ("a b\tc d\te f\tzero\t1", "the antecedent index 'zero' is not an integer"),
    ("a b\tc d\te f\t0\t2", "the pronoun index 2 is beyond the sentence, whose 2 words have indices 0..1"),
    ("a b\tc d\te f\t-1\t1", "the antecedent index -1 is beyond the sentence"),
    ("a b\t\te f", "has an empty correct column"),
])
def test_malformed_lines_name_the_file_line_and_the_fault(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text(f"x y\tu v\tu w\n{line}\n", encoding="utf-8")
    with pytest.raises(NMTError, match=f"{path}:2.*{message}") as error:
        read_contrastive_tsv(path)
    assert message in str(error.value)


def test_a_missing_or_empty_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NMTError, match="does not exist"):
        read_contrastive_tsv(tmp_path / "none.tsv")
    (tmp_path / "empty.tsv").write_text("\n", encoding="utf-8")
    with pytest.raises(NMTError, match="holds no pairs"):
        read_contrastive_tsv(tmp_path / "empty.tsv")


def test_distances_and_target_pronouns() -> None:
    assert [distance_bucket(d) for d in (1, 3, 4, 6, 7, 9, 10, 25, 0, -3)] == [
        "1–3", "1–3", "4–6", "4–6", "7–9", "7–9", "10+", "10+", "≤0", "≤0"]
    assert target_pronoun_word("parce qu' il a soif", "parce qu' elle a soif") == 2
    assert target_pronoun_word("il dort", "il dort") is None


def test_accuracy_equals_pairs_scored_one_by_one(transformer: AnalysisContext) -> None:
    result = pronouns_section(transformer)
    numbers = result.numbers
    wins = preferences(transformer)
    assert not wins[3]  # identical translations tie, and a tie counts as wrong
    assert numbers["pairs"] == 5 and numbers["skipped"] == 0 and numbers["pairs_with_indices"] == 4
    assert numbers["accuracy"] == pytest.approx(np.mean(wins))
    assert numbers["per_pronoun"]["il"] == {"accuracy": float(wins[0]), "pairs": 1}
    assert numbers["per_pronoun"]["(identical)"] == {"accuracy": 0.0, "pairs": 1}
    by_distance = {row["bucket"]: row for row in numbers["by_distance"]}
    assert by_distance["≤0"]["pairs"] == 2 and by_distance["≤0"]["accuracy"] == np.mean([wins[1], wins[2]])
    assert by_distance["4–6"]["accuracy"] == float(wins[0]) and by_distance["1–3"]["accuracy"] == float(wins[4])
    assert by_distance["7–9"] == {"bucket": "7–9", "pairs": 0, "accuracy": None}
    assert {(row["module"], row["head"]) for row in numbers["heads"]} == {
        (name, head) for name in ("encoder.0.self", "encoder.1.self", "decoder.0.cross", "decoder.1.cross")
        for head in (0, 1)}
    assert set(result.figures) == {"pronouns_antecedent_heads"}


def test_heads_on_the_antecedent_are_counted_from_the_pronoun_rows(transformer: AnalysisContext,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Head 0 of every module attends only to the first source word, head 1 only to the last one."""

    def scripted_attention(self: AnalysisContext) -> dict[str, list[np.ndarray]]:
        forced = {}
        for name in self.modules:
            maps = []
            for example in self.examples:
                src_len, tgt_len = len(example.src_ids) + 1, len(example.tgt_ids) + 1
                weights = np.zeros((2, src_len if name.startswith("encoder") else tgt_len, src_len))
                last_word = max(example.src_word_of_piece)
                weights[0, :, example.src_word_of_piece.index(0)] = 1.0
                weights[1, :, example.src_word_of_piece.index(last_word)] = 1.0
                maps.append(weights)
            forced[name] = maps
        return forced

    monkeypatch.setattr(AnalysisContext, "forced_attention", scripted_attention)
    heads = {(row["module"], row["head"]): row for row in pronouns_section(transformer).numbers["heads"]}
    wins = preferences(transformer)
    for name in ("encoder.1.self", "decoder.0.cross"):
        first, last = heads[(name, 0)], heads[(name, 1)]
        assert first["pairs"] == 4 and first["antecedent_share"] == 0.5  # pairs 0 and 4: antecedent = word 0
        assert first["accuracy_on_antecedent"] == np.mean([wins[0], wins[4]])
        assert first["accuracy_elsewhere"] == np.mean([wins[1], wins[2]])
        assert last["antecedent_share"] == 0.25 and last["pairs_on_antecedent"] == 1  # pair 1: the last word
        assert last["accuracy_on_antecedent"] == float(wins[1])


def test_without_a_set_the_section_says_how_to_get_one(tmp_path: Path) -> None:
    context = tiny_context(tmp_path, None)
    result = pronouns_section(context)
    assert result.name == "pronouns" and "pronouns=FILE.tsv" in result.not_applicable
    assert "pronoun_test" in result.not_applicable


def test_without_indices_only_accuracy_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "plain.tsv"
    path.write_text("a woman sings .\tune femme chante .\tun femme chante .\n", encoding="utf-8")
    result = pronouns_section(tiny_context(tmp_path, path))
    assert result.numbers["heads"] == [] and result.figures == {}
    assert "only accuracy is reported" in result.text


def test_rnn_heads_are_its_one_cross_attention_and_rnn_plain_has_accuracy_only(tmp_path: Path,
                                                                               pronoun_file: Path) -> None:
    rnn = pronouns_section(tiny_context(tmp_path / "rnn", pronoun_file, model_config=RNN_MODEL_CONFIG))
    assert [(row["module"], row["head"], row["pairs"]) for row in rnn.numbers["heads"]] == [("cross", 0, 4)]
    plain_context = tiny_context(tmp_path / "plain", pronoun_file, model_config={**RNN_MODEL_CONFIG, "attention": "none"})
    plain = pronouns_section(plain_context)
    assert plain.numbers["accuracy"] == pytest.approx(np.mean(preferences(plain_context)))
    assert plain.numbers["heads"] == [] and "no attention" in plain.text
