"""Head ablation: one measurement per head, equal to a hand-made hook; pruning removes the least important first."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from tiny_checkpoint import PAIRS, RNN_MODEL_CONFIG, build_tiny_checkpoint

from nmt.analysis.ablation import Measurement, ablation_section, log_prob_per_token, measure
from nmt.analysis.core import AnalysisContext, make_examples
from nmt.analysis.interventions import mask_heads, uniform_weights
from nmt.inference.translation import load_for_translation


def tiny_context(directory, *, sentences: int = 6, **model_config) -> AnalysisContext:
    path = build_tiny_checkpoint(directory, **model_config)
    _, model, tokenizer = load_for_translation(path, device=torch.device("cpu"))
    examples = make_examples(tokenizer, [s for s, _ in PAIRS[:sentences]], [t for _, t in PAIRS[:sentences]])
    return AnalysisContext(model=model, tokenizer=tokenizer, examples=examples, device=torch.device("cpu"))


def hooks_masking(heads) -> dict:
    by_module: dict[str, list[int]] = {}
    for name, head in heads:
        by_module.setdefault(name, []).append(head)
    return {name: mask_heads(indices) for name, indices in by_module.items()}


def pruning_one_setting_at_a_time(context: AnalysisContext, baseline: Measurement, singles: dict) -> list:
    """The pruning rounds as first written: one hooked greedy decode or teacher-forced pass per setting."""
    all_heads = [(name, head) for name, count in context.heads.items() for head in range(count)]
    removed, current, points = [], baseline, []
    while len(removed) < len(all_heads):
        remaining = [head for head in all_heads if head not in removed]
        if len(remaining) > 1:  # one head per round here (10% of 12)
            drops = ([singles[head] for head in remaining] if not removed else
                     [current.log_prob_per_token - log_prob_per_token(context, hooks_masking([*removed, head]))
                      for head in remaining])
            remaining = [remaining[int(np.argsort(drops, kind="stable")[0])]]
        removed += remaining
        current = measure(context, hooks_masking(removed))
        points.append((list(removed), current))
    return points


@pytest.fixture(scope="module")
def transformer(tmp_path_factory: pytest.TempPathFactory) -> AnalysisContext:
    return tiny_context(tmp_path_factory.mktemp("transformer"))


@pytest.fixture(scope="module")
def transformer_result(transformer: AnalysisContext):
    return ablation_section(transformer)


def test_every_head_of_every_module_is_masked_once(transformer: AnalysisContext, transformer_result) -> None:
    numbers = transformer_result.numbers
    assert transformer_result.name == "ablation" and transformer_result.not_applicable is None
    assert [(row["module"], row["head"]) for row in numbers["heads"]] == [
        (name, head) for name in transformer.modules for head in range(2)]
    assert numbers["num_heads"] == 12
    assert numbers["baseline"]["bleu"] == transformer.bleu(transformer.translate())
    assert numbers["baseline"]["log_prob_per_token"] == pytest.approx(log_prob_per_token(transformer))
    for row in numbers["heads"]:
        assert row["delta_log_prob"] == pytest.approx(
            row["log_prob_per_token"] - numbers["baseline"]["log_prob_per_token"])


def test_masking_a_head_equals_a_hand_made_hook(transformer: AnalysisContext, transformer_result) -> None:
    def zero_second_head(weights: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return torch.cat([weights[:, :1], torch.zeros_like(weights[:, 1:])], dim=1)

    hooks = {"decoder.1.cross": zero_second_head}
    row = next(r for r in transformer_result.numbers["heads"] if (r["module"], r["head"]) == ("decoder.1.cross", 1))
    tokens = sum(len(example.tgt_ids) + 1 for example in transformer.examples)
    assert row["log_prob_per_token"] == pytest.approx(transformer.reference_log_probs(hooks).sum() / tokens)
    assert row["bleu"] == transformer.bleu(transformer.translate(hooks))
    assert row["log_prob_per_token"] != pytest.approx(transformer_result.numbers["baseline"]["log_prob_per_token"])


def test_pruning_removes_the_least_important_head_first_and_ends_with_none_left(transformer_result) -> None:
    numbers = transformer_result.numbers
    curve = numbers["pruning"]
    assert [point["heads_removed"] for point in curve] == list(range(13))  # 10% of 12 heads: one per round
    assert curve[0]["share_removed"] == 0.0 and curve[-1]["share_removed"] == 1.0
    assert curve[0]["bleu"] == numbers["baseline"]["bleu"]
    # First round: importance = drop when masked alone, so the head whose masking costs least goes first.
    least_important = max(numbers["heads"], key=lambda row: row["delta_log_prob"])
    assert curve[1]["removed"] == [f"{least_important['module']}:{least_important['head']}"]
    assert curve[1]["log_prob_per_token"] == pytest.approx(least_important["log_prob_per_token"])
    assert len(set(curve[-1]["removed"])) == 12
    # Ranking passes: the first round reuses the single-head drops, then 11 + 10 + ... + 2 remaining heads;
    # the last round removes the last head unranked.
    assert curve[1]["ranking_passes"] == 0
    assert numbers["forced_passes"] == 1 + 12 + 12 + sum(range(2, 12))
    assert numbers["decodes"] == 1 + 12 + 12


def test_batched_masks_give_the_numbers_of_one_hooked_pass_per_setting(transformer: AnalysisContext,
                                                                       transformer_result) -> None:
    numbers = transformer_result.numbers
    for row in numbers["heads"]:
        alone = measure(transformer, {row["module"]: mask_heads([row["head"]])})
        assert row["bleu"] == alone.bleu
        assert row["log_prob_per_token"] == pytest.approx(alone.log_prob_per_token, abs=1e-6)
    singles = {(row["module"], row["head"]): -row["delta_log_prob"] for row in numbers["heads"]}
    expected = pruning_one_setting_at_a_time(transformer, Measurement(**numbers["baseline"]), singles)
    for point, (removed, measurement) in zip(numbers["pruning"][1:], expected, strict=True):
        assert point["removed"] == [f"{name}:{head}" for name, head in removed]
        assert point["bleu"] == measurement.bleu
        assert point["log_prob_per_token"] == pytest.approx(measurement.log_prob_per_token, abs=1e-6)


def test_ranking_on_the_first_sentences_is_stated_and_measures_on_all(tmp_path) -> None:
    context = tiny_context(tmp_path, sentences=8)
    context.ranking_sentences = 3
    result = ablation_section(context)
    numbers = result.numbers
    assert (numbers["ranking_sentences"], numbers["sentences"]) == (3, 8)
    assert "ranked on the first 3 sentences only (ranking_sentences=3)" in result.text
    # Rounds 2..11 rank the 11..2 remaining heads, plus one pass for the removed heads alone, on 3 sentences.
    assert [point["ranking_passes"] for point in numbers["pruning"]] == [0, 0, *range(12, 2, -1), 0]
    last = numbers["pruning"][-2]
    removed = [(name, int(head)) for name, head in (entry.split(":") for entry in last["removed"])]
    assert last["bleu"] == measure(context, hooks_masking(removed)).bleu


def test_the_report_has_head_heatmaps_a_curve_and_says_how_importance_is_measured(transformer_result) -> None:
    assert set(transformer_result.figures) == {"ablation_heads", "ablation_pruning"}
    assert all(isinstance(figure, Figure) for figure in transformer_result.figures.values())
    assert "importance is the drop of the mean reference log-prob" in transformer_result.text
    assert "25 greedy decodes" in transformer_result.text
    assert "Every measurement, the ranking included, uses all the sentences." in transformer_result.text
    assert len(transformer_result.tables[0].rows) == 10


def test_the_rnn_attention_is_replaced_by_uniform_weights(tmp_path) -> None:
    context = tiny_context(tmp_path, model_config=RNN_MODEL_CONFIG)
    result = ablation_section(context)
    uniform = result.numbers["uniform"]
    assert result.numbers["pruning"] is None and "no pruning curve" in result.text
    assert uniform["log_prob_per_token"] == pytest.approx(log_prob_per_token(context, {"cross": uniform_weights}))
    assert uniform["delta_log_prob"] != 0.0
    assert uniform["bleu"] == context.bleu(context.translate({"cross": uniform_weights}))


def test_a_model_without_attention_has_nothing_to_ablate(tmp_path) -> None:
    context = tiny_context(tmp_path, model_config={**RNN_MODEL_CONFIG, "attention": "none"})
    result = ablation_section(context)
    assert result.name == "ablation" and "no attention" in result.not_applicable
