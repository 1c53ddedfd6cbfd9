"""nmt-translate: translate raw text with a checkpoint, nothing else needed.

    echo "Ein Mann fährt Fahrrad." | nmt-translate ckpt=outputs/run/checkpoints/best.pt
    nmt-translate ckpt=best.pt text="Ein Hund läuft." plot=attention.png
    nmt-translate ckpt=best.pt input=test.de output=test.en beam_size=10 nbest=3

One output line per input line (empty lines stay empty), or with nbest > 1,
`nbest` lines per input line formatted `i ||| translation ||| score` with i the
0-based input line. On a terminal each line is translated as soon as it is typed;
from a pipe or a file, all lines are translated in length-sorted batches. The
output is the same either way.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import hydra
from omegaconf import DictConfig

from nmt.cli.common import log_to_stderr, report_user_errors, required_checkpoint
from nmt.device import configure_cpu, resolve_device
from nmt.errors import NMTError
from nmt.inference.translation import Translation, Translator, load_for_translation

log = logging.getLogger(__name__)


def translate(cfg: DictConfig, *, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Run one nmt-translate call with a composed config; returns the number of lines translated."""
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    checkpoint_path = required_checkpoint(cfg)
    if cfg.text is not None and cfg.input is not None:
        raise NMTError(f"both text= and input={cfg.input} are set; translate either one sentence or one file.")
    if cfg.nbest > cfg.beam_size:
        raise NMTError(f"nbest={cfg.nbest} exceeds beam_size={cfg.beam_size}; raise beam_size or lower nbest.")
    configure_cpu(cfg.threads)
    device = resolve_device(cfg.device)
    _, model, tokenizer = load_for_translation(checkpoint_path, device=device)
    translator = Translator(
        model, tokenizer, beam_size=cfg.beam_size, length_penalty=cfg.length_penalty,
        max_len_a=cfg.max_len_a, max_len_b=cfg.max_len_b, batch_tokens=cfg.batch_tokens,
        device=device, max_src_tokens=cfg.max_src_tokens, precision=cfg.precision,
    )
    if cfg.text is None and cfg.input is None and cfg.output is None and stdin.isatty():
        return _translate_interactively(translator, cfg, stdin=stdin, stdout=stdout)
    lines = [str(cfg.text)] if cfg.text is not None else _read_lines(cfg.input, stdin)
    results = translator.translate_nbest(lines, nbest=cfg.nbest, return_attention=cfg.plot is not None)
    text = "".join(_format(results, nbest=cfg.nbest))
    if cfg.output is None:
        stdout.write(text)
        stdout.flush()
    else:
        Path(cfg.output).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.output).write_text(text, encoding="utf-8")
        log.info("wrote %d translations to %s", len(lines), cfg.output)
    if cfg.plot is not None:
        _plot(results, lines, path=Path(cfg.plot), layer=cfg.plot_layer)
    return len(lines)



def _translate_interactively(translator: Translator, cfg: DictConfig, *, stdin: TextIO, stdout: TextIO) -> int:
    """A terminal session: each typed line is translated at once (same output as a batch of lines)."""
    count = 0
    for count, line in enumerate(stdin, start=1):
        results = translator.translate_nbest([line.rstrip("\r\n")], nbest=cfg.nbest,
                                             return_attention=cfg.plot is not None)
        stdout.writelines(_format(results, nbest=cfg.nbest, first_index=count - 1))
        stdout.flush()
        if cfg.plot is not None:
            _plot(results, [line], path=_numbered(Path(cfg.plot), count), layer=cfg.plot_layer)
    return count


def _read_lines(input_path: str | None, stdin: TextIO) -> list[str]:
    if input_path is None:
        return [line.rstrip("\r\n") for line in stdin]
    path = Path(input_path)
    if not path.is_file():
        raise NMTError(f"input={input_path} does not exist; pass a text file with one sentence per line.")
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise NMTError(f"input={input_path} is not UTF-8 text (byte {error.start}); convert it to UTF-8.") from None


def _format(results: Sequence[Sequence[Translation]], *, nbest: int, first_index: int = 0) -> list[str]:
    """One line per input line, or `i ||| translation ||| score` lines when nbest > 1."""
    if nbest == 1:
        return [translations[0].text + "\n" for translations in results]
    return [f"{index} ||| {t.text} ||| {t.score:.4f}\n"
            for index, translations in enumerate(results, start=first_index) for t in translations]


def _plot(results: Sequence[Sequence[Translation]], lines: Sequence[str], *, path: Path, layer: int) -> None:
    """The best translation's attention per line: `path` for one line, NAME-<line number>.png for several."""
    from nmt.plotting import (
        plot_attention,  # matplotlib costs a second at start-up; only plots need it
    )

    for number, (translations, line) in enumerate(zip(results, lines), start=1):
        best = translations[0]
        if best.attention is None:
            log.warning("line %d is empty: no attention plot", number)
            continue
        target = path if len(lines) == 1 else _numbered(path, number)
        plot_attention(best.attention, src_pieces=best.src_pieces, tgt_pieces=best.tgt_pieces,
                       path=target, layer=layer, title=f"{line.strip()[:80]}\n→ {best.text[:80]}")
        log.info("attention of line %d saved to %s", number, target)


def _numbered(path: Path, number: int) -> Path:
    return path.with_name(f"{path.stem}-{number}{path.suffix or '.png'}")


@hydra.main(config_path="pkg://nmt.configs", config_name="translate", version_base=None)
@report_user_errors
def main(cfg: DictConfig) -> None:
    log_to_stderr()
    translate(cfg)


if __name__ == "__main__":
    main()
