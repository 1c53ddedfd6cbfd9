"""Fixtures of the model tests; the helpers live in model_fixtures.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from model_fixtures import VARIANTS, tiny_model
from nmt.models import Seq2Seq


@pytest.fixture(params=list(VARIANTS), ids=list(VARIANTS))
def variant_model(request: pytest.FixtureRequest) -> Seq2Seq:
    preset, overrides = VARIANTS[request.param]
    return tiny_model(preset, **overrides)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models are dominated by per-op overhead: one thread is faster and never oversubscribes shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
