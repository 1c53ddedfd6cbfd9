"""What `ckpt=` points at, opened as a translator: the one place that tells a checkpoint from an export.

nmt-translate and nmt-evaluate call `load_translator` and use what it returns through
`TextTranslator`: `.pt` checkpoints (several: an ensemble) get nmt's own `Translator`, a
directory written by nmt-export (it holds model.bin) gets `CTranslate2Translator`, which
imports the ctranslate2 package only then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from nmt.errors import NMTError
from nmt.inference.ctranslate2_translation import CTranslate2Translator, is_ctranslate2_export
from nmt.inference.ensemble import load_ensemble
from nmt.inference.options import DecodingOptions
from nmt.inference.translation import Translation


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
    """A translator and what the commands report about the model behind it."""

    translator: TextTranslator
    step: int | None = None  # optimizer updates when the checkpoint was written, when known
    data_config: dict[str, Any] = field(default_factory=dict)  # the corpus it was trained on ({} if unknown)
    model_config: dict[str, Any] = field(default_factory=dict)  # the architecture (the model group, `_target_`)


def load_translator(
    paths: Sequence[str | Path], options: DecodingOptions, *, device: torch.device
) -> LoadedTranslator:
    """The translator `options` describe for `paths` on `device`: one CTranslate2 export, or one or more
    checkpoints (several: an ensemble), with the first one's step and corpus."""
    exports = [str(path) for path in paths if is_ctranslate2_export(path)]
    if exports:
        return _load_export(paths, exports, options, device=device)
    checkpoint, model, tokenizer = load_ensemble(paths, device=device)
    return LoadedTranslator(options.translator(model, tokenizer, device=device), step=checkpoint.step,
                            data_config=checkpoint.data_config, model_config=checkpoint.model_config)


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
    return LoadedTranslator(translator, step=metadata.get("step"), data_config=metadata.get("data_config") or {},
                            model_config=metadata.get("model_config") or {})
