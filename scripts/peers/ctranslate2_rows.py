"""nmt's trained Transformer decoded by nmt and by CTranslate2 (nmt's own export): the rows of the second table.

For each search (beam --beam and greedy) the same weights are decoded by nmt in fp32 and by
CTranslate2 from an nmt export of every --ct2-quantizations type, each in a measured child process
on the same sentences. CTranslate2 runs twice: as an engine on its own ("ctranslate2": one
`translate_batch` call over all sentences, its own length penalty, one hypothesis each, the
longest source's length limit) and through nmt's CTranslate2Translator ("nmt-ct2", the code path
of `nmt-translate ckpt=DIR`: nmt's length limits per source length and nmt's ranking, which
rescores every hypothesis teacher-forced).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from peers.logs import parse_generation_seconds
from peers.runner import Runner, ToolResult, median_decode, timed_translation

CT2_MODELS = ("transformer",)  # CTranslate2 has no RNN decoder
NMT_PRECISIONS = {"32": "fp32", "bf16": "bf16"}  # --nmt-decode-precision -> the table's name
TIMED_LIKE = "nmt"  # both children print nmt's `generation_seconds=` line


@dataclass
class WeightsDecoding:
    """One decoding of nmt's trained weights: an engine, the type it computes in, a beam size."""

    model: str
    engine: str  # "nmt", "ctranslate2" (the engine's own search) or "nmt-ct2" (nmt's CTranslate2Translator)
    precision: str  # nmt: fp32 | bf16; CTranslate2: the export's quantization (float32, int8, ...)
    beam: int  # 1: greedy search
    sentences: int = 0
    generation_s: float | None = None  # translating only, model loading excluded
    wall_s: float | None = None
    sentences_per_s: float | None = None
    peak_rss_mb: float | None = None
    bleu: float | None = None
    mean_hypothesis_words: float | None = None
    speed_vs_nmt_fp32: float | None = None  # sent/s over nmt fp32's with the same beam size
    speed_vs_onmt_beam: float | None = None  # sent/s over OpenNMT-py's beam search (its own model)
    error: str | None = None

    @property
    def search(self) -> str:
        return "greedy" if self.beam == 1 else f"beam {self.beam}"

    @property
    def label(self) -> str:
        return f"{self.engine} {self.precision} {self.search}"


def decode_nmt_weights(runner: Runner, nmt_result: ToolResult) -> list[WeightsDecoding]:
    """nmt's and CTranslate2's decodings of the checkpoint in `nmt_result`, beam and greedy; none for an RNN.

    Rows: nmt fp32 beam, nmt at --nmt-decode-precision when not fp32, nmt fp32 greedy, then per
    quantization CTranslate2 beam and greedy. nmt's own decoding of `nmt_result` is reused, not repeated.
    """
    args, model = runner.args, nmt_result.model
    if model not in CT2_MODELS:
        print(f"  ctranslate2: skipped for {model} (CTranslate2 has no RNN decoder)", flush=True)
        return []
    if nmt_result.checkpoint is None:
        print(f"  ctranslate2: skipped for {model}, nmt left no checkpoint ({nmt_result.error})", flush=True)
        return []
    print(f"{model} / nmt's weights: nmt fp32 and CTranslate2 {' '.join(args.ct2_quantizations)}, "
          f"beam {args.beam} and greedy", flush=True)
    checkpoint = Path(nmt_result.checkpoint)
    searches = list(dict.fromkeys((args.beam, 1)))
    reused = from_tool_result(nmt_result, precision=NMT_PRECISIONS[args.nmt_decode_precision], beam=args.beam)

    def nmt_fp32(beam: int) -> WeightsDecoding:
        row = WeightsDecoding(model=model, engine="nmt", precision="fp32", beam=beam)
        return _measure(runner, row, "decode-nmt", ["--ckpt", checkpoint, "--precision", "32"])

    rows = [reused] if reused.precision == "fp32" else [nmt_fp32(args.beam), reused]
    rows.extend(nmt_fp32(beam) for beam in searches[1:])
    for quantization in args.ct2_quantizations:
        rows.extend(_ctranslate2_rows(runner, checkpoint, model, quantization, searches))
    return rows


def from_tool_result(result: ToolResult, *, precision: str, beam: int) -> WeightsDecoding:
    """The main table's nmt decoding as a row of this one."""
    return WeightsDecoding(
        model=result.model, engine="nmt", precision=precision, beam=beam, sentences=result.decode_sentences,
        generation_s=result.decode_generation_s, wall_s=result.decode_wall_s,
        sentences_per_s=result.decode_sentences_per_s, peak_rss_mb=result.decode_peak_rss_mb, bleu=result.bleu,
        mean_hypothesis_words=result.mean_hypothesis_words, error=result.error)


def _ctranslate2_rows(runner: Runner, checkpoint: Path, model: str, quantization: str,
                      searches: Sequence[int]) -> list[WeightsDecoding]:
    from nmt.errors import NMTError

    rows = [WeightsDecoding(model=model, engine=engine, precision=quantization, beam=beam)
            for engine in ("ctranslate2", "nmt-ct2") for beam in searches]
    directory = runner.args.work_dir / "nmt" / f"{model}-ct2-{quantization}"
    try:
        export_afresh(checkpoint, directory, quantization=quantization)
    except NMTError as error:
        print(f"  ctranslate2 {quantization}: export FAILED: {error}", file=sys.stderr, flush=True)
        return [replace(row, error=f"export: {error}") for row in rows]
    print(f"  exported {checkpoint} to {directory} ({quantization} weights)", flush=True)
    return [_measure(runner, row, "decode-ct2",
                     ["--model-dir", directory, *(["--native"] if row.engine == "ctranslate2" else [])])
            for row in rows]


def export_afresh(checkpoint: Path, directory: Path, *, quantization: str) -> Path:
    """nmt's CTranslate2 export of `checkpoint` at `directory`, replacing an earlier export there.

    The export is redone on every run so that it always holds the weights just decoded by nmt
    (with --decode-only, an earlier run's directory may hold another checkpoint's).
    """
    from nmt.checkpoint import load_checkpoint
    from nmt.inference.ctranslate2_translation import is_ctranslate2_export
    from nmt.inference.export_ctranslate2 import export_ctranslate2

    if is_ctranslate2_export(directory):
        shutil.rmtree(directory)
    return export_ctranslate2(load_checkpoint(checkpoint), directory, quantization=quantization)


def _measure(runner: Runner, row: WeightsDecoding, command: str,
             model_arguments: list[str | Path]) -> WeightsDecoding:
    """`row` with the figures of its decoding child run --decode-repeats times (the median run), or its error."""
    name = f"{row.engine}-{row.precision}-beam{row.beam}"
    directory = runner.args.work_dir / "nmt" / f"{row.model}-decodings"
    hypotheses_path = directory / f"{name}.txt"
    try:
        decodes = [runner.decode_child(command, model_arguments, hypotheses_path, beam=row.beam,
                                       log_path=directory / f"{name}.out")
                   for _ in range(runner.args.decode_repeats)]
        decoded = median_decode(TIMED_LIKE, decodes)
        hypotheses = hypotheses_path.read_text(encoding="utf-8").splitlines()
        bleu, words = runner.score_hypotheses(row.label, hypotheses)
    except (RuntimeError, FileNotFoundError) as error:
        print(f"  {row.label}: FAILED: {error}", file=sys.stderr, flush=True)
        return replace(row, error=str(error).splitlines()[0])
    generation_s = parse_generation_seconds(TIMED_LIKE, decoded.log)
    measured = replace(row, sentences=len(hypotheses), generation_s=generation_s, wall_s=decoded.wall_s,
                       sentences_per_s=len(hypotheses) / (generation_s or decoded.wall_s),
                       peak_rss_mb=decoded.peak_rss_mb, bleu=bleu, mean_hypothesis_words=words)
    print(f"  {row.label}: {measured.sentences_per_s:,.1f} sent/s, BLEU {bleu:.2f}", flush=True)
    return measured


def with_speed_ratios(decodings: Sequence[WeightsDecoding], results: Sequence[ToolResult]) -> list[WeightsDecoding]:
    """Each decoding with its sent/s over nmt fp32's with the same beam size and over OpenNMT-py's beam search."""
    nmt_fp32 = {(row.model, row.beam): row.sentences_per_s for row in decodings
                if row.engine == "nmt" and row.precision == "fp32"}
    onmt_beam = {result.model: result.decode_sentences_per_s for result in results if result.tool == "onmt"}
    return [replace(row, speed_vs_nmt_fp32=_ratio(row.sentences_per_s, nmt_fp32.get((row.model, row.beam))),
                    speed_vs_onmt_beam=_ratio(row.sentences_per_s, onmt_beam.get(row.model)))
            for row in decodings]


def _ratio(ours: float | None, theirs: float | None) -> float | None:
    return ours / theirs if ours is not None and theirs else None


def decode_ct2_main(args: argparse.Namespace) -> None:
    """Child process: translate a file with CTranslate2 (--native) or nmt's CTranslate2 decoding of an export,
    and print the generation time."""
    if args.native:
        decode_ct2_native(args)
        return
    import torch

    from nmt.device import configure_cpu
    from nmt.inference.ctranslate2_translation import CTranslate2Translator

    configure_cpu(args.threads)
    translator = CTranslate2Translator(
        args.model_dir, beam_size=args.beam, length_penalty=args.length_penalty, max_len_a=args.max_len_a,
        max_len_b=args.max_len_b, batch_tokens=args.batch_tokens, device=torch.device("cpu"), max_src_tokens=None,
        precision="32", threads=args.threads)  # precision 32: compute in the type the export stored
    timed_translation(translator.translate, args)


def decode_ct2_native(args: argparse.Namespace) -> None:
    """CTranslate2 as an engine: tokenize, one `translate_batch` over every line, detokenize; timed as nmt's child is.

    The length limit is the longest source's (max_len_a * S + max_len_b pieces, S with EOS), since
    CTranslate2 takes one limit per call; the export appends EOS to sources itself.
    """
    import ctranslate2

    from nmt.inference.ctranslate2_translation import read_tokenizer
    from nmt.tokens import BOS_PIECE, PAD_PIECE

    tokenizer = read_tokenizer(args.model_dir)
    target_ids = {piece: i for i, piece in enumerate(tokenizer.tgt_pieces(range(tokenizer.tgt_vocab_size)))}
    engine = ctranslate2.Translator(str(args.model_dir), device="cpu", compute_type="default",
                                    intra_threads=args.threads)

    def translate(sources: list[str]) -> list[str]:
        source_pieces = [tokenizer.src_pieces(ids) for ids in tokenizer.encode_src(sources)]
        longest = max((len(pieces) + 1 for pieces in source_pieces), default=1)
        results = engine.translate_batch(
            source_pieces, beam_size=args.beam, num_hypotheses=1, length_penalty=args.length_penalty,
            max_decoding_length=max(1, int(args.max_len_a * longest + args.max_len_b)), max_input_length=0,
            suppress_sequences=[[PAD_PIECE], [BOS_PIECE]], max_batch_size=args.batch_tokens, batch_type="tokens")
        return [tokenizer.decode_tgt([target_ids[piece] for piece in result.hypotheses[0]]) for result in results]

    timed_translation(translate, args)
