import torch
from tiny_checkpoint import MODEL_CONFIG, RNN_MODEL_CONFIG, one_cpu_thread  # noqa: F401 (autouse)

from nmt.inference.precision import bf16_copy, search_model
from nmt.models import build_model


def tiny_transformer() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(MODEL_CONFIG, src_vocab_size=20, tgt_vocab_size=20)


def test_the_bf16_copy_is_made_once_and_remade_when_a_parameter_changes():
    model = tiny_transformer()
    first = bf16_copy(model)
    assert all(p.dtype == torch.bfloat16 for p in first.parameters())
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert bf16_copy(model) is first  # reused while the weights are the same
    with torch.no_grad():
        next(model.parameters()).add_(1.0)  # what an optimizer step does
    second = bf16_copy(model)
    assert second is not first
    assert torch.equal(next(second.parameters()), next(model.parameters()).to(torch.bfloat16))


def test_a_replaced_parameter_new_data_or_a_replaced_buffer_gives_a_new_copy():
    model = tiny_transformer()
    layer = next(module for module in model.modules() if isinstance(module, torch.nn.Linear))
    first = bf16_copy(model)
    del layer.bias
    layer.bias = torch.nn.Parameter(torch.full((layer.out_features,), 7.0))  # may reuse the freed one's id
    second = bf16_copy(model)
    assert second is not first
    assert float(dict(second.named_parameters())[_name_of(model, layer.bias)][0]) == 7.0
    layer.weight.data = layer.weight.data * 2  # what torch.nn.utils.vector_to_parameters does
    third = bf16_copy(model)
    assert third is not second
    name, buffer = next(model.named_buffers())
    model.get_submodule(name.rpartition(".")[0]).register_buffer(name.rpartition(".")[2], buffer + 1,
                                                                  persistent=False)
    assert bf16_copy(model) is not third


def test_tied_weights_stay_one_tensor_in_the_copy():
    model = tiny_transformer()
    tied = [name for name, _ in model.named_parameters(remove_duplicate=False)]
    copy = bf16_copy(model)
    assert [name for name, _ in copy.named_parameters(remove_duplicate=False)] == tied
    assert len(list(copy.parameters())) == len(list(model.parameters()))  # shared tensors still shared


def test_a_model_loaded_under_inference_mode_decodes_in_bf16():
    with torch.inference_mode():
        model = tiny_transformer()
        copy = bf16_copy(model)
        assert bf16_copy(model) is copy
        state = copy.encode(torch.tensor([[5, 6, 7, 3]]), torch.tensor([[True] * 4]))
        logits, _, _ = copy.decode_step(torch.tensor([2]), state)
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits).all()


def _name_of(model: torch.nn.Module, tensor: torch.Tensor) -> str:
    return next(name for name, parameter in model.named_parameters() if parameter is tensor)


def test_a_loaded_state_dict_also_gives_a_new_copy():
    model = tiny_transformer()
    first = bf16_copy(model)
    other = tiny_transformer()
    with torch.no_grad():
        for parameter in other.parameters():
            parameter.mul_(2.0)
    model.load_state_dict(other.state_dict())  # copies in place: the version counters move
    assert bf16_copy(model) is not first


def test_precision_32_and_hooked_models_are_searched_as_they_are():
    model = tiny_transformer()
    same, context = search_model(model, "32")
    assert same is model
    with context:
        assert not torch.is_autocast_enabled("cpu")
    module = next(m for m in model.modules() if hasattr(m, "weights_hook"))
    module.weights_hook = lambda weights, mask: weights  # analysis records attention through such a hook
    same, context = search_model(model, "bf16")
    assert same is model  # a copy would not see a hook set later
    with context:
        assert torch.is_autocast_enabled("cpu")
    module.weights_hook = None
    copy, context = search_model(model, "bf16")
    assert next(copy.parameters()).dtype == torch.bfloat16


def test_an_rnn_decodes_in_bf16():
    torch.manual_seed(0)
    model = build_model(RNN_MODEL_CONFIG, src_vocab_size=20, tgt_vocab_size=20).eval()
    copy = bf16_copy(model)
    src = torch.tensor([[5, 6, 7, 3]])
    state = copy.encode(src, src != 0)
    logits, _, weights = copy.decode_step(torch.tensor([2]), state)
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits).all()
    assert weights is not None and torch.allclose(weights.float().sum(-1), torch.ones(1, 1, 1), atol=1e-2)


def test_loading_for_bf16_makes_the_copy_before_the_first_search(tmp_path, monkeypatch):
    from tiny_checkpoint import build_tiny_checkpoint

    from nmt.inference import loading
    from nmt.inference.options import DecodingOptions

    made = []
    monkeypatch.setattr(loading, "bf16_copy", lambda model: made.append(model))
    path = build_tiny_checkpoint(tmp_path)
    defaults = dict(beam_size=2, length_penalty=1.0, max_len_a=1.0, max_len_b=5, batch_tokens=100, device="cpu",
                    max_src_tokens=None, threads=1, sampling=False, top_k=0, top_p=1.0, temperature=1.0, seed=1)
    for precision, expected in (("32", 0), ("bf16", 1)):
        made.clear()
        options = DecodingOptions.from_dict({**defaults, "precision": precision})
        loading.load_translator([path], options, device=torch.device("cpu"))
        assert len(made) == expected
