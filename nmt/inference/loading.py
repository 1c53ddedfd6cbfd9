"""What `ckpt=` points at, opened as a translator: the one place that tells a checkpoint from an export.

nmt-translate, nmt-evaluate, nmt-serve and `nmt.load` call `load_translator` and use the
`LoadedTranslator` it returns: `.pt` checkpoints (several: an ensemble) get nmt's own
`Translator`, a directory written by nmt-export (it holds model.bin) gets
`CTranslate2Translator`, which imports the ctranslate2 package only then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from nmt.device import configure_cpu, resolve_device
from nmt.errors import NMTError
from nmt.inference.ctranslate2_translation import CTranslate2Translator, is_ctranslate2_export
from nmt.inference.ensemble import load_ensemble
from nmt.inference.options import DecodingOptions
from nmt.inference.precision import bf16_copy
from nmt.inference.translation import Translation, Translator

# Options fixed when the model is loaded: changing them means loading it again.
_LOAD_TIME_OPTIONS = ("device", "threads")
# What an export's translator can change without loading the export again (see `with_options`).
_EXPORT_SEARCH_OPTIONS = ("beam_size", "length_penalty", "nbest")


class TextTranslator(Protocol):
    """What the commands use of a translator (see `Translator` for the meaning of each method)."""

    def translate(self, texts: Sequence[str]) -> list[str]: ...

    def translate_nbest(
        self, texts: Sequence[str], *, nbest: int = 1, return_attention: bool = False,
        prefixes: Sequence[str] | None = None,
    ) -> list[list[Translation]]: ...

    def score(self, sources: Sequence[str], targets: Sequence[str]) -> list[float]: ...


@dataclass(frozen=True)
class LoadedTranslator:
    """A loaded model with its decoding options, and what is known about it (step, corpus, architecture).

    `nmt.load` returns one; nmt-translate, nmt-evaluate and nmt-serve decode through the same object,
    so a translation here equals the commands' for the same options. `translator` is nmt's own
    `Translator` for `.pt` checkpoints and a `CTranslate2Translator` for an nmt-export directory.

    Examples:
        >>> import nmt
        >>> translator = nmt.load(checkpoint, beam_size=3)
        >>> translator.options.beam_size, translator.options.length_penalty
        (3, 1.0)
        >>> [best] = translator.translate_nbest(["the cat is black ."], nbest=3)
        >>> len(best), [type(t.text) for t in best]
        (3, [<class 'str'>, <class 'str'>, <class 'str'>])
        >>> best[0].score >= best[1].score >= best[2].score
        True
        >>> translator.source_language, translator.target_language, translator.step
        ('en', 'fr', 0)
    """

    translator: TextTranslator
    options: DecodingOptions  # what the translator was built with; its nbest is translate_nbest's default
    device: torch.device
    step: int | None = None  # optimizer updates when the checkpoint was written, when known
    data_config: dict[str, Any] = field(default_factory=dict)  # the corpus it was trained on ({} if unknown)
    model_config: dict[str, Any] = field(default_factory=dict)  # the architecture (the model group, `_target_`)
    paths: tuple[Path, ...] = ()  # the checkpoints (several: an ensemble) or the export directory

    @property
    def source_language(self) -> str | None:
        """The source language code of the corpus the model was trained on (`data.src_lang`), when recorded."""
        return self.data_config.get("src_lang")

    @property
    def target_language(self) -> str | None:
        """The target language code of the corpus the model was trained on (`data.tgt_lang`), when recorded."""
        return self.data_config.get("tgt_lang")

    def translate(self, texts: Sequence[str]) -> list[str]:
        """The best translation of each sentence, in input order; an empty sentence gives "".

        Examples:
            >>> translations = nmt.load(checkpoint, beam_size=1).translate(["a woman sings .", ""])
            >>> len(translations), type(translations[0]), translations[1]
            (2, <class 'str'>, '')
        """
        return self.translator.translate(_sentences(texts, name="texts"))

    def translate_nbest(
        self, texts: Sequence[str], *, nbest: int | None = None, return_attention: bool = False,
        prefixes: Sequence[str] | None = None,
    ) -> list[list[Translation]]:
        """For each sentence its `nbest` best translations (default: `options.nbest`), best first.

        With `sampling=True` they are `nbest` samples in the order drawn. Each `Translation` holds the
        text, its score (log-probability, divided by the length penalty under beam search), the target
        token ids and the source and target pieces.

        Args:
            texts: the sentences to translate.
            nbest: translations per sentence, at most `options.beam_size` unless sampling.
            return_attention: fill `Translation.attention`, a float tensor (L, H, T', S): decoder layers,
                heads, target pieces + EOS (`tgt_pieces`), source pieces + EOS (`src_pieces`). `.pt` only.
            prefixes: one text per sentence that its translations must start with ("" = none).

        Examples:
            >>> [[best]] = nmt.load(checkpoint).translate_nbest(["she reads a book ."], return_attention=True)
            >>> best.attention.shape == (2, 2, len(best.tgt_pieces), len(best.src_pieces))
            True
            >>> [[forced]] = nmt.load(checkpoint).translate_nbest(["she reads a book ."], prefixes=["elle"])
            >>> forced.text.startswith("elle")
            True
        """
        return self.translator.translate_nbest(
            _sentences(texts, name="texts"), nbest=self.options.nbest if nbest is None else nbest,
            return_attention=return_attention,
            prefixes=None if prefixes is None else _sentences(prefixes, name="prefixes"),
        )

    def score(self, sources: Sequence[str], targets: Sequence[str]) -> list[float]:
        """Teacher-forced log P(target | source) of each pair, EOS included (what contrastive evaluation compares).

        Examples:
            >>> scores = nmt.load(checkpoint).score(["the cat is black ."] * 2, ["le chat est noir .", "le chat"])
            >>> len(scores), all(isinstance(score, float) and score < 0 for score in scores)
            (2, True)
        """
        return self.translator.score(_sentences(sources, name="sources"), _sentences(targets, name="targets"))

    def with_options(self, options: DecodingOptions | None = None, /, **changes: Any) -> LoadedTranslator:
        """This model with other decoding options, sharing the loaded weights.

        `device` and `threads` are chosen when loading; an export changes only beam_size, length_penalty
        and nbest. Anything else is one `NMTError` saying to load again with `nmt.load(path, key=value)`.

        Args:
            options: all the options at once (what nmt-serve builds for a request); None: `self.options`.
            **changes: keys of nmt-translate to change, checked as `nmt.load` checks them.

        Examples:
            >>> greedy = nmt.load(checkpoint).with_options(beam_size=1)
            >>> greedy.options.beam_size, len(greedy.translate(["the river is cold ."]))
            (1, 1)
        """
        options = (self.options if options is None else options).replace(**changes)
        if options == self.options:
            return self
        changed = [key for key, value in asdict(options).items() if value != getattr(self.options, key)]
        export = isinstance(self.translator, CTranslate2Translator)
        fixed = [key for key in changed if key in _LOAD_TIME_OPTIONS or (export and key not in _EXPORT_SEARCH_OPTIONS)]
        if fixed:
            what = "a CTranslate2 export" if export else "a loaded model"
            raise NMTError(f"{fixed[0]}={getattr(options, fixed[0])!r} cannot change on {what}; load it again with "
                           f"nmt.load(path, {fixed[0]}=...) instead of with_options.")
        if isinstance(self.translator, CTranslate2Translator):
            translator: TextTranslator = self.translator.with_search(beam_size=options.beam_size,
                                                                     length_penalty=options.length_penalty)
        elif isinstance(self.translator, Translator):
            translator = options.translator(self.translator.model, self.translator.tokenizer, device=self.device)
        else:
            raise NMTError(f"with_options needs nmt's Translator or a CTranslate2 export, not "
                           f"{type(self.translator).__name__}; build the translator for these options yourself.")
        return LoadedTranslator(translator, options, self.device, step=self.step, data_config=self.data_config,
                                model_config=self.model_config, paths=self.paths)


def load_translator(
    paths: Sequence[str | Path], options: DecodingOptions, *, device: torch.device | None = None
) -> LoadedTranslator:
    """The translator `options` describe for `paths`: one CTranslate2 export, or one or more
    checkpoints (several: an ensemble), with the first one's step and corpus.

    device None does what the commands do: `options.device` resolved, and torch's CPU threads
    set from `options.threads` (a process-wide setting).
    """
    if device is None:
        configure_cpu(options.threads)
        device = resolve_device(options.device)
    exports = [str(path) for path in paths if is_ctranslate2_export(path)]
    if exports:
        return _load_export(paths, exports, options, device=device)
    checkpoint, model, tokenizer = load_ensemble(paths, device=device)
    if options.precision == "bf16":
        bf16_copy(model)  # made now, while loading (before a server says it is ready), not in the first search
    return LoadedTranslator(options.translator(model, tokenizer, device=device), options, device,
                            step=checkpoint.step, data_config=checkpoint.data_config,
                            model_config=checkpoint.model_config, paths=tuple(Path(path) for path in paths))


def _load_export(
    paths: Sequence[str | Path], exports: list[str], options: DecodingOptions, *, device: torch.device
) -> LoadedTranslator:
    if len(paths) > 1:
        raise NMTError(f"ckpt names the CTranslate2 export {exports[0]} in an ensemble of {len(paths)}; "
                       "ensembles need .pt checkpoints, an export translates alone.")
    if options.sampling:
        raise NMTError(f"sampling=true draws with nmt's own sampler, which a CTranslate2 export ({exports[0]}) "
                       "does not run; pass the .pt checkpoint or set sampling=false.")
    translator = CTranslate2Translator(
        exports[0], beam_size=options.beam_size, length_penalty=options.length_penalty,
        max_len_a=options.max_len_a, max_len_b=options.max_len_b, batch_tokens=options.batch_tokens, device=device,
        max_src_tokens=options.max_src_tokens, precision=options.precision, threads=options.threads,
    )
    metadata = translator.metadata
    return LoadedTranslator(translator, options, device, step=metadata.get("step"),
                            data_config=metadata.get("data_config") or {},
                            model_config=metadata.get("model_config") or {}, paths=(Path(exports[0]),))


def _sentences(texts: Sequence[str], *, name: str) -> Sequence[str]:
    """`texts` as given, unless it is one string: iterating it would translate each character."""
    if isinstance(texts, str):
        raise NMTError(f"{name} is one string ({texts[:40]!r}); pass a list of sentences, e.g. [{texts[:40]!r}].")
    return texts
