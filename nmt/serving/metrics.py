"""The server's Prometheus metrics (GET /metrics), in a registry of its own per app.

Requests by route and status and their latency; per model: sentences waiting, each batch's
sentences and source tokens, sentences and tokens translated; requests refused when overloaded.
A route label is the route's path template, or "other" for paths the server does not have,
so a scan of random URLs cannot blow up the number of series.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from nmt.serving.batcher import BatchReport

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
TOKEN_BUCKETS = (16, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)


class ServerMetrics:
    """Every metric the server exports."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("nmt_requests", "HTTP requests answered, by route and status",
                                ["route", "status"], registry=self.registry)
        self.latency = Histogram("nmt_request_seconds", "Time from request to response, by route and status",
                                 ["route", "status"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.queue = Gauge("nmt_queue_sentences", "Sentences waiting to be decoded, by model", ["model"],
                           registry=self.registry)
        self.batch_sentences = Histogram("nmt_batch_sentences", "Sentences per decoding call", ["model"],
                                         buckets=SIZE_BUCKETS, registry=self.registry)
        self.batch_tokens = Histogram("nmt_batch_tokens", "Source tokens per decoding call", ["model"],
                                      buckets=TOKEN_BUCKETS, registry=self.registry)
        self.sentences = Counter("nmt_sentences_translated", "Sentences translated, by model", ["model"],
                                 registry=self.registry)
        self.tokens = Counter("nmt_source_tokens_translated", "Source tokens translated, by model", ["model"],
                              registry=self.registry)
        self.refused = Counter("nmt_requests_refused", "Requests refused because the queue was full, by model",
                               ["model"], registry=self.registry)

    def record_request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route=route, status=str(status)).inc()
        self.latency.labels(route=route, status=str(status)).observe(seconds)

    def record_batch(self, model: str, report: BatchReport) -> None:
        self.batch_sentences.labels(model=model).observe(report.sentences)
        self.batch_tokens.labels(model=model).observe(report.tokens)
        self.sentences.labels(model=model).inc(report.sentences)
        self.tokens.labels(model=model).inc(report.tokens)

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)
