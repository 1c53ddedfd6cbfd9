"""The native API's answer (the shape of `schemas.TranslateResponse`), built as plain dicts.

Attention maps are large (a 100-piece sentence through 6 layers of 8 heads is half a million
weights), so the answer is written straight from numpy, rounded to 4 decimals, rather than
validated field by field; a test holds the two shapes together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nmt.inference.explanation import Explanation
from nmt.inference.translation import Translation
from nmt.serving.registry import SentenceResult

DECIMALS = 4


def native_answer(model: str, texts: Sequence[str], results: Sequence[SentenceResult], *, attention: bool,
                  scores: bool) -> dict[str, Any]:
    """POST /v1/translate's answer: per text its source pieces, hypotheses (best first) and warnings."""
    return {"model": model, "translations": [
        {"source": text, "source_pieces": result.translations[0].src_pieces if result.translations else [],
         "hypotheses": [_hypothesis(translation, explanation, attention=attention, scores=scores)
                        for translation, explanation in zip(result.translations, _explanations(result))],
         "warnings": result.warnings}
        for text, result in zip(texts, results)]}


def _explanations(result: SentenceResult) -> list[Explanation | None]:
    return list(result.explanations) if result.explanations is not None else [None] * len(result.translations)


def _hypothesis(translation: Translation, explanation: Explanation | None, *, attention: bool,
                scores: bool) -> dict[str, Any]:
    answer: dict[str, Any] = {"text": translation.text, "score": translation.score,
                              "target_pieces": translation.tgt_pieces, "confidence": None, "attention": None}
    if explanation is None:
        return answer
    if scores:
        answer["confidence"] = {
            "probabilities": [round(p, DECIMALS + 2) for p in explanation.token_probabilities],
            "alternatives": [[{"piece": a.piece, "token": a.token, "probability": round(a.probability, DECIMALS + 2)}
                              for a in position] for position in explanation.alternatives]}
    if attention:
        answer["attention"] = _attention(explanation)
    return answer


def _attention(explanation: Explanation) -> dict[str, Any]:
    """Module maps grouped as the page shows them: cross, encoder self, decoder self; each by layer."""
    groups: dict[str, list[dict[str, Any]]] = {"cross": [], "encoder_self": [], "decoder_self": []}
    for name, weights in explanation.attention.items():
        parts = name.split(".")  # encoder.0.self | decoder.1.cross | cross (an RNN's one attention)
        group = "cross" if parts[-1] == "cross" else f"{parts[0]}_self"
        layer = int(parts[1]) if len(parts) == 3 else 0
        groups[group].append({"name": name, "layer": layer,
                              "weights": np.round(weights.astype(np.float64), DECIMALS).tolist()})
    return {"decoder_inputs": explanation.decoder_inputs, **groups}
