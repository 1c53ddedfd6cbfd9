"""Bad requests get one JSON error with the right status, and the server keeps answering afterwards."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serving_helpers import ready_client, serve_config

GOOD_LIBRE = {"q": "a man rides a bike .", "source": "en", "target": "fr"}
JSON = {"content-type": "application/json"}

BAD_REQUESTS = [
    # (route, body bytes, headers, status, words the error must contain)
    ("/translate", b'{"q": "a", "source": ', JSON, 400, "not valid JSON"),
    ("/translate", json.dumps({**GOOD_LIBRE, "q": 12}).encode(), JSON, 400, "q must be a string"),
    ("/translate", json.dumps({**GOOD_LIBRE, "q": [["nested"]]}).encode(), JSON, 400, "q must be a string"),
    ("/translate", json.dumps({**GOOD_LIBRE, "q": None}).encode(), JSON, 400, "missing q"),
    ("/translate", json.dumps({"source": "en", "target": "fr"}).encode(), JSON, 400, "missing q"),
    ("/translate", json.dumps({**GOOD_LIBRE, "q": []}).encode(), JSON, 400, "empty list"),
    ("/translate", json.dumps({"q": "a", "target": "fr"}).encode(), JSON, 400, "missing source"),
    ("/translate", json.dumps({**GOOD_LIBRE, "target": "xx"}).encode(), JSON, 400, "is not served"),
    ("/translate", json.dumps({**GOOD_LIBRE, "source": "auto", "target": "xx"}).encode(), JSON, 400,
     "not a target language"),
    ("/translate", json.dumps({**GOOD_LIBRE, "format": "html"}).encode(), JSON, 400, "not supported"),
    ("/translate", json.dumps({**GOOD_LIBRE, "alternatives": -1}).encode(), JSON, 400, "alternatives"),
    ("/translate", json.dumps({**GOOD_LIBRE, "alternatives": 1000}).encode(), JSON, 400, "alternatives=1000"),
    ("/translate", b"q=a&source=en&target=fr&alternatives=" + b"9" * 5000,
     {"content-type": "application/x-www-form-urlencoded"}, 400, "alternatives"),
    ("/translate", b"[" * 100_000, JSON, 400, "nesting too deep"),
    ("/translate", b'{"q": "a", "source": "en", "target": "fr", "alternatives": ' + b"1" * 5000 + b"}", JSON, 400,
     "a number too long"),
    ("/translate", b'{"q": "\\ud800", "source": "en", "target": "fr"}', JSON, 400, "lone surrogate"),
    ("/translate", b'{"q": "\xff\xfe", "source": "en", "target": "fr"}', JSON, 400, "not valid UTF-8"),
    ("/translate", b"q=%FF&source=en&target=fr", {"content-type": "application/x-www-form-urlencoded"}, 400,
     "UTF-8"),
    ("/translate", b"[1, 2]", JSON, 400, "not an object"),
    ("/translate", json.dumps({**GOOD_LIBRE, "q": "x" * 30_000}).encode(), JSON, 413, "max_chars_per_request"),
    ("/translate", json.dumps({**GOOD_LIBRE, "q": ["x"] * 200}).encode(), JSON, 413, "max_sentences_per_request"),
    ("/translate", json.dumps({**GOOD_LIBRE, "q": "x" * 1_100_000}).encode(), JSON, 413, "max_body_bytes"),
    ("/v1/translate", json.dumps({"text": "not a list"}).encode(), JSON, 400, "text"),
    ("/v1/translate", json.dumps({"text": []}).encode(), JSON, 400, "text"),
    ("/v1/translate", json.dumps({"txt": ["a"]}).encode(), JSON, 400, "not a field"),
    ("/v1/translate", json.dumps({"text": ["a"], "beam_size": -3}).encode(), JSON, 400, "beam_size"),
    ("/v1/translate", json.dumps({"text": ["a"], "beam_size": 10**9}).encode(), JSON, 400, "max_beam_size"),
    ("/v1/translate", json.dumps({"text": ["a"], "nbest": 6, "beam_size": 5}).encode(), JSON, 400, "nbest"),
    ("/v1/translate", json.dumps({"text": ["a"], "top_p": 1.5, "sampling": True}).encode(), JSON, 400, "top_p"),
    ("/v1/translate", json.dumps({"text": ["a"], "model": "de-en"}).encode(), JSON, 400, "no model named"),
    ("/v1/translate", json.dumps({"text": ["a", "b"], "prefix": ["x"]}).encode(), JSON, 400, "one prefix per text"),
    ("/v1/translate", json.dumps({"text": [None]}).encode(), JSON, 400, "text.0"),
    ("/v1/translate", b'{"text": ["a"], "prefix": "\\ud800"}', JSON, 400, "lone surrogate"),
    ("/v1/translate", json.dumps({"text": ["a"], "prefix": "x" * 30_000}).encode(), JSON, 413, "max_chars_per_request"),
    ("/v1/translate", json.dumps({"text": ["a"], "prefix": "le chat " * 40}).encode(), JSON, 400,
     "more than a translation of text[0] may get"),
    ("/v1/translate", json.dumps({"text": ["a"], "sampling": True, "temperature": 1e300}).encode(), JSON, 400,
     "temperature"),
    ("/v1/translate", json.dumps({"text": ["a"], "length_penalty": 400}).encode(), JSON, 400, "length_penalty"),
    ("/v1/translate", b"text=a", {"content-type": "application/x-www-form-urlencoded"}, 400, "send JSON"),
    ("/nowhere", b"", {}, 404, "no route"),
]


@pytest.fixture(scope="module")
def client(transformer_checkpoint):
    test_client = ready_client(serve_config(ckpt=str(transformer_checkpoint)))
    yield test_client
    test_client.__exit__(None, None, None)


@pytest.mark.parametrize(("route", "body", "headers", "status", "words"), BAD_REQUESTS,
                         ids=[f"{row[0]}-{index}" for index, row in enumerate(BAD_REQUESTS)])
def test_a_bad_request_gets_one_json_error_and_the_server_still_translates(client, route, body, headers, status,
                                                                          words):
    response = client.post(route, content=body, headers=headers)
    assert response.status_code == status
    error = response.json()["error"]
    assert words in error
    assert "\n" not in error and "Traceback" not in error
    assert client.post("/translate", json=GOOD_LIBRE).status_code == 200


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                           lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8),
                                                                                            children, max_size=3),
                           max_leaves=8)
FIELDS = ["q", "source", "target", "format", "alternatives", "api_key", "text", "model", "beam_size", "nbest",
          "prefix", "sampling", "top_k", "top_p", "temperature", "seed", "return_attention", "length_penalty"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(["/translate", "/v1/translate"]),
       body=st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=6) | JSON_VALUES)
def test_no_json_body_makes_the_server_fail_or_answer_without_an_error_field(client, route, body):
    response = client.post(route, content=json.dumps(body).encode(), headers=JSON)
    assert response.status_code in (200, 400, 413)
    answer = response.json()
    if response.status_code == 200:
        assert "translatedText" in answer or "translations" in answer
    else:
        assert isinstance(answer["error"], str) and answer["error"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=200))
def test_arbitrary_bytes_never_crash_the_server(client, body):
    for route in ("/translate", "/v1/translate"):
        response = client.post(route, content=body, headers=JSON)
        assert response.status_code in (200, 400), response.text
