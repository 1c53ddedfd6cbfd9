"""Per-head values laid out by attention type, layer and head, and drawn one heatmap per type."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from nmt.analysis.head_grids import attention_type, head_grids, plot_head_grids


def test_module_names_give_their_attention_type_and_layer() -> None:
    assert attention_type("encoder.0.self") == ("encoder self-attention", 0)
    assert attention_type("decoder.2.self") == ("decoder self-attention", 2)
    assert attention_type("decoder.1.cross") == ("cross-attention", 1)
    assert attention_type("cross") == ("cross-attention", 0)
    with pytest.raises(ValueError, match="not an attention module name"):
        attention_type("decoder.1.ffn")


def test_values_are_laid_out_by_layer_and_head_with_gaps_left_empty() -> None:
    grids = head_grids({"encoder.0.self": [1, 2], "encoder.1.self": [3, 4], "decoder.1.cross": [5, 6]})
    assert grids["encoder self-attention"].tolist() == [[1, 2], [3, 4]]
    assert np.isnan(grids["cross-attention"][0]).all() and grids["cross-attention"][1].tolist() == [5, 6]


def test_one_panel_per_attention_type_with_layer_and_head_labels() -> None:
    grids = head_grids({"encoder.0.self": [0.1, 0.2], "decoder.0.cross": [0.3, float("nan")]})
    figure = plot_head_grids(grids, title="t", label="share", vmin=0.0, vmax=1.0)
    assert isinstance(figure, Figure)
    panels = [ax for ax in figure.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["encoder self-attention", "cross-attention"]
    assert [label.get_text() for label in panels[0].get_xticklabels()] == ["head 0", "head 1"]
    assert [text.get_text() for text in panels[1].texts] == ["0.3"]  # no number written into an empty cell
