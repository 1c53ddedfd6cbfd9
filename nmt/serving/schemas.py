"""The native API's request and response bodies (POST /v1/translate, GET /v1/models), as pydantic models.

The request carries nmt-translate's decoding options under the same names and meaning; a key
that is not one of them is an error (a misspelt option must not be ignored). Attention maps
are nested lists (H, rows, cols) rounded to 4 decimals; rows of cross-attention and decoder
self-attention are the target pieces + EOS, columns of cross- and encoder self-attention the
source pieces + EOS, columns of decoder self-attention the decoder inputs (BOS + target pieces).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

Number = StrictFloat | StrictInt


class TranslateRequest(BaseModel):
    """POST /v1/translate. Unset search options take the server's defaults (nmt-translate's)."""

    model_config = ConfigDict(extra="forbid")

    model: StrictStr | None = Field(None, description="a served model's name (GET /v1/models); "
                                    "may be left out when the server serves one model")
    text: list[StrictStr] = Field(..., description="the sentences to translate, one per item", min_length=1)
    prefix: StrictStr | list[StrictStr] | None = Field(
        None, description="target text every translation must start with: one for all sentences or one per sentence")
    beam_size: StrictInt | None = Field(None, description="hypotheses kept per sentence; 1 = greedy search")
    nbest: StrictInt = Field(1, description="translations per sentence (at most beam_size), or samples with sampling")
    length_penalty: Number | None = Field(None, description="GNMT alpha; 0 = raw log-probability")
    sampling: StrictBool = Field(False, description="draw translations instead of searching")
    temperature: Number = Field(1.0, description="sampling: divides the log-probabilities (> 0)")
    top_k: StrictInt = Field(0, description="sampling: draw among the k most probable tokens; 0 = off")
    top_p: Number = Field(1.0, description="sampling: nucleus mass in (0, 1]; 1 = off")
    seed: StrictInt = Field(0, description="sampling: seeds the draws (with each sentence's source)")
    return_attention: StrictBool = Field(False, description="every attention map of each hypothesis (.pt models)")
    return_scores: StrictBool = Field(False, description="each target token's probability and the top 5 "
                                      "alternatives at its position (.pt models)")
    api_key: StrictStr | None = Field(None, description="required when the server has api_keys")


class Alternative(BaseModel):
    piece: str
    token: int
    probability: float


class Confidence(BaseModel):
    """Per target piece (+ EOS): its probability and the model's most probable tokens at that position."""

    probabilities: list[float]
    alternatives: list[list[Alternative]]


class AttentionModule(BaseModel):
    name: str = Field(..., description="e.g. decoder.2.cross, encoder.0.self, or cross (an RNN's one attention)")
    layer: int
    weights: list[list[list[float]]] = Field(..., description="(heads, rows, columns)")


class Attention(BaseModel):
    decoder_inputs: list[str] = Field(..., description="BOS + target pieces: the columns of decoder self-attention")
    cross: list[AttentionModule]
    encoder_self: list[AttentionModule]
    decoder_self: list[AttentionModule]


class Hypothesis(BaseModel):
    text: str
    score: float = Field(..., description="log-probability (divided by the length penalty under beam search)")
    target_pieces: list[str] = Field(..., description="the translation's pieces and EOS")
    confidence: Confidence | None = None
    attention: Attention | None = None


class SentenceTranslation(BaseModel):
    source: str
    source_pieces: list[str] = Field(..., description="the pieces the model read, and EOS")
    hypotheses: list[Hypothesis]
    warnings: list[str]


class TranslateResponse(BaseModel):
    model: str
    translations: list[SentenceTranslation]


class ModelInfo(BaseModel):
    name: str
    source: str
    target: str
    family: str = Field(..., description="transformer | rnn")
    attention: str = Field(..., description="multi-head | bahdanau | luong | none")
    score: str | None = Field(None, description="Luong's score function (dot, general, concat)")
    encoder_layers: int | None
    decoder_layers: int | None
    heads: int | None
    summary: str
    backend: str = Field(..., description="nmt (a .pt checkpoint) | ctranslate2 (an nmt-export directory)")
    explains: bool = Field(..., description="whether return_attention and return_scores are available")
    step: int | None = None


class ServerInfo(BaseModel):
    """GET /v1/models: the models and the server's defaults and limits."""

    models: list[ModelInfo]
    defaults: dict[str, float | int | str | None]
    limits: dict[str, int]
