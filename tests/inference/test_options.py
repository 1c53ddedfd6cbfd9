"""DecodingOptions: built from a whole command config, numbers as Hydra parses them, missing keys named."""

from __future__ import annotations

import pytest

from nmt.errors import NMTError
from nmt.inference.options import DecodingOptions

EVALUATE_VALUES = {"ckpt": "best.pt", "split": "test", "beam_size": 4, "length_penalty": 1, "max_len_a": 2,
                   "max_len_b": 10, "max_src_tokens": None, "batch_tokens": 100, "device": "cuda:1",
                   "precision": 32, "threads": 0, "sampling": False, "temperature": 1, "top_k": 0, "top_p": 1,
                   "seed": 0}


def test_options_take_only_their_keys_and_read_numbers_as_their_types():
    options = DecodingOptions.from_dict(EVALUATE_VALUES)
    assert options.nbest == 1  # nmt-evaluate has no nbest key
    assert options.precision == "32"
    assert options.length_penalty == 1.0 and isinstance(options.max_len_a, float)
    assert options.device == "cuda:1"


def test_a_missing_decoding_key_is_named():
    values = {key: value for key, value in EVALUATE_VALUES.items() if key != "batch_tokens"}
    with pytest.raises(NMTError, match=r"^config key batch_tokens is missing; add it to the config$"):
        DecodingOptions.from_dict(values)


def test_with_sampling_nbest_counts_samples_and_may_exceed_beam_size():
    options = DecodingOptions.from_dict({**EVALUATE_VALUES, "beam_size": 1, "nbest": 5, "sampling": True})
    assert options.nbest == 5
    with pytest.raises(NMTError, match=r"^nbest=5 exceeds beam_size=1"):
        DecodingOptions.from_dict({**EVALUATE_VALUES, "beam_size": 1, "nbest": 5})


@pytest.mark.parametrize(("key", "value"), [("temperature", 0), ("top_k", -1), ("top_p", 0), ("top_p", 1.5),
                                                 ("length_penalty", 400.0)])
def test_bad_sampling_values_are_named_before_anything_loads(key, value):
    with pytest.raises(NMTError, match=rf"^{key}={float(value) if key != 'top_k' else value}"):
        DecodingOptions.from_dict({**EVALUATE_VALUES, "sampling": True, key: value})


def test_replace_checks_the_changes_as_a_config_is_checked():
    options = DecodingOptions.from_dict(EVALUATE_VALUES)
    assert options.replace(beam_size=2, nbest=2) == DecodingOptions.from_dict({**EVALUATE_VALUES, "beam_size": 2,
                                                                               "nbest": 2})
    with pytest.raises(NMTError, match=r"^unknown config key beam_sise; valid keys are: beam_size, nbest, "):
        options.replace(beam_sise=2)
    with pytest.raises(NMTError, match=r"^beam_size='2' has the wrong type; expected int"):
        options.replace(beam_size="2")
