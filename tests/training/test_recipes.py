"""Recipes (configs/recipe/<data>_<model>.yaml): what `nmt-train` composes for each corpus and model.

experiment_presets.json holds the data, model and trainer values every experiment preset composed
to before the recipes existed (the values that produced the published results); each preset must
still compose to them. When a preset is changed on purpose, update its entry in that file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

CONFIGS = Path(__file__).parents[2] / "configs"
PRESETS_BEFORE_RECIPES = json.loads((Path(__file__).parent / "experiment_presets.json").read_text())
MODELS = ["transformer", "rnn_bahdanau", "rnn_luong", "rnn_plain"]


def composed(*overrides: str) -> dict[str, Any]:
    """The config nmt-train runs with these overrides, as plain containers (Hydra's own section left out)."""
    with initialize_config_module(config_module="nmt.configs", version_base=None):
        return OmegaConf.to_container(compose(config_name="config", overrides=list(overrides)), resolve=True)


def flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"trainer": {"lr": 1e-3}} -> {"trainer.lr": 1e-3}."""
    items: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            items.update(flat(value, f"{prefix}{key}."))
        else:
            items[f"{prefix}{key}"] = value
    return items


def recipe_values(name: str) -> dict[str, Any]:
    """The keys a recipe file sets, with those of the recipes its defaults list includes."""
    text = yaml.safe_load((CONFIGS / "recipe" / f"{name}.yaml").read_text())
    values = {}
    for included in text.pop("defaults", []):
        values.update(recipe_values(included))
    return {**values, **flat(text)}


@pytest.mark.parametrize("preset", sorted(PRESETS_BEFORE_RECIPES))
def test_every_experiment_preset_composes_to_the_values_it_had_before_the_recipes(preset):
    values = flat(composed(f"experiment={preset}"))
    before = PRESETS_BEFORE_RECIPES[preset]
    assert {key: values.get(key) for key in before} == before


@pytest.mark.parametrize("model", MODELS)
def test_each_model_on_the_sample_corpus_gets_its_recipe(model):
    values = flat(composed(f"model={model}"))  # data=sample is the default corpus
    recipe = recipe_values(f"sample_{model}")
    assert {key: values[key] for key in recipe} == recipe


def test_no_arguments_trains_the_sample_transformer_recipe():
    assert composed() == composed("data=sample", "model=transformer")
    assert flat(composed())["model.d_model"] == recipe_values("sample_transformer")["model.d_model"]


@pytest.mark.parametrize("model", MODELS)
def test_multi30k_alone_composes_the_tuned_preset_of_its_model(model):
    assert composed("data=multi30k", f"model={model}") == composed(f"experiment=multi30k_{model}")


def test_the_small_transformer_on_multi30k_composes_its_preset_with_wu_et_al_s_schedule():
    values = flat(composed("data=multi30k", "model=transformer_small"))
    assert composed("data=multi30k", "model=transformer_small") == composed("experiment=multi30k_transformer_small")
    assert {key: values[key] for key in recipe_values("multi30k_transformer_small")} == recipe_values(
        "multi30k_transformer_small")
    assert (values["model.d_model"], values["model.num_encoder_layers"], values["model.dropout"]) == (128, 4, 0.3)
    assert (values["trainer.max_steps"], values["trainer.average_last"]) == (8000, 10)


def test_multi30k_without_a_model_composes_the_tuned_transformer_preset():
    assert composed("data=multi30k") == composed("experiment=multi30k_transformer")


@pytest.mark.parametrize("overrides", [[], ["data=multi30k", "model=rnn_luong"], ["experiment=sample_demo"]])
def test_a_command_line_override_beats_the_recipe_and_the_preset(overrides):
    values = flat(composed(*overrides, "trainer.lr=1.5e-4", "trainer.warmup_steps=7", "model.dropout=0.25"))
    assert (values["trainer.lr"], values["trainer.warmup_steps"], values["model.dropout"]) == (1.5e-4, 7, 0.25)


@pytest.mark.parametrize("overrides", [["data=local", "data.local_dir=corpus"], ["~recipe"]])
def test_without_a_recipe_the_groups_own_defaults_apply(overrides):
    values = composed(*overrides)
    assert values["trainer"] == yaml.safe_load((CONFIGS / "trainer" / "default.yaml").read_text())
    assert values["model"] == yaml.safe_load((CONFIGS / "model" / "transformer.yaml").read_text())


def test_an_experiment_keeps_its_values_when_the_command_line_names_another_corpus():
    elsewhere = composed("experiment=multi30k_transformer", "data=local", "data.local_dir=corpus")
    assert elsewhere["trainer"] == composed("experiment=multi30k_transformer")["trainer"]


def test_an_experiment_on_a_corpus_with_its_own_recipe_takes_only_the_experiments_recipe():
    mixed = composed("experiment=multi30k_transformer", "data=sample")
    preset = composed("experiment=multi30k_transformer")
    assert (mixed["model"], mixed["trainer"]) == (preset["model"], preset["trainer"])  # no sample recipe mixed in


def test_a_recipe_named_on_the_command_line_beats_the_experiments():
    chosen = composed("experiment=multi30k_transformer", "recipe=sample_transformer")
    assert chosen["trainer"]["max_epochs"] == recipe_values("sample_transformer")["trainer.max_epochs"]
