"""nmt-evaluate: score a checkpoint on a split with sacrebleu BLEU, chrF and TER (and lowercased BLEU).

    nmt-evaluate ckpt=outputs/demo/checkpoints/best.pt
    nmt-evaluate ckpt=best.pt split=validation beam_size=1
    nmt-evaluate ckpt=best.pt data=multi30k data.local_dir=../shared/data/multi30k
    nmt-evaluate ckpt=[a.pt,b.pt]                     # an ensemble, on the first checkpoint's corpus
    nmt-evaluate ckpt=best.pt sampling=true seed=1    # BLEU of one sample per sentence

By default the split comes from the corpus the checkpoint was trained on (its
data config is stored inside it); `data=<preset>` evaluates on another corpus,
whose text is tokenized with the checkpoint's own SentencePiece model. Prints the
scores with their signatures (beside the cased BLEU, lowercased BLEU: the metric of
the Multi30k literature), BLEU by source length (Bahdanau et al. 2015, fig. 2)
and, when the corpus has a contrastive pronoun split, the pronoun accuracy; writes
the hypotheses and a JSON of every number beside the checkpoint or in `output=`.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Literal

import hydra
from omegaconf import DictConfig, OmegaConf

from nmt.cli.common import (
    data_dir,
    data_overrides_need_a_preset,
    given_corpus,
    log_to_stderr,
    report_user_errors,
    required_checkpoints,
    stored_corpus,
)
from nmt.data.corpus import LONG_SPLIT, PRONOUN_SPLIT, SPLITS
from nmt.data.pipeline import load_clean_pairs
from nmt.data.validation import check_value
from nmt.errors import NMTError
from nmt.inference.loading import LoadedTranslator, load_translator
from nmt.inference.options import DecodingOptions
from nmt.metrics import (
    PronounAccuracy,
    bleu_by_length,
    check_length_edges,
    corpus_scores,
    evaluation_files,
    format_length_table,
    pronoun_accuracy,
)

log = logging.getLogger(__name__)

# Printed after a score's line, where the signature alone does not say why the score is there.
SCORE_NOTES = {"bleu_lc": "~ the Multi30k papers' BLEU (lowercased, Moses-tokenized): close, not identical"}


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Translate and score one split with a composed config; returns the report written to JSON."""
    checkpoint_paths = required_checkpoints(cfg)
    # Every key is checked before the checkpoint or the corpus is read: a typo costs no loading.
    values = OmegaConf.to_container(cfg, resolve=True)
    options = DecodingOptions.from_dict(values)  # type: ignore[arg-type]
    _check_evaluate_keys(values)  # type: ignore[arg-type]
    given, corpora_dir = given_corpus(cfg), data_dir(cfg)
    translator = load_translator(checkpoint_paths, options)  # .pt files or a CTranslate2 export, as nmt.load opens
    corpus = given or stored_corpus(checkpoint_paths[0], translator.data_config)
    pairs = load_clean_pairs(corpus, data_dir=corpora_dir)
    if cfg.split not in pairs:
        raise NMTError(f"split={cfg.split} is not in corpus '{corpus.name}'; choose one of {', '.join(pairs)}.")
    split = pairs[cfg.split].select(range(min(cfg.max_sentences or len(pairs[cfg.split]), len(pairs[cfg.split]))))
    sources, references = list(split["src"]), list(split["tgt"])
    start = time.perf_counter()
    hypotheses = translator.translate(sources)
    seconds = time.perf_counter() - start
    scores = corpus_scores(hypotheses, references)
    buckets = bleu_by_length(sources, hypotheses, references, edges=list(cfg.length_buckets))
    pronouns = _pronoun_accuracy(translator, pairs[PRONOUN_SPLIT]) if PRONOUN_SPLIT in pairs else None

    report: dict[str, Any] = {
        "checkpoint": " + ".join(str(path) for path in checkpoint_paths),
        "step": translator.step,
        "corpus": corpus.name,
        "direction": f"{corpus.src_lang}-{corpus.tgt_lang}",
        "split": cfg.split,
        "num_sentences": len(sources),
        "search": {"beam_size": options.beam_size, "length_penalty": options.length_penalty,
                   "max_len_a": options.max_len_a, "max_len_b": options.max_len_b,
                   "sampling": None if not options.sampling else {
                       "temperature": options.temperature, "top_k": options.top_k, "top_p": options.top_p,
                       "seed": options.seed}},
        "translation_seconds": round(seconds, 3),
        **{name: {"score": s.score, "signature": s.signature, "detail": s.detail} for name, s in scores.items()},
        "bleu_by_length": [{"source_words": b.label, "sentences": b.num_sentences, "bleu": b.bleu, "bleu_lc": b.bleu_lc}
                           for b in buckets],
        "pronoun_accuracy": None if pronouns is None else {
            "accuracy": pronouns.accuracy, "pairs": pronouns.num_pairs,
            "per_pronoun": {word: {"accuracy": acc, "pairs": n} for word, (acc, n) in pronouns.per_pronoun.items()},
        },
    }
    output_dir = Path(cfg.output) if cfg.output is not None else checkpoint_paths[0].parent
    search = f"sample{options.seed}" if options.sampling else f"beam{options.beam_size}"
    hypotheses_path, report_path = evaluation_files(output_dir, [path.stem for path in checkpoint_paths],
                                                    corpus.name, cfg.split, search)
    output_dir.mkdir(parents=True, exist_ok=True)
    hypotheses_path.write_text("".join(line + "\n" for line in hypotheses), encoding="utf-8")
    report_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    print(_summary(report, scores, buckets, pronouns))
    print(f"hypotheses: {hypotheses_path}\nscores:     {report_path}")
    return report


def _check_evaluate_keys(values: dict[str, Any]) -> None:
    """The keys only nmt-evaluate has (the decoding ones are DecodingOptions'), from the resolved config."""
    # pronoun_test and long_test: data=sample only
    check_value(values["split"], Literal[(*SPLITS, PRONOUN_SPLIT, LONG_SPLIT)], key="split")
    max_sentences = check_value(values["max_sentences"], int | None, key="max_sentences")
    if max_sentences is not None and max_sentences < 1:
        raise NMTError(f"max_sentences={max_sentences} must be a positive number of sentences or null for all.")
    check_length_edges(check_value(values["length_buckets"], list[int], key="length_buckets"))
    output = check_value(values["output"], str | None, key="output")
    if output is not None and Path(output).is_file():
        raise NMTError(f"output={output} is a file; name a directory for the hypotheses and scores.")


def _pronoun_accuracy(translator: LoadedTranslator, split: Any) -> PronounAccuracy:
    """Score each source with its correct and its contrastive target; count how often the correct one wins."""
    sources, correct, contrast = list(split["src"]), list(split["tgt"]), list(split["contrast"])
    return pronoun_accuracy(
        translator.score(sources, correct), translator.score(sources, contrast),
        correct_targets=correct, contrast_targets=contrast,
    )


def _summary(report: dict[str, Any], scores: dict, buckets: list, pronouns: PronounAccuracy | None) -> str:
    step = "" if report["step"] is None else f" (step {report['step']})"
    search = report["search"]
    lines = [
        (f"{report['checkpoint']}{step} on {report['corpus']} {report['direction']} {report['split']}: "
         f"{report['num_sentences']} sentences, {_search_text(search)}, {report['translation_seconds']:.1f} s"),
        *(f"{score}  {SCORE_NOTES[name]}" if name in SCORE_NOTES else str(score) for name, score in scores.items()),
        f"  {scores['bleu'].detail}",
        "",
        "BLEU by source length:",
        format_length_table(buckets),
    ]
    if pronouns is not None:
        lines += ["", str(pronouns)]
    return "\n".join(lines)


def _search_text(search: dict[str, Any]) -> str:
    if search["sampling"] is None:
        return f"beam {search['beam_size']}, length penalty {search['length_penalty']}"
    return "sampling with " + ", ".join(f"{key} {value}" for key, value in search["sampling"].items())


@data_overrides_need_a_preset
@hydra.main(config_path="pkg://nmt.configs", config_name="evaluate", version_base=None)
@report_user_errors
def main(cfg: DictConfig) -> None:
    log_to_stderr()
    evaluate(cfg)


if __name__ == "__main__":
    main()
