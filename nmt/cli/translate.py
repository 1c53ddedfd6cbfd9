"""nmt-translate: translate raw text with a checkpoint, nothing else needed.

    echo "Ein Mann fährt Fahrrad." | nmt-translate ckpt=outputs/run/checkpoints/best.pt
    nmt-translate ckpt=best.pt text="Ein Hund läuft." plot=attention.png
    nmt-translate ckpt=best.pt text="Ein Hund läuft." prefix="A dog"   # every translation starts with "A dog"
    nmt-translate ckpt=best.pt input=test.de output=test.en beam_size=10 nbest=3
    nmt-translate ckpt=[a.pt,b.pt] input=test.de             # an ensemble: probabilities averaged
    nmt-translate ckpt=best.pt input=mono.en sampling=true nbest=4 top_p=0.9 seed=1   # back-translation samples

One output line per input line (empty lines stay empty), or with nbest > 1,
`nbest` lines per input line formatted `i ||| translation ||| score` with i the
0-based input line. On a terminal each line is translated as soon as it is typed;
from a pipe or a file, all lines are translated in length-sorted batches. The
output is the same either way.
"""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, TextIO

import hydra
from omegaconf import DictConfig, OmegaConf

from nmt.cli.common import log_to_stderr, report_user_errors, required_checkpoints
from nmt.data.text import decode_lines
from nmt.data.validation import check_value
from nmt.errors import NMTError, error_summary
from nmt.inference.loading import LoadedTranslator, load_translator
from nmt.inference.options import DecodingOptions
from nmt.inference.translation import Translation

log = logging.getLogger(__name__)


def translate(cfg: DictConfig, *, stdin: BinaryIO | None = None, stdout: TextIO | None = None) -> int:
    """Run one nmt-translate call with a composed config; returns the number of lines translated.

    stdin is read as bytes and decoded by `nmt.data.text.decode_lines`, never by Python's
    locale-dependent text layer (under C.UTF-8 its surrogate escapes reached SentencePiece).
    """
    if stdin is None:  # sys.stdin is None when the caller closed it (`<&-`): that is an empty input
        stdin = io.BytesIO() if sys.stdin is None else sys.stdin.buffer
    stdout = sys.stdout if stdout is None else stdout
    checkpoint_paths = required_checkpoints(cfg)
    # Every key is checked before the checkpoint is read: a typo costs no model loading.
    options = DecodingOptions.from_dict(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]
    _check_translate_keys(cfg)
    prefix = None if cfg.prefix is None else _one_line(cfg.prefix, key="prefix")
    translator = load_translator(checkpoint_paths, options)  # .pt files or an export, as nmt.load opens them
    if cfg.text is None and cfg.input is None and cfg.output is None and stdin.isatty():
        return _translate_interactively(translator, cfg, nbest=options.nbest, prefix=prefix, stdin=stdin,
                                        stdout=stdout)
    lines = _text_lines(cfg.text) if cfg.text is not None else _read_lines(cfg.input, stdin)
    results = _translate_lines(translator, lines, nbest=options.nbest, prefix=prefix, plot=cfg.plot is not None)
    text = "".join(_format(results, nbest=options.nbest))
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


def _check_translate_keys(cfg: DictConfig) -> None:
    """The keys only nmt-translate has (the decoding ones are DecodingOptions'): types, paths, combinations."""
    check_value(cfg.text, str | int | float | None, key="text")  # text=12 arrives as a number
    check_value(cfg.prefix, str | int | float | None, key="prefix")
    for key in ("input", "output", "plot"):
        check_value(cfg[key], str | None, key=key)
    check_value(cfg.plot_layer, int, key="plot_layer")  # its range depends on the model: checked when plotting
    if cfg.text is not None and cfg.input is not None:
        raise NMTError(f"both text= and input={cfg.input} are set; translate either one sentence or one file.")
    if cfg.output is not None and Path(cfg.output).is_dir():
        raise NMTError(f"output={cfg.output} is a directory; name a file for the translations, e.g. "
                       f"output={Path(cfg.output) / 'translations.txt'}.")
    if cfg.plot is not None:
        from nmt.plotting import check_image_path  # matplotlib costs a second at start-up; only plots need it

        check_image_path(cfg.plot, key="plot")


def _translate_lines(translator: LoadedTranslator, lines: list[str], *, nbest: int, prefix: str | None,
                     plot: bool) -> list[list[Translation]]:
    """Each line's translations, all starting with `prefix` when one is set, with attention when plotting."""
    prefixes = None if prefix is None else [prefix] * len(lines)
    return translator.translate_nbest(lines, nbest=nbest, return_attention=plot, prefixes=prefixes)


def _translate_interactively(translator: LoadedTranslator, cfg: DictConfig, *, nbest: int, prefix: str | None,
                             stdin: BinaryIO, stdout: TextIO) -> int:
    """A terminal session: each typed line is translated at once (same output as a batch of lines)."""
    count = 0
    for count, raw in enumerate(iter(stdin.readline, b""), start=1):
        line = decode_lines(raw, source="stdin", first_line=count)[0]
        results = _translate_lines(translator, [line], nbest=nbest, prefix=prefix, plot=cfg.plot is not None)
        stdout.writelines(_format(results, nbest=nbest, first_index=count - 1))
        stdout.flush()
        if cfg.plot is not None:
            _plot(results, [line], path=_numbered(Path(cfg.plot), count), layer=cfg.plot_layer)
    return count


def _read_lines(input_path: str | None, stdin: BinaryIO) -> list[str]:
    """The lines of `input=` or stdin (policy: `nmt.data.text`); an empty input is no lines."""
    if input_path is None:
        return decode_lines(stdin.read(), source="stdin")
    try:  # not only regular files: input=/dev/stdin and input=<(command) are pipes
        raw = Path(input_path).read_bytes()
    except (FileNotFoundError, IsADirectoryError) as error:
        what = "does not exist" if isinstance(error, FileNotFoundError) else "is a directory"
        raise NMTError(f"input={input_path} {what}; pass a text file with one sentence per line.") from None
    except OSError as error:
        raise NMTError(f"input={input_path} cannot be read ({error_summary(error)}); check its permissions.") from None
    return decode_lines(raw, source=f"input={input_path}")


def _text_lines(text: object, *, key: str = "text") -> list[str]:
    """`text=` (or another `key=`) as lines: Python keeps undecodable bytes of a command line as surrogates;
    os.fsencode gives those bytes back, so `text=` is held to the same policy as a file."""
    return decode_lines(os.fsencode(str(text)), source=f"{key}=") or [""]


def _one_line(text: object, *, key: str) -> str:
    """`key=` as one line of text, held to the policy of `text=`."""
    lines = _text_lines(text, key=key)
    if len(lines) > 1:
        raise NMTError(f"{key}= holds {len(lines)} lines; give it one line of text.")
    return lines[0]


def _format(results: Sequence[Sequence[Translation]], *, nbest: int, first_index: int = 0) -> list[str]:
    """One line per input line, or `i ||| translation ||| score` lines when nbest > 1."""
    if nbest == 1:
        return [translations[0].text + "\n" for translations in results]
    return [f"{index} ||| {t.text} ||| {t.score:.4f}\n"
            for index, translations in enumerate(results, start=first_index) for t in translations]


def _plot(results: Sequence[Sequence[Translation]], lines: Sequence[str], *, path: Path, layer: int) -> None:
    """The best translation's attention per line: `path` for one line, NAME-<line number>.png for several."""
    from nmt.plotting import plot_attention  # matplotlib costs a second at start-up; only plots need it

    for number, (translations, line) in enumerate(zip(results, lines), start=1):
        best = translations[0]
        if best.attention is None:
            log.warning("line %d is empty: no attention plot", number)
            continue
        target = path if len(lines) == 1 else _numbered(path, number)
        saved = plot_attention(best.attention, src_pieces=best.src_pieces, tgt_pieces=best.tgt_pieces,
                               path=target, layer=layer, title=f"{line.strip()[:80]}\n→ {best.text[:80]}")
        log.info("attention of line %d saved to %s", number, saved)


def _numbered(path: Path, number: int) -> Path:
    return path.with_name(f"{path.stem}-{number}{path.suffix or '.png'}")


@hydra.main(config_path="pkg://nmt.configs", config_name="translate", version_base=None)
@report_user_errors
def main(cfg: DictConfig) -> None:
    log_to_stderr()
    translate(cfg)


if __name__ == "__main__":
    main()
