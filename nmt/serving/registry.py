"""The models a server holds: loaded once where they decode, described where requests arrive.

`load_models` runs in the decoding executor (`nmt.serving.decoding_process`: a process of its
own, or a thread): it opens each model with `nmt.inference.loading.load_translator` (a `.pt`
checkpoint: nmt's `Translator`; an nmt-export directory: `CTranslate2Translator`), keeps it in
that process's `_DECODERS`, and returns a `ServedModel` for each: what the event loop needs to
name, describe, limit and cost requests (languages, architecture, tokenizer, length limit) and
a `decode` function that runs back in the decoding executor. The sentences of one decoding call
share one `DecodeKey` (search settings, n-best, whether to explain), and each gets its
translations, their explanations when asked for, and warnings (truncation). The translator for
a request's settings is the one nmt-translate would build for them, so a served translation is
nmt-translate's, byte for byte.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from nmt.data.tokenizer import Tokenizer
from nmt.errors import NMTError
from nmt.inference.ctranslate2_translation import CTranslate2Translator
from nmt.inference.explanation import Explanation
from nmt.inference.loading import LoadedTranslator, load_translator
from nmt.inference.options import DecodingOptions
from nmt.inference.translation import Translation, Translator
from nmt.serving.config import ModelSource

log = logging.getLogger(__name__)
MAX_KEPT_TRANSLATORS = 64  # translators of distinct request settings kept (each is a few attributes over one model)


@dataclass(frozen=True)
class DecodeKey:
    """What the sentences of one decoding call share."""

    options: DecodingOptions  # its nbest is the translations per sentence
    explain: bool  # replay each hypothesis for its attention and token probabilities (.pt models only)


@dataclass(frozen=True)
class SentenceJob:
    """One sentence to translate, the target text its translations must start with ("" = none), and
    their lengths in pieces (tokenized once, when the request arrives: the batch cost, limits, warnings)."""

    text: str
    source_pieces: int
    prefix: str = ""
    prefix_pieces: int = 0


@dataclass(frozen=True)
class SentenceResult:
    """A sentence's translations (best first), their explanations when asked for, and warnings about it."""

    translations: list[Translation]
    explanations: list[Explanation] | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ServedModel:
    """One loaded model as the server's event loop sees it: what the APIs say about it, what limits and
    costs its requests, and `decode`, which translates a batch where the model was loaded."""

    name: str
    source_language: str
    target_language: str
    path: Path
    description: dict[str, Any]
    tokenizer: Tokenizer = field(repr=False)
    source_limit: int | None  # source pieces a line may have before it is truncated (None: no limit)
    decode: Callable[[DecodeKey, list[SentenceJob]], list[SentenceResult]] = field(repr=False, compare=False)
    handle: str = ""  # the key of its decoder in the decoding executor's process (`unload_models`)

    @property
    def explains(self) -> bool:
        """Whether this model can return attention and token probabilities (nmt's own models only)."""
        return self.description.get("backend") == "nmt"

    def source_pieces(self, texts: Sequence[str]) -> list[int]:
        """Source pieces of each text, before truncation (the batcher's cost, and truncation warnings)."""
        return [len(ids) for ids in self.tokenizer.encode_src([text.strip() for text in texts])]

    def target_pieces(self, texts: Sequence[str]) -> list[int]:
        """Target pieces of each text (a prefix)."""
        return [len(ids) for ids in self.tokenizer.encode_tgt([text.strip() for text in texts])]

    def length_limit(self, source_pieces: int, options: DecodingOptions) -> int:
        """The most target pieces a translation of a line of `source_pieces` pieces may get (its EOS aside)."""
        limit = self.source_limit
        positions = min(source_pieces, limit) if limit is not None else source_pieces
        return int(options.max_len_a * (positions + 1) + options.max_len_b)

    def attention_weights(self, source_pieces: Sequence[int], options: DecodingOptions) -> int:
        """The most attention weights the answer for lines of these lengths can hold, every hypothesis counted."""
        heads = self.description.get("heads") or 0
        encoder, decoder = self.description.get("encoder_layers") or 0, self.description.get("decoder_layers") or 0
        total = 0
        for count in source_pieces:
            source, target = count + 1, self.length_limit(count, options) + 1  # EOS on both sides
            total += heads * (encoder * source * source + decoder * (target * source + target * target))
        return total * options.nbest

    def check_key(self, key: DecodeKey) -> None:
        """Refuse settings this backend cannot decode, as one NMTError naming the reason."""
        if key.explain and not self.explains:
            raise NMTError(f"model {self.name} is a CTranslate2 export ({self.path}), which does not give attention "
                           "or token probabilities; serve its .pt checkpoint for return_attention/return_scores.")
        if key.options.sampling and not self.explains:
            raise NMTError(f"model {self.name} is a CTranslate2 export ({self.path}), which does not sample; "
                           "serve its .pt checkpoint for sampling=true.")

    def jobs(self, texts: Sequence[str], prefixes: Sequence[str] | None = None) -> list[SentenceJob]:
        """The jobs of a request's texts (and prefixes), their pieces counted once."""
        prefixes = list(prefixes) if prefixes is not None else [""] * len(texts)
        prefix_pieces = self.target_pieces(prefixes) if any(prefixes) else [0] * len(texts)
        return [SentenceJob(text=text, source_pieces=count, prefix=prefix, prefix_pieces=pieces)
                for text, count, prefix, pieces in zip(texts, self.source_pieces(texts), prefixes, prefix_pieces)]


@dataclass
class _Decoder:
    """A loaded model in the process that decodes: its translators, one per distinct request settings."""

    loaded: LoadedTranslator  # with the server's default options
    _translators: dict[DecodingOptions, Translator | CTranslate2Translator] = field(default_factory=dict)

    def translator_for(self, options: DecodingOptions) -> Translator | CTranslate2Translator:
        """The translator nmt-translate would build for `options`, sharing this model's weights (kept for reuse)."""
        if options not in self._translators:
            if len(self._translators) >= MAX_KEPT_TRANSLATORS:
                self._translators.clear()
            translator = self.loaded.with_options(options).translator
            assert isinstance(translator, (Translator, CTranslate2Translator))  # a single model, never an ensemble
            self._translators[options] = translator
        return self._translators[options]

    def decode(self, key: DecodeKey, jobs: list[SentenceJob]) -> list[SentenceResult]:
        """Translate `jobs` with one call of the translator (it sorts them by length and batches them)."""
        translator = self.translator_for(key.options)
        texts = [job.text for job in jobs]
        prefixes = [job.prefix for job in jobs]
        results = translator.translate_nbest(texts, nbest=key.options.nbest,
                                             prefixes=prefixes if any(prefixes) else None)
        warnings = _truncation_warnings([job.source_pieces for job in jobs], translator.source_limit)
        if not key.explain:
            return [SentenceResult(translations=found, warnings=notes) for found, notes in zip(results, warnings)]
        assert isinstance(translator, Translator)  # check_key refused explanations of exports
        # An empty line was never decoded: it has nothing to explain.
        pairs = [(row, index) for row, found in enumerate(results) if found[0].src_pieces for index in range(len(found))]
        explained = translator.explain([texts[row] for row, _ in pairs], [results[row][i].tokens for row, i in pairs])
        by_pair = dict(zip(pairs, explained))
        return [SentenceResult(translations=found, warnings=notes,
                               explanations=[by_pair[(row, i)] for i in range(len(found))] if found[0].src_pieces
                               else None)
                for row, (found, notes) in enumerate(zip(results, warnings))]


_DECODERS: dict[str, _Decoder] = {}  # the models loaded in this process, by handle


def decode_loaded(handle: str, key: DecodeKey, jobs: list[SentenceJob]) -> list[SentenceResult]:
    """Decode `jobs` with the model `load_models` loaded in this process under `handle`."""
    return _DECODERS[handle].decode(key, jobs)


def _truncation_warnings(source_pieces: Sequence[int], limit: int | None) -> list[list[str]]:
    return [[f"the sentence has {count} source pieces, more than this model's limit of {limit}: only its first "
             f"{limit} were translated."] if limit is not None and count > limit else []
            for count in source_pieces]


def load_model(source: ModelSource, options: DecodingOptions, *, device: torch.device) -> ServedModel:
    """Load the model at `source.path` once, in this process; its name is `source.name` or SRC-TGT of its corpus."""
    loaded = load_translator([source.path], options, device=device)
    translator = loaded.translator
    assert isinstance(translator, (Translator, CTranslate2Translator))
    source_language, target_language = loaded.source_language, loaded.target_language
    if not (isinstance(source_language, str) and isinstance(target_language, str)):
        raise NMTError(f"{source.path} records no source and target language; serve it under a name of your "
                       f"choice with models={{xx-yy: {source.path}}}.")
    handle = uuid.uuid4().hex
    _DECODERS[handle] = _Decoder(loaded)
    return ServedModel(name=source.name or f"{source_language}-{target_language}", source_language=source_language,
                       target_language=target_language, path=source.path, tokenizer=translator.tokenizer,
                       source_limit=translator.source_limit, handle=handle,
                       decode=functools.partial(decode_loaded, handle),
                       description=describe(loaded.model_config, backend_export=not isinstance(translator, Translator),
                                            step=loaded.step))


def load_models(sources: Sequence[ModelSource], options: DecodingOptions, *, device: torch.device) -> dict[str, ServedModel]:
    """Every model, by name; two models of one name are an NMTError asking for models={...}."""
    models: dict[str, ServedModel] = {}
    for source in sources:
        model = load_model(source, options, device=device)
        if model.name in models:
            unload_models([model.handle, *(loaded.handle for loaded in models.values())])
            raise NMTError(f"{models[model.name].path} and {source.path} both translate {model.name}; "
                           f"name them apart with models={{{model.name}: ..., {model.name}-2: ...}}.")
        models[model.name] = model
        log.info("model %s loaded from %s (%s)", model.name, source.path, model.description["summary"])
    return models


def unload_models(handles: Sequence[str]) -> None:
    """Forget the models loaded under `handles` in this process (a server sharing a process with others stops)."""
    for handle in handles:
        _DECODERS.pop(handle, None)


def describe(model_config: dict[str, Any], *, backend_export: bool, step: int | None) -> dict[str, Any]:
    """The architecture as the explorer page names it: family, attention, layers, heads."""
    target = str(model_config.get("_target_", ""))
    if target.endswith("Transformer"):
        layers = {"encoder_layers": model_config.get("num_encoder_layers"),
                  "decoder_layers": model_config.get("num_decoder_layers"), "heads": model_config.get("num_heads")}
        summary = (f"Transformer, {layers['encoder_layers']}+{layers['decoder_layers']} layers, "
                   f"{layers['heads']} heads, d_model {model_config.get('d_model')}")
        description = {"family": "transformer", "attention": "multi-head", **layers}
    else:
        attention = str(model_config.get("attention", "none"))
        score = model_config.get("score") if attention == "luong" else None
        named = {"bahdanau": "Bahdanau (additive)", "luong": f"Luong ({score})", "none": "no attention"}[attention]
        summary = f"RNN encoder-decoder ({model_config.get('cell', 'gru')}), {named}"
        description = {"family": "rnn", "attention": attention, "score": score, "encoder_layers": 0,
                       "decoder_layers": 1 if attention != "none" else 0, "heads": 1 if attention != "none" else 0}
    return {**description, "summary": summary + (" (CTranslate2 export)" if backend_export else ""),
            "backend": "ctranslate2" if backend_export else "nmt", "step": step}
