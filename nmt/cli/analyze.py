"""nmt-analyze: what the attention of one checkpoint does, written as one self-contained HTML report.

    nmt-analyze ckpt=outputs/demo/checkpoints/best.pt output=report/
    nmt-analyze ckpt=best.pt output=report/ sections=[heads,ablation] max_sentences=50
    nmt-analyze ckpt=best.pt output=report/ alignments=test.align pronouns=contrastive.tsv
    nmt-analyze ckpt=best.pt output=report/ text="The trophy didn't fit in the case because it was too big."
    nmt-analyze ckpt=best.pt output=report/ sections=sentence text="..." word=it beam_size=1   # greedy view

Reads the first `max_sentences` pairs of a split of the corpus stored in the checkpoint (or of
`data=<preset>`), with gold word alignments and contrastive pronoun pairs when given or when the
corpus has them, runs the chosen sections (`nmt.analysis.sections`) and writes report.html,
report.json and figures/ into `output=`. Prints each section's summary and the report's path.
The one-sentence view translates `text` as nmt-translate does (beam_size, length_penalty and the
length limits mean what they mean there), so it shows the translation nmt-translate prints.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import datasets
import hydra
from omegaconf import DictConfig, OmegaConf

import nmt
from nmt.analysis.alignment import check_alignment, parse_pharaoh, read_pharaoh
from nmt.analysis.core import Alignment, AnalysisContext, ContrastiveExample, Example, make_examples
from nmt.analysis.pronouns import read_contrastive_tsv
from nmt.analysis.report import ReportPaths, summary_text, write_report
from nmt.analysis.sections import check_section_names, run_sections
from nmt.cli.common import (
    data_dir,
    data_overrides_need_a_preset,
    given_corpus,
    log_to_stderr,
    report_user_errors,
    required_checkpoints,
    stored_corpus,
)
from nmt.data.corpus import PRONOUN_SPLIT, SPLITS, CorpusConfig
from nmt.data.pipeline import load_clean_pairs
from nmt.data.tokenizer import Tokenizer
from nmt.data.validation import check_at_least, check_fields, check_value, from_mapping
from nmt.device import check_device, configure_cpu, resolve_device
from nmt.errors import NMTError
from nmt.inference.ctranslate2_translation import is_ctranslate2_export
from nmt.inference.options import DecodingOptions
from nmt.inference.translation import load_for_translation
from nmt.models.seq2seq import Seq2Seq

log = logging.getLogger(__name__)

# The one-sentence view (text=null, word=null): the sentence of the Tensor2Tensor attention
# picture (Vaswani et al. 2017), whose heads link "it" to "animal".
DEFAULT_TEXT = "The animal didn't cross the street because it was too tired."
DEFAULT_WORD = "it"
DEFAULT_TEXT_LANG = "en"
ALIGNMENT_COLUMN = "alignment"  # Pharaoh strings ("0-0 1-2 2?1"), in corpora that have gold alignments


@dataclass(frozen=True, kw_only=True)
class AnalyzeOptions:
    """The top-level keys of configs/analyze.yaml besides ckpt, data and paths, checked before any file is read."""

    split: str  # the corpus split whose first max_sentences pairs are analysed
    max_sentences: int | None  # None = the whole split
    sections: list[str]  # section names, run in report order
    alignments: str | None  # Pharaoh file of gold word alignments, one line per pair of the split
    pronouns: str | None  # TSV of contrastive pronoun pairs
    text: str  # the sentence of the one-sentence view
    word: str  # the word of `text` whose attention that view follows
    output: str  # directory of report.html, report.json and figures/
    device: str  # auto | cpu | cuda | cuda:N
    threads: int  # torch's CPU threads; 0 = torch's default
    batch_tokens: int  # padded tokens per batch
    max_len_a: float  # translations get at most max_len_a * source pieces + max_len_b pieces
    max_len_b: int
    beam_size: int  # the one-sentence view's search, as nmt-translate's; 1 = greedy
    length_penalty: float  # GNMT alpha of that search
    seed: int  # seeds every random choice of the sections
    ranking_sentences: int | None  # head pruning ranks heads on the first N sentences; None = all

    def __post_init__(self) -> None:
        check_fields(self, prefix="")
        check_value(self.split, Literal[(*SPLITS, PRONOUN_SPLIT)], key="split")
        check_device(self.device)
        check_at_least(self, 1, "max_sentences", "batch_tokens", "ranking_sentences", prefix="")
        check_at_least(self, 0, "threads", "max_len_a", "max_len_b", prefix="")
        object.__setattr__(self, "sections", check_section_names(self.sections))
        self.sentence_search()  # beam_size and length_penalty checked as nmt-translate checks them
        if Path(self.output).is_file():
            raise NMTError(f"output={self.output} is a file; name a directory for report.html, report.json "
                           "and figures/.")
        for key in ("alignments", "pronouns"):
            path = getattr(self, key)
            if path is not None and not Path(path).is_file():
                what = "a Pharaoh alignment file" if key == "alignments" else "a TSV of contrastive pronoun pairs"
                raise NMTError(f"{key}={path} does not exist; pass {what}, or leave {key} out.")

    def sentence_search(self) -> DecodingOptions:
        """How the one-sentence view translates: nmt-translate's options with this run's beam_size, length_penalty
        and length limits, in float32, searching (never sampling) and reading the whole sentence."""
        return DecodingOptions(beam_size=self.beam_size, length_penalty=self.length_penalty, max_len_a=self.max_len_a,
                               max_len_b=self.max_len_b, max_src_tokens=None, batch_tokens=self.batch_tokens,
                               device=self.device, precision="32", threads=self.threads, sampling=False,
                               temperature=1.0, top_k=0, top_p=1.0, seed=self.seed)

    @classmethod
    def from_config(cls, cfg: DictConfig) -> AnalyzeOptions:
        """Build from a composed config; a missing output= and text given as a number are handled here."""
        if OmegaConf.is_missing(cfg, "output") or cfg.output is None:
            raise NMTError("no output directory given: pass output=DIR, e.g. output=report/.")
        values = OmegaConf.to_container(cfg, resolve=True)
        names = {field.name for field in fields(cls)}
        chosen: dict[str, Any] = {key: value for key, value in values.items() if key in names}  # type: ignore[union-attr]
        if isinstance(chosen["sections"], str):  # sections=heads: one section
            chosen["sections"] = [chosen["sections"]]
        for key, default in (("text", DEFAULT_TEXT), ("word", DEFAULT_WORD)):
            value = check_value(chosen[key], str | int | float | None, key=key)  # text=12 arrives as a number
            chosen[key] = default if value is None else str(value)
        return from_mapping(cls, chosen, prefix="")


def analyze(cfg: DictConfig) -> ReportPaths:
    """Analyse one checkpoint with a composed config; returns where the report was written."""
    checkpoint_path = _single_checkpoint(cfg)
    # Every key is checked before the checkpoint or the corpus is read: a typo costs no loading.
    options = AnalyzeOptions.from_config(cfg)
    given, corpora_dir = given_corpus(cfg), data_dir(cfg)
    configure_cpu(options.threads)
    device = resolve_device(options.device)
    start = time.perf_counter()
    checkpoint, model, tokenizer = load_for_translation(checkpoint_path, device=device)
    corpus = given or stored_corpus(checkpoint_path, checkpoint.data_config)
    if "sentence" in options.sections and options.text == DEFAULT_TEXT and corpus.src_lang != DEFAULT_TEXT_LANG:
        log.warning("the one-sentence view defaults to an English sentence, but this model translates from '%s': "
                    "pass text=\"...\" word=... in that language to see its attention on a real input.",
                    corpus.src_lang)
    pairs = load_clean_pairs(corpus, data_dir=corpora_dir)
    examples, skipped = _examples(pairs, corpus, tokenizer, model, options)
    pronouns = _contrastive_pairs(pairs, options)
    context = AnalysisContext(
        model=model, tokenizer=tokenizer, examples=examples, device=device, pronouns=pronouns,
        batch_tokens=options.batch_tokens, max_len_a=options.max_len_a, max_len_b=options.max_len_b,
        text=options.text, word=options.word, search=options.sentence_search(), seed=options.seed,
        ranking_sentences=options.ranking_sentences,
    )
    results = run_sections(context, options.sections)
    meta = {
        "checkpoint": str(checkpoint_path),
        "step": checkpoint.step,
        "model": _model_description(checkpoint.model_config, model),
        "attention": f"{len(context.heads)} modules, {sum(context.heads.values())} heads",
        "corpus": f"{corpus.name} {corpus.src_lang}-{corpus.tgt_lang}",
        "split": options.split,
        "sentences": len(examples),
        **skipped,
        "gold_alignments": sum(example.alignment is not None for example in examples),
        "pronoun_pairs": 0 if pronouns is None else len(pronouns),
        "sections": options.sections,
        "device": str(device),
        "seed": options.seed,
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "nmt_version": nmt.__version__,
        "seconds": round(time.perf_counter() - start, 1),
    }
    paths = write_report(results, Path(options.output), meta=meta)
    print(summary_text(results))
    print(f"report: {paths.html}")
    return paths


def _single_checkpoint(cfg: DictConfig) -> Path:
    """The one .pt checkpoint `ckpt=` names: hooks need nmt's own model, so no ensemble and no export."""
    paths = required_checkpoints(cfg)
    if len(paths) > 1:
        raise NMTError(f"ckpt names {len(paths)} checkpoints (an ensemble); analysis needs one nmt checkpoint: "
                       "pass ckpt=PATH to a .pt file.")
    if is_ctranslate2_export(paths[0]):
        raise NMTError(f"ckpt={paths[0]} is a CTranslate2 export; analysis needs one nmt checkpoint (.pt) to "
                       "hook its attention: pass the checkpoint it was exported from.")
    return paths[0]


def _examples(pairs: datasets.DatasetDict, corpus: CorpusConfig, tokenizer: Tokenizer, model: Seq2Seq,
              options: AnalyzeOptions) -> tuple[list[Example], dict[str, int]]:
    """The first max_sentences pairs of the split with their gold alignments, and how many pairs were left out."""
    if options.split not in pairs:
        raise NMTError(f"split={options.split} is not in corpus '{corpus.name}'; choose one of {', '.join(pairs)}.")
    split = pairs[options.split]
    count = len(split) if options.max_sentences is None else min(options.max_sentences, len(split))
    rows = split.select(range(count))
    alignments = _gold_alignments(split, rows, where=f"corpus '{corpus.name}' split {options.split}",
                                  options=options)
    examples = make_examples(tokenizer, list(rows["src"]), list(rows["tgt"]), alignments, model=model)
    skipped = {"skipped_beyond_max_sentences": len(split) - count, "skipped_empty": count - len(examples)}
    log.info("analysing %d pairs of %s %s: %d beyond max_sentences and %d with a side empty or longer than "
             "the model accepts left out",
             len(examples), corpus.name, options.split, skipped["skipped_beyond_max_sentences"],
             skipped["skipped_empty"])
    if not examples:
        raise NMTError(f"split={options.split} of corpus '{corpus.name}' has no pair to analyse "
                       f"({len(split)} pairs, none with text on both sides within the model's length limits); "
                       "choose another split.")
    return examples, skipped


def _gold_alignments(split: datasets.Dataset, rows: datasets.Dataset, *, where: str,
                     options: AnalyzeOptions) -> list[Alignment | None] | None:
    """One gold alignment per row of `rows` (the first rows of `split`): from alignments=, else from the
    corpus's alignment column, else None."""
    if options.alignments is not None:
        alignments = read_pharaoh(Path(options.alignments), expected_lines=len(split))[: len(rows)]
        for number, (alignment, src, tgt) in enumerate(zip(alignments, rows["src"], rows["tgt"]), start=1):
            check_alignment(alignment, num_src_words=len(src.split()), num_tgt_words=len(tgt.split()),
                            where=f"alignments={options.alignments} line {number}")
        return alignments
    if ALIGNMENT_COLUMN not in split.column_names:
        return None
    return [None if line is None else parse_pharaoh(line, where=f"{where} row {number}")
            for number, line in enumerate(rows[ALIGNMENT_COLUMN], start=1)]


def _contrastive_pairs(pairs: datasets.DatasetDict, options: AnalyzeOptions) -> list[ContrastiveExample] | None:
    """The contrastive pronoun pairs: from pronouns=, else the corpus's pronoun_test split, else None."""
    if options.pronouns is not None:
        return read_contrastive_tsv(Path(options.pronouns))
    if PRONOUN_SPLIT not in pairs:
        return None
    split = pairs[PRONOUN_SPLIT]
    no_index = [None] * len(split)
    antecedents = split["antecedent"] if "antecedent" in split.column_names else no_index
    pronouns = split["pronoun"] if "pronoun" in split.column_names else no_index
    return [ContrastiveExample(src=src, correct=correct, contrast=contrast, antecedent=antecedent, pronoun=pronoun)
            for src, correct, contrast, antecedent, pronoun
            in zip(split["src"], split["tgt"], split["contrast"], antecedents, pronouns)]


def _model_description(model_config: Mapping[str, Any], model: Seq2Seq) -> str:
    """Family and size: 'Transformer, 1,234,567 parameters' (RNNs add their attention)."""
    family = str(model_config["_target_"]).rsplit(".", 1)[-1]
    if "attention" in model_config:
        family += f" ({model_config['attention']} attention)"
    parameters = sum(parameter.numel() for parameter in model.parameters())
    return f"{family}, {parameters:,} parameters"


@data_overrides_need_a_preset
@hydra.main(config_path="pkg://nmt.configs", config_name="analyze", version_base=None)
@report_user_errors
def main(cfg: DictConfig) -> None:
    log_to_stderr()
    analyze(cfg)


if __name__ == "__main__":
    main()
