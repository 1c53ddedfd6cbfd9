"""Both APIs through the app (in process): answers, parity with nmt-translate, attention, limits, metrics."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hydra import compose, initialize_config_module

from serving_helpers import serve_config

from nmt.cli.translate import translate as translate_command
from nmt.serving import registry
from nmt.serving.schemas import ServerInfo, TranslateResponse

SENTENCES = ["a man rides a bike .", "the cat is black .", "", "two dogs run in the park ."]


def nmt_translate(checkpoint, lines, *overrides: str) -> list[str]:
    """What nmt-translate prints for `lines` (one per line, or `i ||| text ||| score` with nbest)."""
    with initialize_config_module(config_module="nmt.configs", version_base=None):
        cfg = compose("translate", overrides=[f"ckpt={checkpoint}", "device=cpu", *overrides])
    out = io.StringIO()
    translate_command(cfg, stdin=io.BytesIO("".join(line + "\n" for line in lines).encode()), stdout=out)
    return out.getvalue().splitlines()


@pytest.mark.parametrize("beam_size, decoder", [(1, "thread"), (5, "thread"), (5, "process")])
def test_both_apis_translate_byte_for_byte_as_nmt_translate_does(transformer_checkpoint, client_for, beam_size,
                                                                   decoder):
    client = client_for(serve_config(ckpt=str(transformer_checkpoint), beam_size=beam_size, decoder=decoder))
    (model,) = client.app.state.server.models.values()
    assert (model.handle in registry._DECODERS) == (decoder == "thread")  # where the weights live
    expected = nmt_translate(transformer_checkpoint, SENTENCES, f"beam_size={beam_size}")
    libre = client.post("/translate", json={"q": SENTENCES, "source": "en", "target": "fr"})
    native = client.post("/v1/translate", json={"text": SENTENCES})
    one_by_one = [client.post("/translate", data={"q": line, "source": "en", "target": "fr"}).json()["translatedText"]
                  for line in SENTENCES]
    assert libre.status_code == native.status_code == 200
    assert libre.json()["translatedText"] == expected
    assert [t["hypotheses"][0]["text"] for t in native.json()["translations"]] == expected
    assert one_by_one == expected


def test_nbest_scores_and_sampling_match_nmt_translate(transformer_checkpoint, client_for):
    client = client_for(serve_config(ckpt=str(transformer_checkpoint)))
    lines = SENTENCES[:2]
    expected = nmt_translate(transformer_checkpoint, lines, "beam_size=4", "nbest=3")
    answer = client.post("/v1/translate", json={"text": lines, "beam_size": 4, "nbest": 3}).json()
    served = [f"{i} ||| {h['text']} ||| {h['score']:.4f}"
              for i, t in enumerate(answer["translations"]) for h in t["hypotheses"]]
    assert served == expected
    sampled = nmt_translate(transformer_checkpoint, lines, "sampling=true", "nbest=2", "seed=7", "top_k=5")
    answer = client.post("/v1/translate", json={"text": lines, "sampling": True, "nbest": 2, "seed": 7,
                                                "top_k": 5}).json()
    assert [f"{i} ||| {h['text']} ||| {h['score']:.4f}" for i, t in enumerate(answer["translations"])
            for h in t["hypotheses"]] == sampled


def test_libretranslate_answers_have_its_shapes(transformer_checkpoint, client_for):
    client = client_for(serve_config(ckpt=str(transformer_checkpoint)))
    one = client.post("/translate", json={"q": "she reads a book .", "source": "en", "target": "fr",
                                          "alternatives": 2}).json()
    assert isinstance(one["translatedText"], str)
    assert isinstance(one["alternatives"], list) and len(one["alternatives"]) == 2
    many = client.post("/translate", json={"q": ["a", "b"], "source": "auto", "target": "fr"}).json()
    assert isinstance(many["translatedText"], list) and len(many["translatedText"]) == 2
    assert many["detectedLanguage"] == [{"confidence": 100.0, "language": "en"}] * 2
    assert client.get("/languages").json() == [{"code": "en", "name": "English", "targets": ["fr"]},
                                               {"code": "fr", "name": "French", "targets": []}]


@pytest.mark.parametrize("decoder", ["thread", "process"])
def test_attention_of_a_transformer_has_every_layer_and_head_with_rows_that_sum_to_one(
        transformer_checkpoint, client_for, decoder):
    client = client_for(serve_config(ckpt=str(transformer_checkpoint), decoder=decoder))
    response = client.post("/v1/translate", json={"text": ["the boys play football on the beach ."],
                                                  "return_attention": True, "return_scores": True, "nbest": 2})
    assert response.status_code == 200
    TranslateResponse.model_validate(response.json())  # the documented schema holds
    translation = response.json()["translations"][0]
    source_len = len(translation["source_pieces"])
    for hypothesis in translation["hypotheses"]:
        attention = hypothesis["attention"]
        target_len = len(hypothesis["target_pieces"])
        assert [m["name"] for m in attention["cross"]] == ["decoder.0.cross", "decoder.1.cross"]
        assert [m["name"] for m in attention["encoder_self"]] == ["encoder.0.self", "encoder.1.self"]
        assert [m["layer"] for m in attention["decoder_self"]] == [0, 1]
        for module in attention["cross"]:
            weights = np.array(module["weights"])
            assert weights.shape == (2, target_len, source_len)
            np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=2e-3)
        decoder_self = np.array(attention["decoder_self"][0]["weights"])
        assert decoder_self.shape == (2, target_len, target_len)
        assert np.all(np.triu(decoder_self, k=1) == 0)  # causal: no position looks ahead
        confidence = hypothesis["confidence"]
        assert len(confidence["probabilities"]) == target_len
        for probability, alternatives in zip(confidence["probabilities"], confidence["alternatives"]):
            values = [a["probability"] for a in alternatives]
            assert len(values) == 5 and values == sorted(values, reverse=True)
            assert not {a["piece"] for a in alternatives} & {"<s>", "<pad>"}  # no search writes them
            assert 0 < probability <= values[0] + 1e-6
        # the probabilities are those of the written pieces: their log-sum is the hypothesis' log-probability
    best = translation["hypotheses"][0]
    assert sum(np.log(best["confidence"]["probabilities"])) == pytest.approx(
        best["score"] * ((5 + len(best["target_pieces"])) / 6), abs=1e-3)


def test_an_rnn_shows_its_one_attention_map_and_no_self_attention(rnn_checkpoint, client_for):
    client = client_for(serve_config(ckpt=str(rnn_checkpoint)))
    answer = client.post("/v1/translate", json={"text": ["a woman sings ."], "return_attention": True}).json()
    attention = answer["translations"][0]["hypotheses"][0]["attention"]
    assert [m["name"] for m in attention["cross"]] == ["cross"]
    assert attention["encoder_self"] == [] and attention["decoder_self"] == []
    info = ServerInfo.model_validate(client.get("/v1/models").json())
    assert info.models[0].family == "rnn" and info.models[0].attention == "bahdanau"


def test_a_prefix_starts_every_translation(transformer_checkpoint, client_for):
    client = client_for(serve_config(ckpt=str(transformer_checkpoint)))
    answer = client.post("/v1/translate", json={"text": SENTENCES[:2], "prefix": ["la petite", "le chat"],
                                                "nbest": 3}).json()
    for translation, prefix in zip(answer["translations"], ["la petite", "le chat"]):
        assert all(h["text"].startswith(prefix) for h in translation["hypotheses"])


def test_truncated_lines_are_named_in_the_warnings(transformer_checkpoint, client_for):
    client = client_for(serve_config(ckpt=str(transformer_checkpoint), max_src_tokens=3))
    answer = client.post("/v1/translate", json={"text": ["the boys play football on the beach .", "a"]}).json()
    assert "only its first 3" in answer["translations"][0]["warnings"][0]
    assert answer["translations"][1]["warnings"] == []


def test_two_models_are_chosen_by_name_and_by_language_pair(transformer_checkpoint, rnn_checkpoint, client_for):
    client = client_for(serve_config(models={"tf": str(transformer_checkpoint), "rnn": str(rnn_checkpoint)}))
    assert [m["name"] for m in client.get("/v1/models").json()["models"]] == ["tf", "rnn"]
    rnn = client.post("/v1/translate", json={"model": "rnn", "text": ["a"], "return_attention": True}).json()
    assert rnn["model"] == "rnn"
    unnamed = client.post("/v1/translate", json={"text": ["a"]})
    assert unnamed.status_code == 400 and "tf, rnn" in unnamed.json()["error"]
    ambiguous = client.post("/translate", json={"q": "a", "source": "auto", "target": "fr"})
    assert ambiguous.status_code == 200  # both translate en -> fr: the first one serves LibreTranslate


def test_api_keys_guard_translation_with_403(transformer_checkpoint, client_for):
    client = client_for(serve_config(ckpt=str(transformer_checkpoint), api_keys=["secret"]))
    missing = client.post("/translate", json={"q": "a", "source": "en", "target": "fr"})
    wrong = client.post("/translate", json={"q": "a", "source": "en", "target": "fr", "api_key": "nope"})
    right = client.post("/translate", json={"q": "a", "source": "en", "target": "fr", "api_key": "secret"})
    native = client.post("/v1/translate", json={"text": ["a"], "api_key": "secret"})
    assert (missing.status_code, wrong.status_code, right.status_code, native.status_code) == (403, 403, 200, 200)
    assert wrong.json() == {"error": "Invalid API key"}


def test_metrics_count_requests_batches_and_sentences(transformer_checkpoint, client_for):
    client = client_for(serve_config(ckpt=str(transformer_checkpoint)))
    client.post("/v1/translate", json={"text": ["a", "b", "c"]})
    client.post("/v1/translate", json={"text": ["a"], "beam_size": 0})
    text = client.get("/metrics").text
    assert 'nmt_requests_total{route="/v1/translate",status="200"} 1.0' in text
    assert 'nmt_requests_total{route="/v1/translate",status="400"} 1.0' in text
    assert 'nmt_sentences_translated_total{model="en-fr"} 3.0' in text
    assert 'nmt_batch_sentences_count{model="en-fr"} 1.0' in text
    assert 'nmt_queue_sentences{model="en-fr"} 0.0' in text


def test_attention_that_could_outgrow_max_attention_weights_is_refused_before_decoding(transformer_checkpoint,
                                                                                       client_for):
    client = client_for(serve_config(ckpt=str(transformer_checkpoint), max_attention_weights=5000))
    big = client.post("/v1/translate", json={"text": ["the boys play football on the beach ."] * 3,
                                             "return_attention": True})
    assert big.status_code == 413 and "max_attention_weights=5,000" in big.json()["error"]
    assert client.post("/v1/translate", json={"text": ["the boys play football on the beach ."] * 3}).status_code == 200


def test_each_line_of_a_libretranslate_text_is_translated_apart_and_line_breaks_are_kept(transformer_checkpoint,
                                                                                         client_for):
    client = client_for(serve_config(ckpt=str(transformer_checkpoint)))
    lines = ["a man rides a bike .", "the cat is black ."]
    joined = client.post("/translate", json={"q": "\n".join(lines), "source": "en", "target": "fr"}).json()
    apart = client.post("/translate", json={"q": lines, "source": "en", "target": "fr"}).json()
    assert joined["translatedText"] == "\n".join(apart["translatedText"])


def test_an_empty_sentence_has_no_attention_to_explain(transformer_checkpoint, client_for):
    client = client_for(serve_config(ckpt=str(transformer_checkpoint)))
    answer = client.post("/v1/translate", json={"text": ["", "a"], "return_attention": True,
                                                "return_scores": True}).json()
    empty, other = answer["translations"]
    assert empty["source_pieces"] == [] and empty["hypotheses"][0]["attention"] is None
    assert other["hypotheses"][0]["attention"] is not None


def test_an_export_translates_as_its_checkpoint_and_answers_attention_requests_with_400(transformer_checkpoint,
                                                                                       client_for, tmp_path):
    pytest.importorskip("ctranslate2")
    from nmt.checkpoint import load_checkpoint
    from nmt.inference.export_ctranslate2 import export_ctranslate2

    export = export_ctranslate2(load_checkpoint(transformer_checkpoint), tmp_path / "ct2", quantization="float32")
    client = client_for(serve_config(models={"pt": str(transformer_checkpoint), "ct2": str(export)}, beam_size=1))
    sentences = ["a man rides a bike .", "the cat is black ."]
    texts = {name: [t["hypotheses"][0]["text"] for t in client.post(
        "/v1/translate", json={"model": name, "text": sentences}).json()["translations"]] for name in ("pt", "ct2")}
    assert texts["ct2"] == texts["pt"]
    refused = client.post("/v1/translate", json={"model": "ct2", "text": ["a"], "return_attention": True})
    assert refused.status_code == 400 and "CTranslate2 export" in refused.json()["error"]
    info = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert (info["ct2"]["backend"], info["ct2"]["explains"], info["pt"]["explains"]) == ("ctranslate2", False, True)
