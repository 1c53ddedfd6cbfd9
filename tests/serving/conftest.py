"""Tiny served checkpoints (en -> fr, a Transformer and an RNN with Bahdanau attention) for the serving tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving_helpers import ready_client
from tiny_checkpoint import RNN_MODEL_CONFIG, build_tiny_checkpoint

from nmt.serving.config import ServeConfig


@pytest.fixture(scope="session")
def transformer_checkpoint(tmp_path_factory) -> Path:
    return build_tiny_checkpoint(tmp_path_factory.mktemp("transformer"))


@pytest.fixture(scope="session")
def rnn_checkpoint(tmp_path_factory) -> Path:
    return build_tiny_checkpoint(tmp_path_factory.mktemp("rnn"), model_config=RNN_MODEL_CONFIG)


@pytest.fixture
def client_for():
    """client_for(config) -> a TestClient over a running app whose models have loaded."""
    clients = []

    def make(config: ServeConfig):
        clients.append(ready_client(config))
        return clients[-1]

    yield make
    for client in clients:
        client.__exit__(None, None, None)
