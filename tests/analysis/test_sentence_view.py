"""The one-sentence view: the word's row in every encoder head, and its translation's cross-attention."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf
from tiny_checkpoint import PAIRS, RNN_MODEL_CONFIG, build_tiny_checkpoint

from nmt.analysis.core import AnalysisContext, Example, make_examples
from nmt.analysis.sentence_view import find_word, sentence_section
from nmt.errors import NMTError
from nmt.inference.options import DecodingOptions
from nmt.inference.translation import load_for_translation

TEXT = "The animal didn't cross the street because it was too tired."


def tiny_context(directory: Path, *, text: str | None = TEXT, word: str | None = "it",
                 **model_config) -> AnalysisContext:
    path = build_tiny_checkpoint(directory, **model_config)
    _, model, tokenizer = load_for_translation(path, device=torch.device("cpu"))
    examples = make_examples(tokenizer, [s for s, _ in PAIRS[:2]], [t for _, t in PAIRS[:2]])
    return AnalysisContext(model=model, tokenizer=tokenizer, examples=examples, device=torch.device("cpu"),
                           text=text, word=word)


@pytest.fixture(scope="module")
def transformer(tmp_path_factory: pytest.TempPathFactory) -> AnalysisContext:
    return tiny_context(tmp_path_factory.mktemp("transformer"), word="IT")


def with_sentence(context: AnalysisContext, text: str, word: str | None,
                  search: DecodingOptions | None = None) -> AnalysisContext:
    return AnalysisContext(model=context.model, tokenizer=context.tokenizer, examples=context.examples,
                           device=torch.device("cpu"), text=text, word=word, search=search)


def translate_options(*overrides: str) -> DecodingOptions:
    """nmt-translate's decoding options: its defaults (configs/translate.yaml) with `overrides`."""
    with initialize_config_module(config_module="nmt.configs", version_base=None):
        cfg = compose("translate", overrides=["ckpt=best.pt", *overrides])
    return DecodingOptions.from_dict(OmegaConf.to_container(cfg, resolve=True))


def translated_example(context: AnalysisContext, text: str, search: DecodingOptions | None = None) -> Example:
    """The text with the exact pieces of its translation as the target (greedy, or nmt-translate's with `search`),
    word spans from the tokenizer."""
    src_ids = context.tokenizer.encode_src([text])[0]
    search = search or translate_options("beam_size=1", f"max_len_a={context.max_len_a}",
                                         f"max_len_b={context.max_len_b}")
    tokens = search.translator(context.model, context.tokenizer, device=torch.device("cpu")).translate_nbest(
        [text])[0][0].tokens
    spans = make_examples(context.tokenizer, [text], [text])[0]
    return Example(src=text, ref="", src_ids=src_ids, tgt_ids=list(tokens), src_word_of_piece=spans.src_word_of_piece,
                   tgt_word_of_piece=[0] * len(tokens) + [-1])


def test_words_match_without_case_or_surrounding_punctuation() -> None:
    assert find_word(TEXT, "IT") == (7, 1)
    assert find_word(TEXT, "tired") == (10, 1)
    assert find_word("it sees it , it.", "it") == (0, 3)
    with pytest.raises(NMTError, match="word=dog is not a word of text=.*choose one of: the, animal, didn't, cross"):
        find_word(TEXT, "dog")


def test_the_word_row_of_every_encoder_head_is_its_pieces_rows_averaged(transformer: AnalysisContext) -> None:
    result = sentence_section(transformer)
    numbers = result.numbers
    assert result.name == "sentence" and numbers["word"] == "it" and numbers["word_index"] == 7
    assert [(row["module"], row["head"]) for row in numbers["self_attention"]] == [
        ("encoder.0.self", 0), ("encoder.0.self", 1), ("encoder.1.self", 0), ("encoder.1.self", 1)]
    example = translated_example(transformer, TEXT)
    alone = AnalysisContext(model=transformer.model, tokenizer=transformer.tokenizer, examples=[example],
                            device=torch.device("cpu"))
    word_of_piece = np.array(example.src_word_of_piece)
    for row in numbers["self_attention"]:
        weights = alone.forced_attention()[row["module"]][0][row["head"]]  # (S + 1, S + 1)
        it_row = weights[word_of_piece == 7].mean(axis=0)
        by_hand = [it_row[word_of_piece == word].sum() for word in range(11)]
        np.testing.assert_allclose(row["weights"], by_hand, rtol=1e-5, atol=1e-7)
        assert row["top_word"] == TEXT.split()[int(np.argmax(by_hand))]


@pytest.mark.parametrize(("overrides", "search"), [
    (None, "greedy search"),  # no search given: greedy
    ([], "beam search, beam_size=5, length_penalty=1"),  # nmt-translate's defaults
    (["beam_size=3", "length_penalty=0"], "beam search, beam_size=3, length_penalty=0"),
])
def test_the_cross_attention_shown_is_that_of_the_translation_shown(overrides, search,
                                                                    transformer: AnalysisContext) -> None:
    options = None if overrides is None else translate_options(*overrides)
    result = sentence_section(with_sentence(transformer, TEXT, "it", options))
    numbers = result.numbers
    alone = AnalysisContext(model=transformer.model, tokenizer=transformer.tokenizer,
                            examples=[translated_example(transformer, TEXT, options)], device=torch.device("cpu"))
    assert numbers["translation"] == transformer.tokenizer.decode_tgt(alone.examples[0].tgt_ids)
    assert numbers["search"] == search and result.summary[0].endswith(f" ({search})") and search in result.text
    # Teacher forcing the translation shown gives the attention the search recorded while producing it.
    forced = alone.forced_attention()
    averaged = np.mean([forced[f"decoder.{layer}.cross"][0] for layer in (0, 1)], axis=(0, 1))  # (T' + 1, S + 1)
    on_it = averaged[:, np.array(alone.examples[0].src_word_of_piece) == 7].sum(axis=1)
    cross = numbers["cross_attention"]
    np.testing.assert_allclose(cross["weights_on_word"], on_it, rtol=1e-4, atol=1e-6)
    assert len(cross["target_pieces"]) == len(alone.examples[0].tgt_ids) + 1
    assert cross["top_target_piece"] == cross["target_pieces"][int(np.argmax(on_it))]
    assert cross["top_weight"] == pytest.approx(on_it.max(), rel=1e-4)


def test_figures_and_the_first_of_several_matches(transformer: AnalysisContext) -> None:
    result = sentence_section(with_sentence(transformer, "it sees it .", "it"))
    assert set(result.figures) == {"sentence_self_attention", "sentence_cross_attention"}
    assert result.numbers["matches"] == 2 and result.numbers["word_index"] == 0
    assert "occurs 2 times in the sentence; the first (word 0) is shown" in result.text


def test_missing_text_word_or_attention(transformer: AnalysisContext, tmp_path: Path) -> None:
    assert "text=" in sentence_section(with_sentence(transformer, None, None)).not_applicable
    with pytest.raises(NMTError, match="needs word="):
        sentence_section(with_sentence(transformer, TEXT, None))
    with pytest.raises(NMTError, match="word=cat is not a word of text"):
        sentence_section(with_sentence(transformer, TEXT, "cat"))
    plain = tiny_context(tmp_path, model_config={**RNN_MODEL_CONFIG, "attention": "none"})
    assert "no attention" in sentence_section(plain).not_applicable


def test_the_rnn_shows_only_its_cross_attention(tmp_path: Path) -> None:
    context = tiny_context(tmp_path, model_config=RNN_MODEL_CONFIG)
    result = sentence_section(context)
    assert result.numbers["self_attention"] == [] and set(result.figures) == {"sentence_cross_attention"}
    assert "no encoder self-attention" in result.text
    weights = np.array(result.numbers["cross_attention"]["weights_on_word"])
    assert ((weights > 0) & (weights < 1)).all()


def test_a_beam_translation_differs_from_the_greedy_one_on_this_model(transformer: AnalysisContext) -> None:
    """What makes the beam cases above differ from the greedy one: this tiny model's beam finds another translation."""
    greedy = sentence_section(with_sentence(transformer, TEXT, "it")).numbers["translation"]
    beam = sentence_section(with_sentence(transformer, TEXT, "it", translate_options())).numbers["translation"]
    assert greedy != beam


def test_a_sentence_longer_than_the_model_reads_is_an_error_not_a_cut(transformer: AnalysisContext) -> None:
    long_text = " ".join(["the cat sleeps ."] * 40)  # more pieces than the tiny model's 64 positions
    with pytest.raises(NMTError, match=r"text= has \d+ pieces, more than the 63 this model reads; give a shorter"):
        sentence_section(with_sentence(transformer, long_text, "cat", translate_options()))
