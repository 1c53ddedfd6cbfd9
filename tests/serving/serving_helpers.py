"""What the serving tests share: a config like configs/serve.yaml's, and a test client once the models are ready."""

from __future__ import annotations

import functools
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf

from nmt.serving.config import ServeConfig

SERVE_YAML = Path(__file__).resolve().parents[2] / "configs" / "serve.yaml"


def serve_config(**overrides) -> ServeConfig:
    """configs/serve.yaml's values with `overrides` (its Hydra defaults list left out); decoding in a thread
    unless `decoder="process"` (starting a decoding process costs seconds: those tests say so)."""
    values = OmegaConf.to_container(OmegaConf.load(SERVE_YAML), resolve=True)
    values = {key: value for key, value in values.items() if key not in ("defaults", "hydra")}
    values.update(device="cpu", max_wait_ms=1, decoder="thread")
    values.update(overrides)
    return ServeConfig.from_dict(values)


def ready_client(config: ServeConfig):
    """A TestClient over a running app for `config` whose models have loaded (enter it as a context manager)."""
    from fastapi.testclient import TestClient

    from nmt.serving.app import create_app
    from nmt.serving.registry import load_models

    app = create_app(config, load_models=functools.partial(
        load_models, config.model_sources(), config.decoding_options(), device=torch.device("cpu")))
    client = TestClient(app, raise_server_exceptions=False)
    client.__enter__()
    deadline = time.monotonic() + 60  # loading runs in a thread: a second or two for tiny models
    while time.monotonic() < deadline:
        health = client.get("/health")
        if health.status_code == 200:
            return client
        if health.json().get("status") == "failed":
            break
        time.sleep(0.01)
    client.__exit__(None, None, None)
    raise AssertionError(f"the server never became ready: {health.json()}")
