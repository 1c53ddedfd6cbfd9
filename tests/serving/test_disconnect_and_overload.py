"""A real uvicorn server in a thread over a scripted model whose decoding waits on a gate: a client that
leaves has its sentences dropped from the queue, a full queue refuses at once with 503 + Retry-After,
and a slow translation gets 504."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
import uvicorn

from serving_helpers import serve_config

from nmt.inference.translation import Translation
from nmt.serving.app import create_app
from nmt.serving.registry import SentenceJob, SentenceResult


class GatedModel:
    """Echoes each sentence reversed, once `gate` is open; records what it decoded."""

    name, source_language, target_language, explains, handle = "en-fr", "en", "fr", True, ""
    description = {"family": "transformer", "attention": "multi-head", "encoder_layers": 1, "decoder_layers": 1,
                   "heads": 1, "summary": "scripted", "backend": "nmt", "step": None}

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()  # a decoding call has started (and waits at the gate)
        self.decoded: list[str] = []

    def jobs(self, texts, prefixes=None):
        return [SentenceJob(text=text, source_pieces=len(text.split())) for text in texts]

    def check_key(self, key) -> None:
        pass

    def decode(self, key, jobs):
        self.entered.set()
        assert self.gate.wait(timeout=20)
        self.decoded.extend(job.text for job in jobs)
        return [SentenceResult(translations=[Translation(text=job.text[::-1], score=0.0, tokens=[], src_pieces=[],
                                                         tgt_pieces=[])]) for job in jobs]


@pytest.fixture
def gated_server():
    model = GatedModel()
    config = serve_config(ckpt=__file__, max_queue_sentences=3, max_sentences_per_request=1, max_wait_ms=0,
                          timeout_s=1.5)
    app = create_app(config, load_models=lambda: {model.name: model})
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.02)
    try:
        yield url, model, app.state.server
    finally:
        model.gate.set()
        server.should_exit = True
        thread.join(timeout=20)


def post_in_background(url: str, text: str, answers: list, *, timeout: float = 20) -> threading.Thread:
    def post():
        try:
            answers.append(httpx.post(f"{url}/v1/translate", json={"text": [text]}, timeout=timeout))
        except httpx.HTTPError as error:
            answers.append(error)

    thread = threading.Thread(target=post)
    thread.start()
    return thread


def wait_for(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.01)


def test_a_client_that_leaves_has_its_sentence_dropped_from_the_queue(gated_server):
    url, model, state = gated_server
    first, leaver = [], []
    busy = post_in_background(url, "being decoded", first)  # taken by the decoder, held at the gate
    assert model.entered.wait(timeout=10)
    gone = post_in_background(url, "left before decoding", leaver, timeout=0.5)  # the client gives up after 0.5 s
    gone.join()
    wait_for(lambda: state.batchers["en-fr"].queued_sentences == 0)
    model.gate.set()
    busy.join()
    assert first[0].status_code == 200
    assert isinstance(leaver[0], httpx.TimeoutException)
    assert model.decoded == ["being decoded"]  # the leaver's sentence never reached the decoder


def test_a_full_queue_refuses_at_once_with_503_and_retry_after_and_accepted_requests_are_answered(gated_server):
    url, model, state = gated_server
    answers: list = []
    threads = [post_in_background(url, "sentence 0", answers)]
    assert model.entered.wait(timeout=10)  # one being decoded ...
    threads += [post_in_background(url, f"sentence {i}", answers) for i in range(1, 4)]  # ... and 3 queued
    wait_for(lambda: state.batchers["en-fr"].queued_sentences == 3)
    started = time.perf_counter()
    refused = httpx.post(f"{url}/v1/translate", json={"text": ["one too many"]})
    refused_ms = (time.perf_counter() - started) * 1000
    libre = httpx.post(f"{url}/translate", data={"q": "one too many", "source": "en", "target": "fr"})
    model.gate.set()
    for thread in threads:
        thread.join()
    assert refused.status_code == 503
    assert int(refused.headers["retry-after"]) >= 1
    assert "busy" in refused.json()["error"]
    assert refused_ms < 1000  # at once, not after waiting for room
    assert libre.status_code == 503 and int(libre.headers["retry-after"]) >= 1  # LibreTranslate's route too
    assert 'nmt_requests_refused_total{model="en-fr"} 2.0' in httpx.get(f"{url}/metrics").text
    assert sorted(answer.status_code for answer in answers) == [200] * 4


def test_a_translation_slower_than_timeout_s_gets_504_and_the_server_goes_on(gated_server):
    url, model, _ = gated_server
    slow = httpx.post(f"{url}/v1/translate", json={"text": ["slow"]}, timeout=20)
    model.gate.set()
    assert slow.status_code == 504
    assert "timeout_s=1.5" in slow.json()["error"]
    assert httpx.post(f"{url}/v1/translate", json={"text": ["fine"]}, timeout=20).json()["translations"][0][
        "hypotheses"][0]["text"] == "enif"
