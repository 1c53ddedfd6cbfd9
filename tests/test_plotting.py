from __future__ import annotations

import json

import matplotlib.image
import pytest
import torch
from matplotlib.figure import Figure

from nmt.errors import NMTError
from nmt.plotting import attention_figure, plot_attention, plot_learning_curves, read_metrics, save_figure


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


LONG_PIECE = "▁Donaudampfschifffahrtsgesellschaftskapitänsmütze"


def labels_outside(figure: Figure) -> list[str]:
    """The tick labels of `figure` whose drawn extent is not inside the figure: those are cut off in the file."""
    renderer = figure.canvas.get_renderer()
    edges = figure.bbox
    return [label.get_text() for ax in figure.axes for label in [*ax.get_xticklabels(), *ax.get_yticklabels()]
            if label.get_text() and not (edges.x0 - 0.5 <= label.get_window_extent(renderer).x0
                                         and label.get_window_extent(renderer).x1 <= edges.x1 + 0.5
                                         and edges.y0 - 0.5 <= label.get_window_extent(renderer).y0
                                         and label.get_window_extent(renderer).y1 <= edges.y1 + 0.5)]


@pytest.mark.parametrize("num_heads", [1, 4])
def test_a_long_rotated_label_lies_inside_the_saved_figure(num_heads, tmp_path):
    figure = attention_figure(attention(1, num_heads, 3, 3), src_pieces=["▁ein", LONG_PIECE, "</s>"],
                              tgt_pieces=["▁a", "▁hat", "</s>"])
    save_figure(figure, tmp_path / "long.png", dpi=120)
    assert labels_outside(figure) == []
    saved = matplotlib.image.imread(tmp_path / "long.png")
    assert saved.shape[:2] == (round(figure.get_figheight() * 120), round(figure.get_figwidth() * 120))


def test_a_figure_whose_labels_fit_is_saved_at_its_own_size(tmp_path):
    figure = attention_figure(attention(1, 1, 3, 3), src_pieces=["▁ein", "▁Hut", "</s>"], tgt_pieces=list("abc"))
    size = tuple(figure.get_size_inches())
    save_figure(figure, tmp_path / "short.png", dpi=120)
    assert tuple(figure.get_size_inches()) == size and labels_outside(figure) == []
