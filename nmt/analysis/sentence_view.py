"""One sentence, one word: where that word attends in every encoder head, and which target word attends to it.

The classic picture (Vaswani et al. 2017; the Tensor2Tensor visualisation of "The animal didn't
cross the street because it was too tired"): the row of `word` in each encoder self-attention
head, over the source words, and the translation's cross-attention with the column of `word`
highlighted. The sentence is translated as nmt-translate translates it with the same options
(`AnalysisContext.search`; nmt-analyze passes nmt-translate's defaults, a beam of 5), and the
cross-attention shown is the one the search recorded on the way to the translation shown. A word's
row is the mean of its pieces' rows; a source word's column is the sum of its pieces' columns
(source EOS belongs to no word).
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from nmt.analysis.core import WORD_START, AnalysisContext, Example, SectionResult, Table, words_of_pieces
from nmt.analysis.words import mean_word_rows, sum_word_columns, word_count
from nmt.errors import NMTError
from nmt.inference.options import DecodingOptions
from nmt.inference.translation import Translator
from nmt.tokens import EOS_PIECE

TITLE = "One sentence, one word"
PUNCTUATION = string.punctuation + "«»“”‘’„…"
CELL_INCHES = 0.42
HIGHLIGHT = "red"


def bare_word(word: str) -> str:
    """A word lower-cased, without surrounding punctuation: 'It,' -> 'it'."""
    return word.strip(PUNCTUATION).lower()


def find_word(text: str, word: str) -> tuple[int, int]:
    """(index of the first whitespace word of `text` equal to `word`, number of matches), compared by `bare_word`."""
    words = text.split()
    matches = [index for index, candidate in enumerate(words) if bare_word(candidate) == bare_word(word)]
    if not matches:
        raise NMTError(f"word={word} is not a word of text={text!r}; choose one of: "
                       f"{', '.join(dict.fromkeys(bare_word(w) for w in words if bare_word(w)))}.")
    return matches[0], len(matches)


@dataclass(frozen=True)
class Translated:
    """The sentence as the model sees it, its translation and that translation's cross-attention."""

    example: Example  # the source text and its pieces; the translation's pieces as the target
    translation: str
    cross_attention: np.ndarray  # (T' + 1, S + 1): every decoder layer and head averaged; last row = EOS step
    search: str  # how it was found, e.g. "beam search, beam_size=5, length_penalty=1"


def describe_search(search: DecodingOptions | None) -> str:
    """The search of the one-sentence view in words: 'greedy search' or 'beam search, beam_size=5, length_penalty=1'."""
    if search is None or search.beam_size == 1:
        return "greedy search"
    return f"beam search, beam_size={search.beam_size}, length_penalty={search.length_penalty:g}"


def sentence_translator(context: AnalysisContext) -> Translator:
    """The Translator of the view: nmt-translate's for `context.search`, greedy within the context's limits without."""
    if context.search is None:
        return Translator(context.model, context.tokenizer, beam_size=1, length_penalty=0.0,
                          max_len_a=context.max_len_a, max_len_b=context.max_len_b,
                          batch_tokens=context.batch_tokens, device=context.device)
    if context.search.sampling:
        raise NMTError("the one-sentence view shows a search, not a sample: give it DecodingOptions with "
                       "sampling=False.")
    return context.search.translator(context.model, context.tokenizer, device=context.device)


def translate_sentence(context: AnalysisContext, text: str) -> Translated:
    """`text` translated as nmt-translate translates it with `context.search`, with the cross-attention of the
    search steps that produced that translation."""
    src_ids = context.tokenizer.encode_src([text])[0]
    if not src_ids:
        raise NMTError(f"text={text!r} tokenizes to nothing; give a sentence with words in it.")
    translator = sentence_translator(context)
    limit = translator.source_limit
    if limit is not None and len(src_ids) > limit:  # the translator would cut it, and the words with it
        raise NMTError(f"text= has {len(src_ids)} pieces, more than the {limit} this model reads; "
                       "give a shorter sentence.")
    best = translator.translate_nbest([text], return_attention=True)[0][0]
    tgt_ids = [int(token) for token in best.tokens]
    example = Example(src=text, ref=best.text, src_ids=src_ids, tgt_ids=tgt_ids,
                      src_word_of_piece=words_of_pieces(context.tokenizer.src_pieces(src_ids)) + [-1],
                      tgt_word_of_piece=words_of_pieces(context.tokenizer.tgt_pieces(tgt_ids)) + [-1])
    cross = best.attention.float().mean(dim=(0, 1)).cpu().numpy()  # (T' + 1, S + 1)
    return Translated(example=example, translation=best.text, cross_attention=cross,
                      search=describe_search(context.search))


def encoder_word_rows(context: AnalysisContext, example: Example, word_index: int) -> dict[str, np.ndarray]:
    """Encoder self-attention module -> (H, source words): the row of word `word_index` in each head."""
    single = AnalysisContext(model=context.model, tokenizer=context.tokenizer, examples=[example],
                             device=context.device, seed=context.seed)
    forced = single.forced_attention()
    rows = {}
    for name in (name for name in context.modules if name.startswith("encoder")):
        by_word = sum_word_columns(forced[name][0], example.src_word_of_piece)  # (H, S + 1, W)
        rows[name] = mean_word_rows(by_word, example.src_word_of_piece)[:, word_index]  # (H, W)
    return rows


def sentence_section(context: AnalysisContext) -> SectionResult:
    """Encoder self-attention of `context.word` in every layer and head; cross-attention of its translation."""
    if not context.modules:
        return SectionResult(name="sentence", title=TITLE, not_applicable=(
            "The model has no attention (rnn_plain), so there is nothing to show for one sentence."))
    if context.text is None:
        return SectionResult(name="sentence", title=TITLE, not_applicable=(
            'No sentence was given: pass text="..." word=... to see where one word attends.'))
    if not context.word or not bare_word(context.word):
        raise NMTError(f"text={context.text!r} needs word=...: the word of the sentence whose attention to show, "
                       "e.g. word=it.")
    text = " ".join(context.text.split())
    word_index, matches = find_word(text, context.word)
    translated = translate_sentence(context, text)
    example = translated.example
    source_words = text.split()
    if word_count(example.src_word_of_piece) != len(source_words):
        raise NMTError(f"text={text!r}: its {len(source_words)} words became {word_count(example.src_word_of_piece)} "
                       "after tokenization; remove unusual spaces or characters from the text.")
    self_rows = encoder_word_rows(context, example, word_index)
    cross_words = sum_word_columns(translated.cross_attention, example.src_word_of_piece)  # (T' + 1, W)
    target_labels = [*context.tokenizer.tgt_pieces(example.tgt_ids), EOS_PIECE]
    top_row = int(cross_words[:, word_index].argmax())
    top_target_word = _target_word(target_labels, example.tgt_word_of_piece, top_row)
    numbers = {
        "text": text, "word": source_words[word_index], "word_index": word_index, "matches": matches,
        "translation": translated.translation, "search": translated.search, "source_words": source_words,
        "self_attention": [{"module": name, "head": head, "weights": rows[head].tolist(),
                            "top_word": source_words[int(rows[head].argmax())], "top_word_index": int(rows[head].argmax())}
                           for name, rows in self_rows.items() for head in range(rows.shape[0])],
        "cross_attention": {"target_pieces": target_labels, "weights_on_word": cross_words[:, word_index].tolist(),
                            "top_target_piece": target_labels[top_row], "top_target_word": top_target_word,
                            "top_weight": float(cross_words[top_row, word_index])},
    }
    figures = {}
    if self_rows:
        figures["sentence_self_attention"] = _self_attention_figure(self_rows, source_words, word_index)
    figures["sentence_cross_attention"] = _cross_attention_figure(cross_words, target_labels, source_words,
                                                                  word_index, top_row, search=translated.search)
    table = Table(caption=f"Where {source_words[word_index]!r} attends most, per encoder layer and head",
                  header=["module", "head", "top word", "weight"],
                  rows=[[row["module"], row["head"], row["top_word"], round(max(row["weights"]), 3)]
                        for row in numbers["self_attention"]])
    summary = [f"sentence: {text!r} -> {translated.translation!r} ({translated.search})",
               (f"sentence: {top_target_word!r} is the target word that attends most to {source_words[word_index]!r} "
               f"(weight {numbers['cross_attention']['top_weight']:.2f}, heads and layers averaged)")]
    for name, rows in self_rows.items():
        summary.append(f"sentence: {name}: {source_words[word_index]!r} attends most to "
                       + ", ".join(source_words[int(index)] for index in rows.argmax(axis=-1)) + " (heads in order)")
    return SectionResult(name="sentence", title=TITLE, numbers=numbers, tables=[table] if self_rows else [],
                         figures=figures, summary=summary,
                         text=_text(source_words[word_index], word_index, matches, has_self=bool(self_rows),
                                    search=translated.search))


def _target_word(labels: list[str], word_of_piece: list[int], row: int) -> str:
    """The target word whose piece is `labels[row]`: its pieces joined; the EOS row is EOS."""
    if word_of_piece[row] < 0:
        return EOS_PIECE
    pieces = [label for label, word in zip(labels, word_of_piece) if word == word_of_piece[row]]
    return "".join(pieces).replace(WORD_START, "") or labels[row]


def _self_attention_figure(rows: dict[str, np.ndarray], source_words: list[str], word_index: int) -> Figure:
    """One heatmap per encoder layer: heads as rows, source words as columns; the word's column outlined,
    each head's strongest word dotted."""
    num_heads = max(panel.shape[0] for panel in rows.values())
    width = CELL_INCHES * len(source_words) + 2.5
    height = sum(CELL_INCHES * panel.shape[0] + 1.2 for panel in rows.values()) + 0.8
    figure = Figure(figsize=(max(5.0, width), height), layout="constrained")
    axes = figure.subplots(len(rows), 1, squeeze=False)[:, 0]
    image = None
    for ax, (name, panel) in zip(axes, rows.items()):
        image = ax.imshow(panel, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_yticks(range(panel.shape[0]), labels=[f"head {head}" for head in range(panel.shape[0])])
        _source_word_ticks(ax, source_words)
        _outline_column(ax, word_index, panel.shape[0])
        ax.scatter(panel.argmax(axis=-1), range(panel.shape[0]), marker="o", s=18, color="white",
                   edgecolors="black", linewidths=0.5)
        ax.set_title(f"{name}", fontsize=9)
    figure.colorbar(image, ax=list(axes), shrink=0.8, label="attention weight")
    figure.suptitle(f"Encoder self-attention of {source_words[word_index]!r} in every layer and head\n"
                    f"(its column outlined; dot: the word each of the {num_heads} heads attends to most)", fontsize=9)
    return figure


def _cross_attention_figure(cross_words: np.ndarray, target_labels: list[str], source_words: list[str],
                            word_index: int, top_row: int, *, search: str) -> Figure:
    """Target pieces × source words, heads and layers averaged; the word's column outlined and the target
    piece that attends to it most marked."""
    figure = Figure(figsize=(max(6.0, CELL_INCHES * len(source_words) + 2.5),
                             max(3.0, CELL_INCHES * len(target_labels) + 1.8)), layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(cross_words, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    _source_word_ticks(ax, source_words)
    ax.set_yticks(range(len(target_labels)), labels=target_labels)
    ax.get_yticklabels()[top_row].set_color(HIGHLIGHT)
    ax.get_yticklabels()[top_row].set_fontweight("bold")
    _outline_column(ax, word_index, len(target_labels))
    ax.scatter([word_index], [top_row], marker="*", s=90, color=HIGHLIGHT, edgecolors="white", linewidths=0.5)
    ax.set_xlabel("source words")
    ax.set_ylabel("target pieces (the translation)")
    figure.colorbar(image, ax=ax, shrink=0.8, label="attention weight")
    figure.suptitle(f"Cross-attention of the translation ({search}), heads and layers averaged\n"
                    f"column {source_words[word_index]!r} outlined; ★ the target piece attending to it most", fontsize=9)
    return figure


def _source_word_ticks(ax, source_words: list[str]) -> None:
    """The source words under the columns, slanted, each ending at its column (rotated about that end)."""
    ax.set_xticks(range(len(source_words)), labels=source_words, rotation=60, ha="right", rotation_mode="anchor")


def _outline_column(ax, column: int, num_rows: int) -> None:
    ax.add_patch(Rectangle((column - 0.5, -0.5), 1.0, num_rows, fill=False, edgecolor=HIGHLIGHT, linewidth=2))


def _text(word: str, word_index: int, matches: int, *, has_self: bool, search: str) -> str:
    text = (f"The sentence is translated as nmt-translate translates it with the same options ({search}). "
            f"The cross-attention figure shows, for each target piece of that translation, its "
            f"attention over the source words (a word's pieces summed), averaged over heads and layers; the column "
            f"of {word!r} is outlined and the target piece that attends to it most is starred.")
    if has_self:
        text += (f" The self-attention figure shows the row of {word!r} (its pieces' rows averaged) in every encoder "
                 "layer and head; a dot marks the word each head attends to most. For a pronoun, a head whose weight "
                 "lands on its antecedent is one that links the two.")
    else:
        text += (" This model's encoder is recurrent, so there is no encoder self-attention to show: only the "
                 "cross-attention figure.")
    if matches > 1:
        text += f" {word!r} occurs {matches} times in the sentence; the first (word {word_index}) is shown."
    return text
