"""docs/hooks/config_reference.py: the configuration reference generated from configs/ at build time."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "docs" / "hooks"))
import config_reference

CONFIGS = REPO / "configs"


def leaf_paths(mapping: dict, prefix: str = "") -> set[str]:
    """Every key path of a loaded YAML mapping: leaves and mappings alike (data.clean, data.clean.max_len)."""
    paths = set()
    for name, value in mapping.items():
        path = f"{prefix}{name}"
        paths.add(path)
        if isinstance(value, dict):
            paths |= leaf_paths(value, f"{path}.")
    return paths


def parsed_paths(config: config_reference.ConfigFile) -> set[str]:
    return {key.path for block in config.blocks for key in block.keys}


@pytest.mark.parametrize("path", sorted(CONFIGS.rglob("*.yaml")), ids=lambda path: path.relative_to(CONFIGS).as_posix())
def test_every_key_of_every_config_is_read(path):
    text = path.read_text(encoding="utf-8")
    expected = leaf_paths(yaml.safe_load(text) or {}) - {"defaults"}
    expected = {key for key in expected if key.split(".")[0] != "hydra"}
    assert parsed_paths(config_reference.parse_config(text)) == expected


def test_a_key_added_to_a_config_appears_in_the_reference(tmp_path):
    configs = tmp_path / "configs"
    shutil.copytree(CONFIGS, configs)
    with (configs / "serve.yaml").open("a", encoding="utf-8") as file:
        file.write("shiny_new_key: 42     # what the new key does, in seconds\n")
    with (configs / "trainer" / "default.yaml").open("a", encoding="utf-8") as file:
        file.write("another_key: off     # a trainer key\n")

    reference = config_reference.render_reference(configs)

    assert "| `shiny_new_key` | `42` | what the new key does, in seconds |" in reference
    assert "| `trainer.another_key` | `off` | a trainer key |" in reference
    assert "shiny_new_key" not in config_reference.render_reference(CONFIGS)


def test_a_new_config_file_gets_a_section(tmp_path):
    configs = tmp_path / "configs"
    (configs / "model").mkdir(parents=True)
    (configs / "model" / "tiny.yaml").write_text("# A tiny model.\nd_model: 16  # width\n", encoding="utf-8")

    reference = config_reference.render_reference(configs)

    assert "### `model=tiny` (`configs/model/tiny.yaml`)" in reference
    assert "| `model.d_model` | `16` | width |" in reference


def test_continuation_lines_extend_the_comment_and_standalone_comments_start_a_block():
    text = """# Header line.
#   cmd key=value
defaults:
  - data: null          # the checkpoint's corpus
  - override hydra/job_logging: none
  - _self_

ckpt: ???               # a checkpoint;
                        # or a list
url: "http://a#b"       # quoted '#' stays in the value

# Batching.
size: [1, 2]            # sizes
nested:                 # a mapping
  inner: 3              # inner value
hydra:
  run:
    dir: .              # never documented
"""
    config = config_reference.parse_config(text)

    assert config.header == "Header line.\n  cmd key=value"
    assert [(entry.path, entry.value, entry.comment) for entry in config.defaults] == [
        ("data", "null", "the checkpoint's corpus")]
    first, second = config.blocks
    assert [(key.path, key.value, key.comment) for key in first.keys] == [
        ("ckpt", "???", "a checkpoint; or a list"), ("url", '"http://a#b"', "quoted '#' stays in the value")]
    assert second.note == "Batching."
    assert [(key.path, key.value, key.comment) for key in second.keys] == [
        ("size", "[1, 2]", "sizes"), ("nested", "", "a mapping"), ("nested.inner", "3", "inner value")]


def test_block_lists_become_flow_lists_and_defaults_may_sit_at_their_keys_indent():
    text = "defaults:\n- model: rnn  # the model\n- _self_\nsizes:  # two sizes\n  - 1\n  - 2\n"
    config = config_reference.parse_config(text)

    assert [(entry.path, entry.value, entry.comment) for entry in config.defaults] == [("model", "rnn", "the model")]
    assert [(key.path, key.value) for block in config.blocks for key in block.keys] == [("sizes", "[1, 2]")]


def test_table_cells_escape_what_markdown_would_eat():
    config = config_reference.parse_config("device: auto  # auto | cpu; <ckpt>.txt; max_len_a * 2\n")

    table = config_reference.file_table(config)

    assert r"auto \| cpu; &lt;ckpt>.txt; max\_len\_a \* 2" in table
    assert "required (`???`)" in config_reference.file_table(config_reference.parse_config("ckpt: ???  # path\n"))
