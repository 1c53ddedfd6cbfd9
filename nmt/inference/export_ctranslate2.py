"""Export a Transformer checkpoint to a CTranslate2 model directory (Klein et al. 2020, CTranslate2).

The weights go through CTranslate2's own spec API (`TransformerSpec` from a `TransformerEncoderSpec`
and a `TransformerDecoderSpec`), the way its OpenNMT-py and fairseq converters fill it:

    ours                                    CTranslate2 spec
    src_embed / tgt_embed                   encoder.embeddings[0] / decoder.embeddings
    positions (learned table or sinusoids)  {encoder,decoder}.position_encodings.encodings
    self_attn.in_proj  [W^Q; W^K; W^V]      self_attention.linear[0] (fused, same row order)
    cross_attn.in_proj [W^Q; W^K; W^V]      attention.linear[0] = W^Q, attention.linear[1] = [W^K; W^V]
    *.out_proj                              *.linear[-1]
    feed_forward.linear_in / linear_out     ffn.linear_0 / ffn.linear_1
    self_attn_norm, cross_attn_norm,        self_attention.layer_norm, attention.layer_norm,
    feed_forward_norm                       ffn.layer_norm (before the sublayer in pre-norm, after in post-norm)
    encoder_norm / decoder_norm (pre-norm)  {encoder,decoder}.layer_norm
    output_proj                             decoder.projection

Our sinusoids interleave sin/cos (PE(pos, 2i), PE(pos, 2i+1)); CTranslate2's built-in table puts all
sines before all cosines, so our own table is written into `position_encodings` whatever the kind.
The directory also holds the SentencePiece models (src.model, tgt.model), what nmt needs to
decode it like the checkpoint (nmt.json) and a README.txt with a usage snippet.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, get_args

from torch import Tensor, nn

from nmt.checkpoint import Checkpoint
from nmt.data.tokenizer import Tokenizer
from nmt.errors import NMTError, error_summary
from nmt.models import restore_model
from nmt.models.transformer import DecoderLayer, EncoderLayer, Transformer, sinusoidal_table
from nmt.tokens import BOS_PIECE

log = logging.getLogger(__name__)

Quantization = Literal["int8", "int8_float32", "bfloat16", "float32"]
QUANTIZATIONS: tuple[str, ...] = get_args(Quantization)
MODEL_FILE = "model.bin"  # CTranslate2's weights: its presence marks a directory as an export
METADATA_FILE = "nmt.json"
SRC_MODEL_FILE, TGT_MODEL_FILE = "src.model", "tgt.model"
METADATA_FORMAT = 1
LAYER_NORM_EPSILON = 1e-5  # torch.nn.LayerNorm's default, which every norm of the Transformer uses


def import_ctranslate2() -> ModuleType:
    """The ctranslate2 package, or one NMTError line saying how to install it (it is an optional extra)."""
    try:
        import ctranslate2
    except ImportError:
        raise NMTError('CTranslate2 is not installed; install the export extra: pip install -e ".[export]".') from None
    return ctranslate2


def export_ctranslate2(checkpoint: Checkpoint, output_dir: str | Path, *, quantization: str) -> Path:
    """Write `checkpoint`'s Transformer as a CTranslate2 model directory at `output_dir`; returns it.

    quantization: int8 | int8_float32 | bfloat16 | float32, the type the weights are stored in.
    An existing, non-empty `output_dir` is refused and left untouched; the directory appears complete
    or not at all (written beside it, then renamed).
    """
    if quantization not in QUANTIZATIONS:
        raise NMTError(f"quantization={quantization!r} is not valid; choose one of {', '.join(QUANTIZATIONS)}.")
    output_dir = Path(output_dir)
    if output_dir.is_file() or (output_dir.is_dir() and any(output_dir.iterdir())):
        raise NMTError(f"output={output_dir} already exists and is not an empty directory; "
                       "name a new directory or remove the old export first.")
    model = restore_model(checkpoint)
    if not isinstance(model, Transformer):
        raise NMTError(f"the checkpoint holds a {type(model).__name__}, and CTranslate2 has no RNN decoder; "
                       "translate it with nmt-translate ckpt=<the .pt file> instead.")
    ctranslate2 = import_ctranslate2()
    tokenizer = Tokenizer.from_state(checkpoint.tokenizer_state)
    spec = transformer_spec(model, ctranslate2)
    spec.register_source_vocabulary(tokenizer.src_pieces(range(tokenizer.src_vocab_size)))
    spec.register_target_vocabulary(tokenizer.tgt_pieces(range(tokenizer.tgt_vocab_size)))
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=output_dir.parent, prefix=f".{output_dir.name}."))
    try:
        try:
            spec.validate()
            spec.optimize(quantization=quantization)
            spec.save(str(staging))
        except (ValueError, RuntimeError) as error:
            raise NMTError(f"CTranslate2 refused the model ({error_summary(error)}); "
                           "check that ctranslate2>=4.8 is installed.") from None
        state = tokenizer.to_state()  # a joint model is written twice: one file per side, whatever the kind
        (staging / SRC_MODEL_FILE).write_bytes(state["src_model"])
        (staging / TGT_MODEL_FILE).write_bytes(state.get("tgt_model", state["src_model"]))
        metadata = _metadata(checkpoint, model, quantization=quantization)
        (staging / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
        (staging / "README.txt").write_text(_readme(output_dir, quantization=quantization), encoding="utf-8")
        if output_dir.is_dir():
            output_dir.rmdir()  # empty, checked above
        staging.rename(output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("exported %s (%s weights) to %s", type(model).__name__, quantization, output_dir)
    return output_dir


def transformer_spec(model: Transformer, ctranslate2: ModuleType) -> Any:
    """A `ctranslate2.specs.TransformerSpec` holding `model`'s weights (see the table in the module docstring)."""
    specs = ctranslate2.specs
    num_heads = model.num_heads
    encoder = specs.TransformerEncoderSpec(len(model.encoder_layers), num_heads, pre_norm=model.pre_norm)
    decoder = specs.TransformerDecoderSpec(len(model.decoder_layers), num_heads, pre_norm=model.pre_norm)
    positions = _position_table(model)
    for side, embedding in ((encoder, model.src_embed), (decoder, model.tgt_embed)):
        side.scale_embeddings = model.embedding_scale != 1.0  # True: CTranslate2 multiplies by sqrt(d_model)
        side.position_encodings.encodings = positions
    encoder.embeddings[0].weight = _array(model.src_embed.weight)
    decoder.embeddings.weight = _array(model.tgt_embed.weight)
    if model.pre_norm:
        _set_norm(encoder.layer_norm, model.encoder_norm)
        _set_norm(decoder.layer_norm, model.decoder_norm)
    for layer_spec, layer in zip(encoder.layer, model.encoder_layers):
        _set_encoder_layer(layer_spec, layer)
    for layer_spec, layer in zip(decoder.layer, model.decoder_layers):
        _set_decoder_layer(layer_spec, layer)
    _set_linear(decoder.projection, model.output_proj)

    spec = specs.TransformerSpec(encoder, decoder)
    spec.config.add_source_bos = False
    spec.config.add_source_eos = True  # collate appends EOS to every source
    spec.config.decoder_start_token = BOS_PIECE
    spec.config.layer_norm_epsilon = LAYER_NORM_EPSILON
    return spec


def _position_table(model: Transformer) -> Any:
    """(P, D) float32: the learned table, or our interleaved sinusoids for the model's max_positions."""
    positions = model.positions
    table = positions.learned.weight if positions.learned is not None else sinusoidal_table(
        positions.max_positions, model.d_model)
    return _array(table)


def _set_encoder_layer(spec: Any, layer: EncoderLayer) -> None:
    _set_linear(spec.self_attention.linear[0], layer.self_attn.in_proj)
    _set_linear(spec.self_attention.linear[1], layer.self_attn.out_proj)
    _set_norm(spec.self_attention.layer_norm, layer.self_attn_norm)
    _set_feed_forward(spec.ffn, layer)


def _set_decoder_layer(spec: Any, layer: DecoderLayer) -> None:
    _set_encoder_layer(spec, layer)  # self-attention and feed-forward are laid out alike
    d_model = layer.cross_attn.d_model
    weight, bias = layer.cross_attn.in_proj.weight, layer.cross_attn.in_proj.bias
    spec.attention.linear[0].weight, spec.attention.linear[0].bias = _array(weight[:d_model]), _array(bias[:d_model])
    spec.attention.linear[1].weight, spec.attention.linear[1].bias = _array(weight[d_model:]), _array(bias[d_model:])
    _set_linear(spec.attention.linear[2], layer.cross_attn.out_proj)
    _set_norm(spec.attention.layer_norm, layer.cross_attn_norm)


def _set_feed_forward(spec: Any, layer: EncoderLayer | DecoderLayer) -> None:
    _set_linear(spec.linear_0, layer.feed_forward.linear_in)
    _set_linear(spec.linear_1, layer.feed_forward.linear_out)
    _set_norm(spec.layer_norm, layer.feed_forward_norm)


def _set_linear(spec: Any, linear: nn.Linear) -> None:
    spec.weight = _array(linear.weight)  # (out, in), the layout CTranslate2 expects too
    if linear.bias is not None:
        spec.bias = _array(linear.bias)


def _set_norm(spec: Any, norm: nn.Module) -> None:
    spec.gamma, spec.beta = _array(norm.weight), _array(norm.bias)


def _array(tensor: Tensor) -> Any:
    """A float32 numpy copy: the spec keeps arrays, and optimize() quantizes them."""
    return tensor.detach().float().cpu().numpy().copy()


def _metadata(checkpoint: Checkpoint, model: Transformer, *, quantization: str) -> dict[str, Any]:
    """What nmt needs beside CTranslate2's files to decode the export as it decodes the checkpoint."""
    return {
        "format": METADATA_FORMAT,
        "quantization": quantization,
        "max_positions": model.positions.max_positions,  # rows of position_encodings: source and target limit
        "step": checkpoint.step,
        "model_config": checkpoint.model_config,
        "data_config": checkpoint.data_config,
    }


def _readme(output_dir: Path, *, quantization: str) -> str:
    return f"""\
CTranslate2 model exported by nmt-export ({quantization} weights).

With nmt (same commands, outputs and scores as with the .pt checkpoint):

    echo "Ein Hund läuft." | nmt-translate ckpt={output_dir}
    nmt-evaluate ckpt={output_dir}

With CTranslate2 and SentencePiece alone:

    import ctranslate2, sentencepiece as spm

    src = spm.SentencePieceProcessor(model_file="{output_dir}/{SRC_MODEL_FILE}")
    tgt = spm.SentencePieceProcessor(model_file="{output_dir}/{TGT_MODEL_FILE}")
    translator = ctranslate2.Translator("{output_dir}", device="cpu")
    pieces = src.encode(["Ein Hund läuft."], out_type=str)
    results = translator.translate_batch(pieces, beam_size=5, max_input_length=0,
                                         suppress_sequences=[["<pad>"], ["<s>"]])
    print(tgt.decode(results[0].hypotheses[0]))

The source gets its EOS from the model's config (add_source_eos); decoding starts from <s>.
Positions are a table of max_positions rows (nmt.json): longer sources are truncated.
CTranslate2's length_penalty divides by (length + 1)^alpha, not GNMT's ((5 + length) / 6)^alpha,
so its beam search ranks long hypotheses slightly differently from nmt-translate's.
"""
