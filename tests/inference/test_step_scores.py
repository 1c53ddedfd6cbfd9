"""A step's log-probabilities under the search rules: whole (sampling) and the k best per row, slice by slice."""

from __future__ import annotations

import pytest
import torch

from nmt.inference import step_scores
from nmt.inference.step_scores import StepRules, best_log_probs, step_log_probs
from nmt.tokens import BOS_ID, EOS_ID, PAD_ID

VOCAB = 8000
ROWS = 11


def logits_and_rules(dtype: torch.dtype) -> tuple[torch.Tensor, StepRules]:
    """Rows 0-1 at their length limit, rows 4, 9 and 10 inside a prefix (row 9 also at its limit; row 10 forced
    to BOS, which is never allowed), the rest free."""
    logits = (torch.randn(ROWS, VOCAB, generator=torch.Generator().manual_seed(3)) * 4).to(dtype)
    max_len = torch.full((ROWS,), 7)
    max_len[[0, 1, 9]] = 3
    forced = torch.full((ROWS,), PAD_ID)
    forced[4], forced[9], forced[10] = 1234, 77, BOS_ID
    return logits, StepRules(step=3, max_len=max_len, forced=forced)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_whole_distribution_follows_the_rules(dtype):
    logits, rules = logits_and_rules(dtype)
    expected = torch.log_softmax(logits.float(), dim=-1)
    result = step_log_probs(logits, rules)
    assert result.dtype == torch.float32
    assert torch.isinf(result[:, [PAD_ID, BOS_ID]]).all()
    free = [2, 3, 5, 6, 7, 8]
    allowed = [column for column in range(VOCAB) if column not in (PAD_ID, BOS_ID)]
    assert torch.equal(result[free][:, allowed], expected[free][:, allowed])
    assert torch.isinf(result[10]).all()  # a prefix of BOS allows nothing
    for row, token in ((0, EOS_ID), (1, EOS_ID), (4, 1234), (9, 77)):  # the prefix wins over the limit
        assert result[row, token] == expected[row, token]  # its real log-probability, not 0
        assert torch.isinf(result[row]).sum() == VOCAB - 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("rows_per_slice", [1, 4, ROWS])
def test_the_best_of_each_row_are_those_of_the_whole_distribution(dtype, rows_per_slice, monkeypatch):
    monkeypatch.setattr(step_scores, "SLICE_BYTES", rows_per_slice * 4 * VOCAB)
    logits, rules = logits_and_rules(dtype)
    whole = step_log_probs(logits, rules)
    values, tokens = best_log_probs(logits, 10, rules)
    assert torch.equal(values, whole.topk(10, dim=1).values)  # bit for bit, whatever the slicing
    finite = torch.isfinite(values)
    assert torch.equal(whole.gather(1, tokens)[finite], values[finite])
    assert finite.sum(dim=1).tolist() == [1, 1, 10, 10, 1, 10, 10, 10, 10, 1, 0]
    assert tokens[[0, 1, 4, 9], 0].tolist() == [EOS_ID, EOS_ID, 1234, 77]


def test_no_rows_give_empty_results():
    values, tokens = best_log_probs(torch.zeros(0, VOCAB), 10, StepRules(step=0, max_len=torch.zeros(0)))
    assert values.shape == tokens.shape == (0, 10)
