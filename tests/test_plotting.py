from __future__ import annotations

import json

import matplotlib.image
import pytest
import torch

from nmt.errors import NMTError
from nmt.plotting import plot_attention, plot_learning_curves, read_metrics


def attention(num_layers: int, num_heads: int, tgt_len: int, src_len: int) -> torch.Tensor:
    return torch.rand(num_layers, num_heads, tgt_len, src_len, generator=torch.Generator().manual_seed(0)).softmax(-1)


def test_single_head_attention_is_saved_as_a_png(tmp_path):
    path = plot_attention(attention(1, 1, 4, 3), src_pieces=["▁ein", "▁Hund", "</s>"],
                          tgt_pieces=["▁a", "▁dog", ".", "</s>"], path=tmp_path / "sub" / "a.png")
    image = matplotlib.image.imread(path)
    assert path.exists() and image.ndim == 3


def test_multi_head_attention_gets_one_panel_per_head_plus_average(tmp_path):
    one = matplotlib.image.imread(plot_attention(attention(2, 1, 4, 3), src_pieces=list("abc"),
                                                 tgt_pieces=list("wxyz"), path=tmp_path / "one.png"))
    four = matplotlib.image.imread(plot_attention(attention(2, 4, 4, 3), src_pieces=list("abc"),
                                                  tgt_pieces=list("wxyz"), path=tmp_path / "four.png", layer=0))
    # 4 heads + average = 5 panels on a 3 x 2 grid: a wider and taller figure than one panel.
    assert four.shape[0] > one.shape[0] and four.shape[1] > one.shape[1]


def test_layer_out_of_range_is_a_user_error(tmp_path):
    with pytest.raises(NMTError, match="plot_layer=2"):
        plot_attention(attention(2, 2, 2, 2), src_pieces=["a", "b"], tgt_pieces=["c", "d"],
                       path=tmp_path / "x.png", layer=2)
    assert not (tmp_path / "x.png").exists()


def test_learning_curves_are_drawn_from_metrics_jsonl(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    records = [{"step": s, "epoch": 1, "train_loss": 5.0 / s, "val_loss": 6.0 / s, "val_bleu": 10.0 * s,
                "val_chrf": 20.0 * s} for s in (1, 2, 3)]
    metrics.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    assert read_metrics(metrics) == records
    path = plot_learning_curves(metrics, tmp_path / "curves.png")
    assert matplotlib.image.imread(path).shape[1] > 100


def test_broken_metrics_file_names_the_line(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text('{"step": 1}\nnot json\n', encoding="utf-8")
    with pytest.raises(NMTError, match="metrics.jsonl:2"):
        read_metrics(metrics)
    with pytest.raises(NMTError, match="does not exist"):
        read_metrics(tmp_path / "missing.jsonl")
